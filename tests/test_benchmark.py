"""The benchmark harness: the matrix as runs, the report's arithmetic, the
reduced-data readers, and (slow) the quick matrix end to end."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import typer
from spacy.tokens import Doc, DocBin

from bioner_spacy.benchmark.anchors import DEFAULT_ANCHORS
from bioner_spacy.benchmark.plan import Run, load_matrix
from bioner_spacy.benchmark.report import fmt, fmt_paired, render
from bioner_spacy.benchmark.stats import mean_std
from bioner_spacy.corpus.readers import create_multi_corpus, create_syntax_corpus, subsample

from .conftest import CORPORA, REPO

SPEC = """
systems:
  a: {config: cfa_cnn, label: "System A"}
  b: {config: ner_cnn, overrides: {bioner.syntax: pos}}
  stm: {config: cfa_mtm, corpora: one}
  mtm: {config: cfa_mtm, corpora: all, label: "MTM"}
  trf: {config: cfa_trf, gpu: true}
matrices:
  m:
    steps: 100
    eval_frequency: 50
    seeds: [0, 1, 2]
    groups:
      - {name: G, systems: [a, b, trf], datasets: [BC5CDR-chem, NCBI-disease]}
      - {name: H, systems: [mtm], datasets: [NCBI-disease, BC2GM]}
    reduced:
      systems: [stm, mtm]
      datasets: [NCBI-disease]
      fractions: [1.0, 0.5]
      aux: [BC2GM]
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "bench.yml"
    path.write_text(SPEC)
    return path


def test_matrix_runs_each_needed_training_once(spec):
    matrix = load_matrix(spec, "m")
    runs = matrix.runs()
    keys = [r.key for r in runs]
    assert len(keys) == len(set(keys))
    # G: 2 systems x 2 corpora x 3 seeds (trf needs a GPU); H: one shared model per seed;
    # reduced: stm whole + stm half, mtm half (mtm whole over NCBI+BC2GM is H's run)
    assert len(runs) == 12 + 3 + 3 + 3 + 3
    assert Run("mtm", ("BC2GM", "NCBI-disease"), 1) in runs
    assert Run("mtm", ("BC2GM", "NCBI-disease"), 1, (("NCBI-disease", 0.5),)) in runs
    assert Run("stm", ("NCBI-disease",), 2, (("NCBI-disease", 0.5),)).key == "stm__NCBI-disease_NCBI-disease@0.5__seed2"
    assert len(matrix.runs(gpu=True)) == len(runs) + 6
    assert matrix.datasets() == ["BC2GM", "BC5CDR-chem", "NCBI-disease"]


def test_auxiliary_pairs_train_each_corpus_with_its_own(spec):
    """seed 001's pairs: a multi-task system trains each corpus of the group
    with its auxiliaries; single-corpus systems ignore them."""
    spec.write_text(SPEC.replace(
        "{name: H, systems: [mtm], datasets: [NCBI-disease, BC2GM]}",
        "{name: H, systems: [a, mtm], datasets: [NCBI-disease, BC2GM], aux: {NCBI-disease: BioNLP09, BC2GM: [JNLPBA]}}"))
    matrix = load_matrix(spec, "m")
    group = matrix.groups[1]
    assert group.aux == {"NCBI-disease": ["BioNLP09"], "BC2GM": ["JNLPBA"]}
    runs = matrix.group_runs(group, gpu=False)
    assert sorted({r.train for r in runs if r.system == "mtm"}) == [("BC2GM", "JNLPBA"), ("BioNLP09", "NCBI-disease")]
    assert sorted({r.train for r in runs if r.system == "a"}) == [("BC2GM",), ("NCBI-disease",)]
    assert "BioNLP09" in matrix.datasets() and "JNLPBA" in matrix.datasets()
    spec.write_text(SPEC.replace("datasets: [NCBI-disease, BC2GM]}", "datasets: [NCBI-disease, BC2GM], aux: {CRAFT: [JNLPBA]}}"))
    with pytest.raises(ValueError, match="group 'H': aux names 'CRAFT', which is not one of its datasets"):
        load_matrix(spec, "m")
    spec.write_text(SPEC.replace("datasets: [NCBI-disease, BC2GM]}", "datasets: [NCBI-disease, BC2GM], aux: {BC2GM: [Nope]}}"))
    with pytest.raises(ValueError, match="unknown dataset 'Nope'"):
        load_matrix(spec, "m")


@pytest.mark.parametrize("change, message", [
    (("systems: [a, b, trf]", "systems: [a, nope]"), "uses system 'nope', which is not defined"),
    (("datasets: [BC5CDR-chem, NCBI-disease]", "datasets: [BC5CDR-chem, Nope]"), "unknown dataset 'Nope'"),
    (("fractions: [1.0, 0.5]", "fractions: [1.0, 0]"), r"fractions must be in \(0, 1\]"),
    (("eval_frequency: 50", "eval_frequency: 30"), "must be a multiple of eval_frequency"),
    (("corpora: one", "corpora: some"), "corpora must be one of"),
    (("label: \"System A\"}", "budget: long}"), "system 'a' uses budget 'long', which matrix 'm' does not define"),
    (("seeds: [0, 1, 2]", "seeds: [0, 1, 2]\n    budgets: {long: {patience: 5}}"), "budget 'long': needs max_steps"),
    (("seeds: [0, 1, 2]", "seeds: [0, 1, 2]\n    budgets: {long: {max_steps: 9, wait: 5}}"), "may have max_steps"),
    (("seeds: [0, 1, 2]", "seeds: [0, 1, 2]\n    budgets: {long: {max_steps: 120}}"), r"max_steps \(120\) must be a positive multiple of eval_frequency \(50\)"),
    (("seeds: [0, 1, 2]", "seeds: [0, 1, 2]\n    budgets: {long: {max_steps: 100, eval_frequency: 0}}"), "positive multiple"),
    (("seeds: [0, 1, 2]", "seeds: [0, 1, 2]\n    budgets: {long: {max_steps: many}}"), "whole numbers >= 0"),
    (("{name: G, systems: [a, b, trf],", "{name: G, baseline: mtm, systems: [a, b, trf],"),
     r"group 'G': baseline 'mtm' is not one of its systems \(a, b, trf\)"),
    (("{name: G, systems: [a, b, trf],", "{name: G, anchors: [Nobody 2020], systems: [a, b, trf],"),
     r"group 'G': no published figures named 'Nobody 2020' \(known: Crichton"),
])
def test_bad_specs_name_the_file_and_value(spec, change, message):
    spec.write_text(SPEC.replace(*change))
    with pytest.raises(ValueError, match=message) as err:
        load_matrix(spec, "m")
    assert str(spec) in str(err.value)


def test_a_budget_is_needed_only_by_the_matrices_that_run_its_system(spec):
    spec.write_text(SPEC.replace('a: {config: cfa_cnn, label: "System A"}',
                                 'a: {config: cfa_cnn, label: "System A"}\n  slow: {config: cfa_cnn, budget: long}'))
    assert load_matrix(spec, "m").systems["slow"].budget == "long"  # m does not run it: no error


SCORING_SYSTEM = 'a: {config: cfa_cnn, label: "System A"}\n  a-abbr: {model_of: a, evaluate: [--abbreviation-context, 0]}'


@pytest.mark.parametrize("system, message", [
    ("{model_of: nobody, evaluate: [--x]}", "model_of names 'nobody', which is not defined"),
    ("{model_of: a-abbr, evaluate: [--x]}", "model_of names 'a-abbr', which trains nothing itself"),
    ("{model_of: a, config: ner_cnn, evaluate: [--x]}", "it cannot set config"),
    ("{model_of: a, evaluate: []}", "evaluate must be a non-empty list"),
])
def test_a_system_that_scores_anothers_models_is_checked(spec, system, message):
    spec.write_text(SPEC.replace('a: {config: cfa_cnn, label: "System A"}', SCORING_SYSTEM + f"\n  bad: {system}"))
    with pytest.raises(ValueError, match=message):
        load_matrix(spec, "m")


def test_a_system_that_scores_anothers_models(spec, tmp_path, monkeypatch):
    """It trains nothing: its cell is the other run's kept model scored with
    its own evaluate arguments, the training fields the other cell's; it
    needs that cell and model, and its own settings name the arguments."""
    from bioner_spacy.benchmark.runner import Bench

    spec.write_text(SPEC.replace('a: {config: cfa_cnn, label: "System A"}', SCORING_SYSTEM)
                    .replace("systems: [a, b, trf]", "systems: [a, a-abbr, b, trf]"))
    matrix = load_matrix(spec, "m")
    system = matrix.systems["a-abbr"]
    assert (system.config, system.overrides, system.budget, system.model_of, system.evaluate) == (
        "cfa_cnn", (), "", "a", ("--abbreviation-context", "0"))
    bench = Bench(matrix, tmp_path / "corpus", tmp_path / "work", tmp_path / "results", REPO / "configs")
    source, run = Run("a", ("BC5CDR-chem",), 1), Run("a-abbr", ("BC5CDR-chem",), 1)
    assert bench.settings(run) == {**bench.settings(source), "model_of": "a", "evaluate": ["--abbreviation-context", "0"]}
    commands = []

    def call(cmd, log_file, env):
        commands.append(cmd)
        f = 0.85 if "test.spacy" in cmd[5] else 0.9
        (Path(cmd[-1])).parent.mkdir(parents=True, exist_ok=True)
        Path(cmd[-1]).write_text(json.dumps({"seqeval_p": f, "seqeval_r": f, "seqeval_f": f, "seqeval_per_dataset": {
            "BC5CDR-chem": {"p": f, "r": f, "f": f, "per_type": {}}}}))

    monkeypatch.setattr(Bench, "call", staticmethod(call))
    with pytest.raises(RuntimeError, match=f"scores the model of {source.key}, which has no current cell: run it first \\(--systems a\\)"):
        bench.execute(run)
    bench.cell_path(source).parent.mkdir(parents=True)
    bench.cell_path(source).write_text(json.dumps({**cell(source, {"BC5CDR-chem": 0.8}), "settings": bench.settings(source),
                                                   "train_seconds": 99.0, "rescored": "2026-11-27"}))
    with pytest.raises(RuntimeError, match="no model kept in"):
        bench.execute(run)
    model = keep_model(bench, source)
    record = bench.execute(run)
    assert [c[4] for c in commands] == [str(model)] * 2
    assert [c[5] for c in commands] == [str(tmp_path / "corpus" / "BC5CDR-chem" / f"{split}.spacy") for split in ("test", "dev")]
    assert commands[0][6:9] == ["--stored-syntax", "--abbreviation-context", "0"]
    assert record == json.loads(bench.cell_path(run).read_text())
    assert (record["key"], record["system"], record["model_of"], record["train_seconds"]) == (run.key, "a-abbr", source.key, 99.0)
    assert record["scores"]["BC5CDR-chem"]["f"] == 0.85 and record["dev_scores"]["BC5CDR-chem"]["f"] == 0.9
    assert "rescored" not in record and bench.current_cells([run]) == {run.key: record}
    # the source trained again (same settings, another model): the scores read the old one
    retrained = {**json.loads(bench.cell_path(source).read_text()), "train_seconds": 120.0}
    bench.cell_path(source).write_text(json.dumps(retrained))
    assert bench.current_cells([run]) == {}


def test_runs_that_score_other_runs_models_start_after_the_training(spec, tmp_path):
    from bioner_spacy.benchmark.runner import Bench

    spec.write_text(SPEC.replace('a: {config: cfa_cnn, label: "System A"}', SCORING_SYSTEM))
    bench = Bench(load_matrix(spec, "m"), tmp_path / "corpus", tmp_path / "work", tmp_path / "results", REPO / "configs")
    runs = [Run(system, ("BC5CDR-chem",), seed) for seed in (0, 1) for system in ("a-abbr", "a")]
    started = []

    def execute(run):
        started.append(run.system)
        return {**cell(run, {"BC5CDR-chem": 0.8}), "train_seconds": 1.0}

    bench.execute = execute
    bench.run_all(runs, jobs=2, log=lambda line: None)
    assert started == ["a", "a", "a-abbr", "a-abbr"]


def keep_model(bench, run):
    """A kept model-best for ``run``, older than its cell (as after training)."""
    model = bench.run_dir(run) / "model" / "model-best"
    model.mkdir(parents=True)
    os.utime(bench.cell_path(run), (model.stat().st_mtime + 10,) * 2)
    return model


FINE_TUNE = ('  ft: {config: cfa_mtm, corpora: one, starts_from: mtm, budget: tune, '
             'overrides: {training.optimizer.use_averages: true}}')


@pytest.mark.parametrize("start, message", [
    ("nobody", "starts_from names 'nobody', which is not defined"),
    ("a-abbr", "starts_from names 'a-abbr', which trains nothing itself"),
    ("ft", "starts_from names 'ft', which starts from another itself"),
    ("trf", "starts_from names 'trf', which trains on a GPU only: mark 'bad' gpu: true too"),
    ("mtm, overrides: {components.cfa_ner.model.output: crf}",
     "'bad' starts from the model of 'mtm', whose components it takes whole: it cannot set components.cfa_ner.model.output"),
])
def test_a_system_that_starts_from_anothers_model_is_checked(spec, start, message):
    spec.write_text(SPEC.replace('a: {config: cfa_cnn, label: "System A"}', SCORING_SYSTEM + "\n" + FINE_TUNE
                                 + f"\n  bad: {{config: cfa_mtm, corpora: one, starts_from: {start}}}"))
    with pytest.raises(ValueError, match=re.escape(message)):
        load_matrix(spec, "m")


def test_each_fine_tuned_run_has_one_start(spec):
    """A run that starts from another's model needs exactly one run of that
    system with its seed among the matrix's runs on its corpus: none, or
    two to choose from, is an error naming the file when it loads."""
    fine_tuned = (SPEC.replace('  trf: {config: cfa_trf, gpu: true}', '  trf: {config: cfa_trf, gpu: true}\n' + FINE_TUNE)
                  .replace("seeds: [0, 1, 2]", "seeds: [0, 1, 2]\n    budgets: {tune: {max_steps: 200}}"))
    spec.write_text(fine_tuned.replace("systems: [a, b, trf]", "systems: [a, b, trf, ft]"))
    with pytest.raises(ValueError, match=re.escape(f"{spec}: ft__BC5CDR-chem__seed0 starts from the model of system mtm "
                                                   "trained on BC5CDR-chem with seed 0: matrix 'm' has no run of it")):
        load_matrix(spec, "m")
    spec.write_text(fine_tuned.replace("systems: [mtm], datasets: [NCBI-disease, BC2GM]",
                                       "systems: [mtm, ft], datasets: [NCBI-disease, BC2GM]}\n"
                                       "      - {name: I, systems: [mtm], datasets: [BC2GM, BC5CDR-chem]"))
    with pytest.raises(ValueError, match=re.escape("ft__BC2GM__seed0 starts from the model of system mtm trained on BC2GM "
                                                   "with seed 0: matrix 'm' has 2 runs (mtm__BC2GM+BC5CDR-chem__seed0, "
                                                   "mtm__BC2GM+NCBI-disease__seed0) of it")):
        load_matrix(spec, "m")


def test_a_system_that_starts_from_anothers_model(spec, tmp_path):
    """Fine-tuning: each corpus's run sources every component from the kept
    model of the one run of the start system (same seed) that trained on
    that corpus, and is trained after it; it needs that cell and model, its
    settings name the start and its training, so a start trained again
    makes it stale, though not a fresh clone (no models) nor another
    vectors build when reported; its budget's dev_limit holds for a
    one-corpus system."""
    from spacy.util import load_config

    from bioner_spacy.benchmark.runner import Bench

    spec.write_text(SPEC.replace('  trf: {config: cfa_trf, gpu: true}', '  trf: {config: cfa_trf, gpu: true}\n' + FINE_TUNE)
                    .replace("seeds: [0, 1, 2]", "seeds: [0, 1, 2]\n    budgets: {tune: {max_steps: 200, patience: 100, dev_limit: 0}}")
                    .replace("systems: [mtm], datasets: [NCBI-disease, BC2GM]", "systems: [mtm, ft], datasets: [NCBI-disease, BC2GM]")
                    .replace('corpora: all, label: "MTM"', f'corpora: all, label: "MTM", overrides: {{paths.vectors: {tmp_path / "vectors"}}}'))
    (tmp_path / "vectors").mkdir()
    manifest = {"words": 10, "settings": {"dim": 8}, "attr": "LOWER", "mode": "floret", "sha256": "ab"}
    (tmp_path / "vectors" / "bioner_vectors.json").write_text(json.dumps(manifest))
    matrix = load_matrix(spec, "m")
    bench = Bench(matrix, tmp_path / "corpus", tmp_path / "work", tmp_path / "results", REPO / "configs")
    run, start = Run("ft", ("BC2GM",), 1), Run("mtm", ("BC2GM", "NCBI-disease"), 1)
    assert [r for r in matrix.runs() if r.system == "ft"] == [Run("ft", (d,), s) for s in (0, 1, 2) for d in ("NCBI-disease", "BC2GM")]
    assert matrix.start_run(run) == start
    assert bench.overrides(run)["bioner.dev_limit"] == 0 and bench.overrides(start)["bioner.dev_limit"] == 300
    # a run on half of NCBI-disease starts from the multi-task run on that half (the reduced curve's)
    half = (("NCBI-disease", 0.5),)
    assert matrix.start_run(Run("ft", ("NCBI-disease",), 1, half)) == Run("mtm", ("BC2GM", "NCBI-disease"), 1, half)
    with pytest.raises(ValueError, match="ft__BC5CDR-chem__seed1 starts from the model of system mtm.*has no run of it"):
        matrix.start_run(Run("ft", ("BC5CDR-chem",), 1))
    with pytest.raises(RuntimeError, match=re.escape(f"starts from the model of {start.key}, which has no current cell: run it first (--systems mtm)")):
        bench.settings(run)
    bench.cell_path(start).parent.mkdir(parents=True)
    bench.cell_path(start).write_text(json.dumps({**cell(start, {"BC2GM": 0.8}), "settings": bench.settings(start), "train_seconds": 9.0}))
    with pytest.raises(RuntimeError, match="no model kept in"):
        bench.settings(run)
    model = keep_model(bench, start)
    settings = bench.settings(run)
    assert (settings["starts_from"], len(settings["start_digest"])) == (start.key, 16)
    config = load_config(bench.write_config(run), interpolate=False)
    assert dict(config["components"]) == {"cfa_ner": {"source": str(model.resolve())}}
    assert config["bioner"]["datasets"] == ["BC2GM"]
    assert bench.is_current({"settings": settings}, run)
    bench.cell_path(run).write_text(json.dumps({**cell(run, {"BC2GM": 0.85}), "settings": settings}))
    assert bench.current_cells([run, start]).keys() == {run.key, start.key}
    # a fresh clone: the cells without the trained models
    clone = Bench(matrix, tmp_path / "corpus", tmp_path / "clone-work", tmp_path / "results", REPO / "configs")
    assert clone.current_cells([run, start]).keys() == {run.key, start.key}
    # another vectors build here: both are run again, but a report (check_vectors=False) shows both
    (tmp_path / "vectors" / "bioner_vectors.json").write_text(json.dumps({**manifest, "sha256": "cd"}))
    assert bench.current_cells([run, start]) == {}
    assert bench.current_cells([run, start], check_vectors=False).keys() == {run.key, start.key}
    retrained = {**json.loads(bench.cell_path(start).read_text()), "train_seconds": 12.0}
    bench.cell_path(start).write_text(json.dumps(retrained))
    assert not bench.is_current({"settings": settings}, run)
    # the start trains first, even when listed after
    started = []

    def execute(r):
        started.append(r.system)
        return {**cell(r, {d: 0.8 for d in r.train}), "train_seconds": 1.0}

    bench.execute = execute
    bench.cell_path(start).unlink()
    bench.run_all([run, start], jobs=2, log=lambda line: None)
    assert started == ["mtm", "ft"]


def test_a_group_may_show_no_published_figures(spec, tmp_path):
    spec.write_text(SPEC.replace("{name: G, systems: [a, b, trf],", "{name: G, anchors: [], systems: [a, b, trf],"))
    matrix = load_matrix(spec, "m")
    assert [g.anchors for g in matrix.groups] == [(), DEFAULT_ANCHORS]
    (tmp_path / "results" / "cells").mkdir(parents=True)
    for seed in (0, 1, 2):
        run = Run("a", ("BC5CDR-chem",), seed)
        (tmp_path / "results" / "cells" / f"{run.key}.json").write_text(json.dumps(cell(run, {"BC5CDR-chem": 0.8}, dev={"BC5CDR-chem": 0.8})))
    doc = render(matrix, tmp_path / "results", "cmd", plots=False)
    group_g = doc.split("## G")[1].split("## H")[0]
    assert "published" not in group_g and "Against the published figures" not in group_g


def test_unknown_matrix(spec):
    with pytest.raises(ValueError, match="no matrix 'x' \\(it has: m\\)"):
        load_matrix(spec, "x")


def test_mean_std_and_format():
    assert mean_std([]) == (None, None)
    assert mean_std([0.5]) == (0.5, 0.0)
    assert mean_std([0.7, 0.8, 0.9]) == pytest.approx((0.8, 0.1))
    assert fmt([0.7, 0.8, 0.9]) == "80.00 ± 10.00 (3)"
    assert fmt([]) == "-"
    assert fmt([0.7845]) == "78.45 (1)"
    assert fmt([0.01, 0.03], signed=True) == "+2.00 ± 1.41 (2)"
    assert fmt([-0.0125], signed=True) == "-1.25 (1)"
    # paired differences add the paired t statistic, mean / (std / sqrt(n)), when there is a spread
    assert fmt_paired([0.01, 0.02]) == "+1.50 ± 0.71 (2), t = 3.0"
    assert fmt_paired([0.05, 0.05, 0.05]) == "+5.00 ± 0.00 (3)"
    assert fmt_paired([-0.03]) == "-3.00 (1)"
    assert fmt_paired([]) == "-"


def test_paired_differences_match_seeds(spec):
    """Differences pair the two systems' runs of the same seed; a seed only
    one system has run is left out, not paired with another seed."""
    from bioner_spacy.benchmark.report import paired_differences, reduced_data

    matrix = load_matrix(spec, "m")
    half = (("NCBI-disease", 0.5),)
    cells = {}
    for run, f in ((Run("stm", ("NCBI-disease",), 0, half), 0.60), (Run("stm", ("NCBI-disease",), 1, half), 0.70),
                   (Run("stm", ("NCBI-disease",), 2, half), 0.50),
                   (Run("mtm", ("BC2GM", "NCBI-disease"), 0, half), 0.65),
                   (Run("mtm", ("BC2GM", "NCBI-disease"), 2, half), 0.40)):
        cells[run.key] = cell(run, {"NCBI-disease": f})
    differences = paired_differences(reduced_data(matrix, matrix.reduced[0], cells), "stm", "mtm")
    assert differences[("NCBI-disease", 0.5)] == pytest.approx([0.05, -0.10])
    assert ("NCBI-disease", 1.0) not in differences


CURVES = """
    reduced:
      - name: "Reduced training data: STM against MTM"
        systems: [stm, mtm]
        datasets: [NCBI-disease]
        fractions: [1.0, 0.5]
        aux: [BC2GM]
      - name: "Table 10 shape"
        systems: [a, mtm]
        datasets: [NCBI-disease, linnaeus]
        fractions: [1.0, 0.1]
        aux: {NCBI-disease: Ex-PTM, linnaeus: [NCBI-disease]}
"""


def test_several_reduced_curves_with_auxiliaries_per_target(spec, tmp_path):
    """A matrix may have several reduced-data curves; a curve's aux may name
    each target's own auxiliaries (seed 004's Table 10 pairs each corpus with
    its best one). Each curve gets its own section and plot."""
    spec.write_text(SPEC[:SPEC.index("    reduced:")] + CURVES.lstrip("\n"))
    matrix = load_matrix(spec, "m")
    first, table10 = matrix.reduced
    assert first.aux == {"NCBI-disease": ["BC2GM"]}
    assert table10.aux == {"NCBI-disease": ["Ex-PTM"], "linnaeus": ["NCBI-disease"]}
    points = matrix.reduced_points(table10, gpu=False)
    assert len(points) == 2 * 2 * 2 * 3
    assert ("mtm", "linnaeus", 0.1, Run("mtm", ("NCBI-disease", "linnaeus"), 2, (("linnaeus", 0.1),))) in points
    assert ("a", "NCBI-disease", 1.0, Run("a", ("NCBI-disease",), 0)) in points
    runs = matrix.runs()
    # a's whole-data NCBI-disease runs are group G's: trained once
    assert len(runs) == len(set(runs)) == 12 + 3 + (3 + 3 + 3) + (3 * 3 + 2 * 2 * 3)
    assert {"Ex-PTM", "linnaeus"} <= set(matrix.datasets())

    results = tmp_path / "results"
    (results / "cells").mkdir(parents=True)
    for run, f in ((Run("a", ("linnaeus",), 0, (("linnaeus", 0.1),)), 0.40),
                   (Run("mtm", ("NCBI-disease", "linnaeus"), 0, (("linnaeus", 0.1),)), 0.55)):
        (results / "cells" / f"{run.key}.json").write_text(json.dumps(cell(run, {"linnaeus": f})))
    text = render(matrix, results, "CMD")
    assert "## Reduced training data: STM against MTM" in text and "## Table 10 shape" in text
    assert "trains each target with the whole of its auxiliary corpus (NCBI-disease with Ex-PTM; linnaeus with NCBI-disease)" in text
    assert "| linnaeus | 10% | 40.00 (1) | 55.00 (1) | +15.00 (1) |" in text
    # only the second curve has a finished run: only it has a plot, under its own name
    assert "![Table 10 shape](reduced-data-2.png)" in text and not (results / "reduced-data.png").exists()
    assert (results / "reduced-data-2.png").read_bytes()[:4] == b"\x89PNG"

    spec.write_text(SPEC[:SPEC.index("    reduced:")] + CURVES.replace("linnaeus: [NCBI-disease]", "CRAFT: [NCBI-disease]").lstrip("\n"))
    with pytest.raises(ValueError, match="curve 'Table 10 shape': aux names 'CRAFT', which is not one of its datasets"):
        load_matrix(spec, "m")
    spec.write_text(SPEC.replace("      fractions: [1.0, 0.5]\n", ""))
    with pytest.raises(ValueError, match="reduced-data curve 1: needs fractions"):
        load_matrix(spec, "m")
    spec.write_text(SPEC.replace("      aux: [BC2GM]\n", ""))
    text = render(load_matrix(spec, "m"), results, "CMD", plots=False)
    assert "drawn once with seed 0, the same for every training seed); no auxiliary corpora. Test F1" in text
    spec.write_text(SPEC[:SPEC.index("    reduced:")] + "    reduced: [NCBI-disease]\n")
    with pytest.raises(ValueError, match=r"reduced must be a curve \(a mapping\) or a list of curves, got \['NCBI-disease'\]"):
        load_matrix(spec, "m")


def cell(run, scores, seconds_per_epoch=10.0, dev=None):
    """A cell record; dev: dev F1 by corpus (the harness's dev-split scores)."""
    record = {"key": run.key, "date": "2026-11-25", "device": "cpu", "machine": "test machine",
              "versions": {"python": "3", "spacy": "3.8"}, "seconds_per_epoch": seconds_per_epoch,
              "train": list(run.train),
              "scores": {d: {"p": f, "r": f, "f": f, "per_type": {}} for d, f in scores.items()}}
    if dev is not None:
        record["dev_scores"] = {d: {"p": f, "r": f, "f": f} for d, f in dev.items()}
    return record


def test_report_hand_checked(spec, tmp_path):
    matrix = load_matrix(spec, "m")
    results = tmp_path / "results"
    (results / "cells").mkdir(parents=True)
    f1 = {0: 0.80, 1: 0.82, 2: 0.84}
    for seed, f in f1.items():
        for run, scores in ((Run("a", ("BC5CDR-chem",), seed), {"BC5CDR-chem": f}),
                            (Run("mtm", ("BC2GM", "NCBI-disease"), seed), {"BC2GM": f - 0.1, "NCBI-disease": f}),
                            (Run("stm", ("NCBI-disease",), seed), {"NCBI-disease": f - 0.05}),
                            (Run("stm", ("NCBI-disease",), seed, (("NCBI-disease", 0.5),)), {"NCBI-disease": f - 0.2})):
            (results / "cells" / f"{run.key}.json").write_text(json.dumps(cell(run, scores)))
    text = render(matrix, results, "CMD", plots=False)
    assert "    CMD" in text
    assert "| System A | 82.00 ± 2.00 (3) | - |" in text
    assert "| b | - | - |" in text
    assert "| trf | no GPU run | no GPU run |" in text
    assert "| MTM | 82.00 ± 2.00 (3) | 72.00 ± 2.00 (3) |" in text
    # anchors: published figures in their own italic rows, only where the corpus has one
    assert "| *Crichton et al. 2017, multi-task CNN (published)* | *80.37* | *73.17* |" in text
    # the last column: mtm minus stm, paired by seed (mtm at 50% has not run)
    assert "| NCBI-disease | 100% | 77.00 ± 2.00 (3) | 82.00 ± 2.00 (3) | +5.00 ± 0.00 (3) |" in text
    assert "| NCBI-disease | 50% | 62.00 ± 2.00 (3) | - | - |" in text
    assert "| System A | 10 ± 0 (3) | - |" in text
    # no baseline in the spec: no paired table
    assert "paired by seed" not in text


def test_report_pairs_each_system_with_the_baseline(spec, tmp_path):
    """Seed by seed: b has seeds 0 and 1, so seed 2 of the baseline a is left out."""
    spec.write_text(SPEC.replace("{name: G, systems: [a, b, trf],", "{name: G, baseline: a, systems: [a, b, trf],"))
    matrix = load_matrix(spec, "m")
    results = tmp_path / "results"
    (results / "cells").mkdir(parents=True)
    for system, f1 in (("a", {0: 0.80, 1: 0.82, 2: 0.84}), ("b", {0: 0.81, 1: 0.84})):
        for seed, f in f1.items():
            run = Run(system, ("BC5CDR-chem",), seed)
            # dev F1: b below a on dev (by 1 and 2 points) though above on test
            dev = {"BC5CDR-chem": f - 0.02 * (seed + 1) if system == "b" else f}
            (results / "cells" / f"{run.key}.json").write_text(json.dumps(cell(run, {"BC5CDR-chem": f}, dev=dev)))
    text = render(matrix, results, "CMD", plots=False)
    assert "Test F1 minus System A's, paired by seed" in text
    assert "| system − System A | BC5CDR-chem | NCBI-disease |" in text
    test_part, dev_part = text.split("Dev F1 minus System A's, paired by seed")
    assert "| b | +1.50 ± 0.71 (2), t = 3.0 | - |" in test_part
    assert "| trf | - | - |" in test_part
    # seed 0: 0.80 against 0.81 - 0.02; seed 1: 0.82 against 0.84 - 0.04
    assert "| b | -1.50 ± 0.71 (2), t = -3.0 | - |" in dev_part.split("Training seconds")[0]


def test_report_plots(spec, tmp_path):
    matrix = load_matrix(spec, "m")
    results = tmp_path / "results"
    (results / "cells").mkdir(parents=True)
    for seed in (0, 1):
        run = Run("stm", ("NCBI-disease",), seed, (("NCBI-disease", 0.5),))
        (results / "cells" / f"{run.key}.json").write_text(json.dumps(cell(run, {"NCBI-disease": 0.5 + seed / 10})))
        run = Run("a", ("BC5CDR-chem",), seed)
        (results / "cells" / f"{run.key}.json").write_text(json.dumps(cell(run, {"BC5CDR-chem": 0.8})))
    text = render(matrix, results, "CMD")
    assert "![G](accuracy-1.png)" in text and "![Reduced training data](reduced-data.png)" in text
    for name in ("accuracy-1.png", "reduced-data.png"):
        assert (results / name).read_bytes()[:4] == b"\x89PNG"


def docs_file(tmp_path, name, n, dataset):
    nlp = spacy.blank("en")
    docs = []
    for i in range(n):
        doc = Doc(nlp.vocab, words=[f"w{i}", "x"])
        doc._.dataset = dataset
        docs.append(doc)
    path = tmp_path / dataset / f"{name}.spacy"
    path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def test_reduced_data_readers(tmp_path):
    nlp = spacy.blank("en")
    assert subsample(list(range(10)), 0.3, 0) == subsample(list(range(10)), 0.3, 0)
    assert len(subsample(list(range(10)), 0.25, 0)) == 2
    with pytest.raises(ValueError, match="fraction must be in"):
        subsample([1], 0, 0)
    path = docs_file(tmp_path, "train", 20, "A")
    docs_file(tmp_path, "train", 10, "B")
    half = [eg.reference[0].text for eg in create_syntax_corpus(path, fraction=0.5)(nlp)]
    assert len(half) == 10 and half == sorted(half, key=lambda w: int(w[1:]))  # corpus order kept
    reader = create_multi_corpus(tmp_path, ["A", "B"], "train", fractions={"A": 0.1})
    counts = {}
    for eg in reader(nlp):
        counts[eg.reference._.dataset] = counts.get(eg.reference._.dataset, 0) + 1
    assert counts == {"A": 2, "B": 10}
    with pytest.raises(ValueError, match="fractions names 'C'"):
        list(create_multi_corpus(tmp_path, ["A", "B"], "train", fractions={"C": 0.5})(nlp))


def test_syntax_corpus_can_leave_out_entities_across_sentences(tmp_path):
    """For spaCy's ner, which cannot learn them (E024): a doc whose gold entity
    crosses a sentence start of the stored parse is left out, and only then."""
    nlp = spacy.blank("en")
    words = ["obstructive", "(", "P", ".", "05", ")", "apnoea", "in", "rats"]
    starts = [True, False, False, False, True, False, False, False, False]
    across = Doc(nlp.vocab, words=words, sent_starts=starts, ents=["B-Disease"] + ["I-Disease"] * 6 + ["O", "O"])
    within = Doc(nlp.vocab, words=words, sent_starts=starts, ents=["O"] * 6 + ["B-Disease", "O", "O"])
    DocBin(docs=[across, within], store_user_data=True).to_disk(tmp_path / "train.spacy")
    kept = lambda **kw: [[e.text for e in eg.reference.ents] for eg in create_syntax_corpus(tmp_path / "train.spacy", **kw)(nlp)]
    assert kept() == [["obstructive ( P . 05 ) apnoea"], ["apnoea"]]
    assert kept(skip_entities_across_sentences=True) == [["apnoea"]]


def smaller_quick_matrix(path: Path) -> Path:
    """configs/benchmark.yml with its quick matrix cut to seed 0, 6 steps, 60
    sentences per split, the group with a baseline, one reduced fraction and
    one pipeline's speed: each kind of run and reading the quick matrix has
    (a corpus file, one corpus and all of them through the multi-corpus
    reader, a reduced one), at a fraction of its time."""
    import yaml

    spec = yaml.safe_load((REPO / "configs" / "benchmark.yml").read_text())
    quick = spec["matrices"]["quick"]
    quick.update(steps=6, eval_frequency=6, seeds=[0], dev_limit=20, dev_limit_per_corpus=20, convert_limit=60)
    # one group with its baseline, one reduced-data point for each way of reading corpora (one, all)
    quick["groups"] = [group for group in quick["groups"] if group.get("baseline")]
    quick["reduced"]["fractions"] = [0.25]
    # one pipeline's speed (the long-sentence reading is for grid_ner pipelines only)
    quick["speed"].update(systems=quick["groups"][0]["systems"][:1], limit=30)
    spec["matrices"] = {"quick": quick}
    path.parent.mkdir(parents=True, exist_ok=True)
    for config in (REPO / "configs").glob("*.cfg"):  # read beside the spec
        (path.parent / config.name).symlink_to(config)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_the_quick_matrix_plans_its_runs():
    matrix = load_matrix(REPO / "configs" / "benchmark.yml", "quick")
    runs = matrix.runs()
    assert len(runs) == 14  # (cfa-dep, ner, grid) + (stm, mtm) x 2 fractions, 2 seeds each
    assert {r.system for r in runs} == {"cfa-dep", "ner", "grid", "stm", "mtm"} and {r.seed for r in runs} == {0, 1}


@pytest.mark.slow
def test_quick_matrix_end_to_end(tmp_path):
    """The harness end to end on a smaller copy of the quick matrix (seed 0,
    a few steps; means, spreads and paired differences over seeds are
    checked on hand-made cells above): convert slices, train each run,
    measure speed, write the doc; a second call trains nothing."""
    if not (CORPORA / "mtl-bioinformatics-2016").exists():
        pytest.skip(f"corpora not found under {CORPORA}")
    spec = smaller_quick_matrix(tmp_path / "configs" / "benchmark.yml")
    cmd = [sys.executable, "-m", "bioner_spacy", "benchmark", "run", "--quick", "--jobs", "2",
           "--corpora-dir", str(CORPORA), "--work", str(tmp_path / "work"), "--spec", str(spec)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    results = tmp_path / "work" / "results"
    cells = sorted((results / "cells").glob("*.json"))
    assert len(cells) == 4  # cfa-dep, ner; stm and mtm at a quarter of NCBI-disease
    record = json.loads(cells[0].read_text())
    assert {"scores", "dev_scores", "seed", "train_seconds", "seconds_per_epoch", "versions", "machine", "config"} <= set(record)
    assert set(record["dev_scores"]) == set(record["scores"]) and record["settings"]["steps"] == 6
    doc = (tmp_path / "work" / "results.md").read_text()
    assert "## Reduced training data" in doc and "## Speed and memory" in doc
    assert "| system − spaCy ner (CNN) | BC5CDR-chem |" in doc and "Dev F1 minus spaCy ner (CNN)'s" in doc
    assert (results / "speed.png").exists() and (results / "reduced-data.png").exists()
    speed = json.loads((results / "speed.json").read_text())
    assert list(speed["speed"]) and speed["long_sentence"] == []
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    assert again.returncode == 0 and "4 done, 0 to run" in again.stdout


def test_select_runs_by_system_and_corpus(spec):
    from bioner_spacy.benchmark.cli import select

    runs = load_matrix(spec, "m").runs()
    assert {r.system for r in select(runs, "a,mtm", None)} == {"a", "mtm"}
    picked = select(runs, "mtm", "BC2GM")
    assert len(picked) == 6 and all("BC2GM" in r.train for r in picked)
    assert select(runs, None, None) == runs
    seed_zero = select(runs, "stm", None, "0")
    assert len(seed_zero) == 2 and {r.seed for r in seed_zero} == {0}
    assert len(select(runs, None, "NCBI-disease", "1,2")) == 2 * len(select(runs, None, "NCBI-disease", "1"))
    with pytest.raises(typer.BadParameter, match="'1,x'"):
        select(runs, None, None, "1,x")


def test_cells_made_with_other_settings_are_not_current(spec, tmp_path):
    from bioner_spacy.benchmark.runner import Bench

    matrix = load_matrix(spec, "m")
    bench = Bench(matrix, tmp_path / "corpus", tmp_path / "work", tmp_path / "results", REPO / "configs")
    run = Run("a", ("BC5CDR-chem",), 0)
    settings = bench.settings(run)
    assert settings["steps"] == 100 and settings["overrides"]["training.max_steps"] == 100
    assert settings["overrides"]["paths.train"].endswith("BC5CDR-chem/train.spacy")
    path = bench.cell_path(run)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**cell(run, {"BC5CDR-chem": 0.8}), "settings": settings}))
    assert list(bench.current_cells([run])) == [run.key]
    matrix.steps = 200
    assert bench.current_cells([run]) == {}


def test_a_run_from_a_pretrained_tok2vec_records_which_weights(spec, tmp_path):
    """The weights file is a build like the vectors: its digest is a
    setting, so other weights make the cell stale; a missing file names
    itself and the command that builds it; the config's partial
    [pretraining] block is completed with spaCy's defaults."""
    from bioner_spacy.benchmark.runner import Bench, complete_pretraining

    weights = tmp_path / "model-last.bin"
    spec.write_text(SPEC.replace('  a: {config: cfa_cnn, label: "System A"}',
                                 '  a: {config: cfa_cnn, label: "System A", overrides: {paths.init_tok2vec: ' + str(weights)
                                 + ', pretraining.component: cfa_ner, pretraining.layer: tok2vec}}'))
    matrix = load_matrix(spec, "m")
    bench = Bench(matrix, tmp_path / "corpus", tmp_path / "work", tmp_path / "results", REPO / "configs")
    run = Run("a", ("BC5CDR-chem",), 0)
    with pytest.raises(FileNotFoundError, match=r"pretrained tok2vec not found: .*model-last.bin \(build it with "
                                                r"`spacy project run pretrain . --vars.pretrain_output .*`\)"):
        bench.settings(run)
    weights.write_bytes(b"first")
    settings = bench.settings(run)
    assert len(settings["init_tok2vec"]["sha256"]) == 64
    path = bench.cell_path(run)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**cell(run, {"BC5CDR-chem": 0.8}), "settings": settings}))
    assert list(bench.current_cells([run])) == [run.key]
    weights.write_bytes(b"second")
    assert bench.current_cells([run]) == {}
    # a report on a machine without the weights still reads the cell
    assert list(bench.current_cells([run], check_vectors=False)) == [run.key]
    config = (bench.work / "runs" / run.key / "config.cfg")
    bench.write_config(run)
    text = config.read_text()
    assert 'component = "cfa_ner"' in text and 'layer = "tok2vec"' in text and "max_epochs = 1000" in text
    assert complete_pretraining({"layer": "x"})["layer"] == "x"
    # a nested setting keeps the rest of its default block
    objective = complete_pretraining({"objective": {"hidden_size": 10}})["objective"]
    assert objective["hidden_size"] == 10 and objective["@architectures"] == "spacy.PretrainCharacters.v1"


def check_kept_model_guard(bench, run, act):
    """``act`` scores nothing while the run has no kept model, or one newer
    than its cell (saying which); then leaves a kept model older than the cell."""
    path = bench.cell_path(run)
    model = bench.run_dir(run) / "model" / "model-best"
    assert act() == f"no model kept in {model.parent}"
    model.mkdir(parents=True)
    os.utime(path, (model.stat().st_mtime - 10,) * 2)
    assert act() == f"{model} is newer than the cell (trained again since): not scored"
    os.utime(path, (model.stat().st_mtime + 10,) * 2)


def test_dev_scores_are_added_to_a_cell_from_its_kept_model(spec, tmp_path, monkeypatch):
    from bioner_spacy.benchmark.runner import Bench

    matrix = load_matrix(spec, "m")
    bench = Bench(matrix, tmp_path / "corpus", tmp_path / "work", tmp_path / "results", REPO / "configs")
    run = Run("mtm", ("BC2GM", "NCBI-disease"), 0)
    path = bench.cell_path(run)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(cell(run, {"BC2GM": 0.7, "NCBI-disease": 0.8})))
    calls = []

    def evaluate(self, run, split, env):
        calls.append(split)
        return {"seqeval_per_dataset": {"BC2GM": {"p": 0.5, "r": 0.7, "f": 0.6, "per_type": {}},
                                        "NCBI-disease": {"p": 0.9, "r": 0.9, "f": 0.9, "per_type": {}}}}

    monkeypatch.setattr(Bench, "evaluate", evaluate)
    check_kept_model_guard(bench, run, lambda: bench.add_dev_scores(run))
    assert bench.add_dev_scores(run, evaluate=False).startswith("not from the training log")
    assert bench.add_dev_scores(run) == "dev BC2GM 60.00, NCBI-disease 90.00"
    record = json.loads(path.read_text())
    assert record["dev_scores"] == {"BC2GM": {"p": 0.5, "r": 0.7, "f": 0.6}, "NCBI-disease": {"p": 0.9, "r": 0.9, "f": 0.9}}
    assert record["scores"]["BC2GM"]["f"] == 0.7
    assert bench.add_dev_scores(run) == "has dev scores" and calls == ["dev"]


def test_rescore_rewrites_a_cells_scores_from_its_kept_model(spec, tmp_path, monkeypatch):
    """After a change in scoring: test and dev scores again from the kept
    model, the rest of the cell as it was; none kept or a newer model: left."""
    from bioner_spacy.benchmark.report import render
    from bioner_spacy.benchmark.runner import Bench

    matrix = load_matrix(spec, "m")
    bench = Bench(matrix, tmp_path / "corpus", tmp_path / "work", tmp_path / "results", REPO / "configs")
    run = Run("mtm", ("BC2GM", "NCBI-disease"), 0)
    path = bench.cell_path(run)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**cell(run, {"BC2GM": 0.7, "NCBI-disease": 0.0}), "epochs": 3.0}))
    f1 = {"test": (0.61, 0.52), "dev": (0.63, 0.54)}

    def evaluate(self, run, split, env):
        first, second = f1[split]
        return {"seqeval_p": 0.5, "seqeval_r": 0.5, "seqeval_f": 0.5, "seqeval_untyped_datasets": ["NCBI-disease"],
                "seqeval_per_dataset": {"BC2GM": {"p": first, "r": first, "f": first, "per_type": {}},
                                        "NCBI-disease": {"p": second, "r": second, "f": second, "per_type": {}}}}

    monkeypatch.setattr(Bench, "evaluate", evaluate)
    check_kept_model_guard(bench, run, lambda: bench.rescore(run))
    assert json.loads(path.read_text())["scores"]["BC2GM"]["f"] == 0.7
    assert bench.rescore(run) == "test BC2GM 61.00, NCBI-disease 52.00"
    record = json.loads(path.read_text())
    assert record["scores"]["NCBI-disease"] == {"p": 0.52, "r": 0.52, "f": 0.52, "per_type": {}}
    assert record["dev_scores"]["BC2GM"] == {"p": 0.63, "r": 0.63, "f": 0.63}
    assert record["micro"] == {"p": 0.5, "r": 0.5, "f": 0.5} and record["epochs"] == 3.0
    assert record["untyped_datasets"] == ["NCBI-disease"] and "rescored" in record
    # a figure on spans alone is marked and kept apart from the typed ones; the doc says where
    doc = render(matrix, bench.results, "cmd", plots=False)
    assert f"| {matrix.systems['mtm'].label} | 52.00 (1) † | 61.00 (1) |" in doc
    assert f"left out of the choice, the paired differences and the plot): {matrix.systems['mtm'].label} on NCBI-disease." in doc


def test_dev_scores_from_a_training_log_only_where_it_read_the_whole_dev_split(spec, tmp_path):
    """A one-corpus run whose dev evaluations read all 3 dev docs: the log's
    best is the selected model's whole-dev F1; with a limit of 2 it is not."""
    from bioner_spacy.benchmark.runner import Bench

    matrix = load_matrix(spec, "m")
    bench = Bench(matrix, tmp_path / "corpus", tmp_path / "work", tmp_path / "results", REPO / "configs")
    nlp = spacy.blank("en")
    (tmp_path / "corpus" / "NCBI-disease").mkdir(parents=True)
    DocBin(docs=[nlp("one"), nlp("two"), nlp("three")]).to_disk(tmp_path / "corpus" / "NCBI-disease" / "dev.spacy")
    curve = [{"step": 0, "score": 0.1}, {"step": 50, "score": 0.72}, {"step": 100, "score": 0.71}]
    results = {}
    for seed, limit in ((0, 0), (1, 3), (2, 2)):
        run = Run("a", ("NCBI-disease",), seed)
        path = bench.cell_path(run)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**cell(run, {"NCBI-disease": 0.8}), "dev_curve": curve,
                                    "overrides": {"corpora.dev.limit": limit}}))
        results[limit] = bench.add_dev_scores(run, evaluate=False)
        if limit != 2:
            assert json.loads(path.read_text())["dev_scores"] == {"NCBI-disease": {"f": 0.72, "source": "training log"}}
    assert results == {0: "dev NCBI-disease 72.00", 3: "dev NCBI-disease 72.00",
                       2: "not from the training log (its dev evaluations read part of the dev split)"}


def test_measured_processes_keep_to_their_threads():
    """A speed or training child started with thread_env(1) runs torch on one
    thread, whatever the machine's core count."""
    from bioner_spacy.benchmark.speed import thread_env

    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                         capture_output=True, text=True, env=thread_env(1), check=True)
    assert out.stdout.strip() == "1"


def test_run_all_says_what_runs_and_what_remains(spec, tmp_path):
    """A line when each run starts and one when it ends; a run whose cell is
    current is neither started nor counted; a failed run is reported and the
    others go on."""
    from bioner_spacy.benchmark.runner import Bench

    matrix = load_matrix(spec, "m")
    bench = Bench(matrix, tmp_path / "corpus", tmp_path / "work", tmp_path / "results", REPO / "configs")
    done, first, broken = (Run("a", ("BC5CDR-chem",), seed) for seed in (0, 1, 2))
    bench.cell_path(done).parent.mkdir(parents=True)
    bench.cell_path(done).write_text(json.dumps({**cell(done, {"BC5CDR-chem": 0.8}), "settings": bench.settings(done)}))

    def execute(run):
        if run == broken:
            raise RuntimeError("no corpus")
        return {**cell(run, {"BC5CDR-chem": 0.8125}), "train_seconds": 12.0}

    bench.execute = execute
    lines = []
    with pytest.raises(RuntimeError, match="1 run\\(s\\) failed:\n" + broken.key):
        bench.run_all([done, first, broken], jobs=1, log=lines.append)
    assert lines[0] == "3 runs in matrix 'm': 1 done, 2 to run"
    assert lines[1] == f"[start 1/2] {first.key}"
    assert lines[2].startswith(f"[1/2] {first.key}: F1 BC5CDR-chem 81.25 (12 s); 1 left, ETA ")
    assert lines[3] == f"[start 2/2] {broken.key}"
    assert lines[4] == f"[2/2] FAILED {broken.key}: no corpus"
    assert len(lines) == 5


def test_eta_counts_parallel_jobs():
    from bioner_spacy.benchmark.runner import eta_seconds

    # 8 runs of 30 min left, 2 at a time: 4 rounds of 30 min
    assert eta_seconds([1800.0], 8, 2) == 4 * 1800
    # the mean of the finished runs; fewer runs left than jobs: one round
    assert eta_seconds([1000.0, 2000.0], 1, 2) == 1500
    assert eta_seconds([1000.0, 2000.0], 3, 1) == 4500
    assert eta_seconds([], 5, 2) == 0 and eta_seconds([60.0], 0, 2) == 0


def test_dry_run_marks_done_todo_and_stale_cells(tmp_path):
    from typer.testing import CliRunner

    from bioner_spacy.benchmark.cli import benchmark_app
    from bioner_spacy.benchmark.runner import Bench

    (tmp_path / "cfa_cnn.cfg").write_bytes((REPO / "configs" / "cfa_cnn.cfg").read_bytes())
    (tmp_path / "bench.yml").write_text(
        "systems:\n  a: {config: cfa_cnn}\n"
        "matrices:\n  m:\n    steps: 100\n    eval_frequency: 50\n    seeds: [0, 1, 2]\n"
        "    groups:\n      - {name: G, systems: [a], datasets: [BC5CDR-chem]}\n")
    args = ["run", "--matrix", "m", "--spec", str(tmp_path / "bench.yml"), "--work", str(tmp_path / "work"),
            "--results", str(tmp_path / "results"), "--corpus-dir", str(tmp_path / "corpus"), "--dry-run"]
    matrix = load_matrix(tmp_path / "bench.yml", "m")
    bench = Bench(matrix, tmp_path / "corpus", tmp_path / "work", tmp_path / "results", tmp_path)
    current, stale = Run("a", ("BC5CDR-chem",), 0), Run("a", ("BC5CDR-chem",), 1)
    bench.cell_path(current).parent.mkdir(parents=True)
    bench.cell_path(current).write_text(json.dumps({"settings": bench.settings(current)}))
    bench.cell_path(stale).write_text(json.dumps({"settings": {**bench.settings(stale), "steps": 50}}))
    out = CliRunner().invoke(benchmark_app, args)
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == ["done  a__BC5CDR-chem__seed0", "redo  a__BC5CDR-chem__seed1",
                                       "todo  a__BC5CDR-chem__seed2"]


def test_budget_trains_to_dev_patience_on_the_whole_dev_set(spec, tmp_path):
    """A system naming a budget gets its cap, patience and dev set; the
    others keep the matrix's fixed steps; a vectors folder's manifest is part
    of the settings, and a missing one is named with the command that builds it."""
    from bioner_spacy.benchmark.runner import Bench

    spec.write_text(SPEC.replace('a: {config: cfa_cnn, label: "System A"}',
                                 'a: {config: cfa_cnn, label: "System A"}\n'
                                 '  c: {config: cfa_cnn, budget: long, overrides: {paths.vectors: VEC}}')
                    .replace("seeds: [0, 1, 2]", "seeds: [0, 1, 2]\n    dev_limit: 7\n"
                             "    budgets: {long: {max_steps: 900, patience: 150, dev_limit: 0}}")
                    .replace("systems: [a, b, trf]", "systems: [a, b, c, trf]")
                    .replace("VEC", str(tmp_path / "vectors")))
    matrix = load_matrix(spec, "m")
    bench = Bench(matrix, tmp_path / "corpus", tmp_path / "work", tmp_path / "results", REPO / "configs")
    fixed = bench.overrides(Run("a", ("BC5CDR-chem",), 0))
    assert (fixed["training.max_steps"], fixed["training.eval_frequency"], fixed["corpora.dev.limit"]) == (100, 50, 7)
    assert "training.patience" not in fixed and "vectors" not in bench.settings(Run("a", ("BC5CDR-chem",), 0))
    run = Run("c", ("BC5CDR-chem",), 0)
    long = bench.overrides(run)
    assert (long["training.max_steps"], long["training.patience"], long["training.eval_frequency"],
            long["corpora.dev.limit"]) == (900, 150, 50, 0)
    with pytest.raises(FileNotFoundError, match=r"vectors.*bioner_vectors.json.*spacy project run vectors"):
        bench.settings(run)
    # a cell made elsewhere with vectors stays current where the vectors are not built (a fresh clone)
    recorded = {**bench.settings(run, strict=False), "vectors": {"words": 10}}
    assert bench.is_current({"settings": recorded}, run)
    assert not bench.is_current({"settings": {**recorded, "steps": 5}}, run)
    (tmp_path / "vectors").mkdir()
    manifest = {"words": 10, "settings": {"dim": 8}, "attr": "LOWER", "mode": "floret", "train_seconds": 1.0, "sha256": "ab"}
    (tmp_path / "vectors" / "bioner_vectors.json").write_text(json.dumps(manifest))
    assert bench.settings(run)["vectors"] == {"words": 10, "settings": {"dim": 8}, "attr": "LOWER", "mode": "floret",
                                              "sha256": "ab"}
    assert not bench.is_current({"settings": recorded}, run)  # built here, other vectors: run again
    # ... but reported: a report does not depend on which floret build this machine has
    assert bench.is_current({"settings": recorded}, run, check_vectors=False)
    assert not bench.is_current({"settings": {**recorded, "steps": 5}}, run, check_vectors=False)
    built_here = {**recorded, "vectors": {**manifest, "settings": {"dim": 8, "bucket": 300}}}
    other = Run("c", ("NCBI-disease",), 0)
    text = render(matrix, tmp_path / "results", "cmd", plots=False,
                  cells={run.key: {**cell(run, {"BC5CDR-chem": 0.8}), "epochs": 7.5, "settings": built_here},
                         other.key: {**cell(other, {"NCBI-disease": 0.7}), "settings": built_here},
                         "old": {**cell(Run("c", ("BC2GM",), 0), {"BC2GM": 0.7}),
                                 "settings": {"vectors": {"words": 1234, "settings": {"dim": 4, "bucket": 5000}}}}})
    assert "Budget `long` (c): at most 900 steps, stopping when dev F1 has not improved for 150 steps" in text
    assert "| c | 7.5 (1) | - |" in text
    assert ("8 x 300 from 10 words of text, sha256 ab: 2 cells; 4 x 5,000 from 1,234 words of text: 1 cell.") in text


def test_report_chooses_by_dev_f1_not_test_f1(spec, tmp_path):
    """System A has the higher test F1 on NCBI-disease, b the higher dev F1:
    b is the one set against the published figure."""
    from bioner_spacy.benchmark.anchors import CRICHTON_2017

    matrix = load_matrix(spec, "m")
    cells = {}
    for seed, f in {0: 0.80, 1: 0.81}.items():
        for system, test, dev in (("a", f, 0.70), ("b", f - 0.1, 0.75)):
            run = Run(system, ("NCBI-disease",), seed)
            cells[run.key] = cell(run, {"NCBI-disease": test}, dev={"NCBI-disease": dev})
        run = Run("a", ("BC5CDR-chem",), seed)
        cells[run.key] = cell(run, {"BC5CDR-chem": 0.9}, dev={"BC5CDR-chem": 0.9})
    text = render(matrix, tmp_path / "results", "cmd", plots=False, cells=cells)
    # b's test mean 70.50 against Crichton et al.'s 80.37; BC5CDR-chem has no published figure
    assert CRICHTON_2017["NCBI-disease"] == 80.37
    assert ("- NCBI-disease: chosen by dev F1, b (dev 75.00), test 70.50 (2 seeds) is below the best published "
            "figure, 80.37 (Crichton et al. 2017, multi-task CNN (published)), by 9.87.") in text
    assert "- BC5CDR-chem: chosen" not in text
    assert "System A (dev" not in text


def test_the_choice_reads_whole_dev_scores_only(spec, tmp_path):
    """A system lacking a dev score for a seed it has a test score for is
    left out of the choice, and named; a training log's dev curve alone is
    no dev score (its evaluations may read part of the split); a corpus with
    no system to choose says so; a tie on dev goes to the first system
    listed, whatever the test scores."""
    from bioner_spacy.benchmark.report import cell_f1

    matrix = load_matrix(spec, "m")
    curve = [{"step": 0, "score": 0.1}, {"step": 50, "score": 0.99}]
    cells = {}
    for seed, f in {0: 0.80, 1: 0.81}.items():
        run = Run("a", ("NCBI-disease",), seed)
        cells[run.key] = cell(run, {"NCBI-disease": f}, dev={"NCBI-disease": 0.7})
        run = Run("b", ("NCBI-disease",), seed)
        cells[run.key] = {**cell(run, {"NCBI-disease": 0.95}, dev={"NCBI-disease": 0.99} if seed == 0 else None),
                          "dev_curve": curve}
    text = render(matrix, tmp_path / "results", "cmd", plots=False, cells=cells)
    assert ("- NCBI-disease: chosen by dev F1, System A (dev 70.00), test 80.50 (2 seeds) is above the best "
            "published figure, 80.37 (Crichton et al. 2017, multi-task CNN (published)), by 0.13. "
            "Not in the choice (no dev score): b.") in text
    assert cell_f1(cells[Run("b", ("NCBI-disease",), 1).key], "NCBI-disease", "dev") is None
    # a cell written with no dev scores at all (null) reads as none, not as a crash
    assert cell_f1({**cells[Run("a", ("NCBI-disease",), 0).key], "dev_scores": None}, "NCBI-disease", "dev") is None
    # only b's cells: nothing to choose
    only_b = {k: v for k, v in cells.items() if k.startswith("b__")}
    text = render(matrix, tmp_path / "results", "cmd", plots=False, cells=only_b)
    assert "- NCBI-disease: no system to choose (none has a dev score for every seed): b." in text
    # a tie on dev: System A (listed first) though b's test F1 is higher
    for seed in (0, 1):
        run = Run("b", ("NCBI-disease",), seed)
        cells[run.key] = cell(run, {"NCBI-disease": 0.95}, dev={"NCBI-disease": 0.7})
    text = render(matrix, tmp_path / "results", "cmd", plots=False, cells=cells)
    assert "- NCBI-disease: chosen by dev F1, System A (dev 70.00), test 80.50 (2 seeds)" in text


def test_a_group_names_the_published_figures_it_is_shown_beside(spec, tmp_path):
    """A group of transformer systems names seed 002's published rows: they
    are shown and compared with, and the CPU systems' rows are not."""
    spec.write_text(SPEC.replace("{name: G, systems: [a, b, trf],",
                                 "{name: G, anchors: ['seed 002, E-BioBERT + PAMDFGA (BioBERT, GPU; published)'], "
                                 "systems: [a, b, trf],"))
    matrix = load_matrix(spec, "m")
    cells = {}
    for seed in (0, 1):
        for dataset, f in (("NCBI-disease", 0.85), ("BC5CDR-chem", 0.95)):
            run = Run("a", (dataset,), seed)
            cells[run.key] = cell(run, {dataset: f}, dev={dataset: f - 0.01})
    text = render(matrix, tmp_path / "results", "cmd", plots=False, cells=cells)
    group_g = text.split("## G")[1].split("## H")[0]
    assert "| *seed 002, E-BioBERT + PAMDFGA (BioBERT, GPU; published)* | *94.16* | *90.55* |" in group_g
    assert "Crichton" not in group_g
    assert ("- NCBI-disease: chosen by dev F1, System A (dev 84.00), test 85.00 (2 seeds) is below the best "
            "published figure, 90.55 (seed 002, E-BioBERT + PAMDFGA (BioBERT, GPU; published)), by 5.55.") in group_g
    assert ("- BC5CDR-chem: chosen by dev F1, System A (dev 94.00), test 95.00 (2 seeds) is above the best "
            "published figure, 94.16 (seed 002, E-BioBERT + PAMDFGA (BioBERT, GPU; published)), by 0.84.") in group_g


def test_speed_ratio_is_the_median_of_back_to_back_pairs(monkeypatch):
    """Each pipeline runs right after its own syntax-only reference; its ratio
    is the median of those pairs, not best over best (a slow minute of the
    machine during one reference run would skew every ratio)."""
    from types import SimpleNamespace

    from bioner_spacy.benchmark import speed

    # words/s the machine gives, in call order: (syntax, A, syntax, B) per repeat
    script = iter([100, 80, 50, 45, 100, 70, 100, 95, 120, 60, 110, 99])
    calls = []

    def fake(args, one, path):
        calls.append(path)
        return {"words_per_second": next(script), "peak_rss_mb": 500.0, "components": []}

    monkeypatch.setattr(speed, "in_subprocess", fake)
    args = SimpleNamespace(syntax_pipeline="sm", repeats=3, threads=1, data="x", long_sentence=0, max_length=[256])
    results = speed.measure_pipelines(args, [("A", "a"), ("B", "b")], log=lambda m: None)
    assert calls == ["syntax:sm", "a", "syntax:sm", "b"] * 3
    assert results["speed"]["A"]["speed_ratios_to_syntax"] == [0.8, 0.7, 0.5]
    assert results["speed"]["A"]["speed_ratio_to_syntax"] == 0.7
    assert results["speed"]["B"]["speed_ratio_to_syntax"] == 0.9  # median of 0.9, 0.95, 0.9
    assert results["speed"]["syntax only"]["words_per_second"] == 120  # the best reference run
    assert results["speed"]["A"]["words_per_second"] == 80 and results["repeats"] == 3


def test_every_system_of_the_main_matrix_builds_its_pipeline():
    """Each system of configs/benchmark.yml: its config with its overrides
    builds a spaCy pipeline (every override key, architecture and value
    valid), without training, so a misspelt setting fails here and not an
    hour into a benchmark."""
    from spacy.schemas import ConfigSchemaPretrain
    from spacy.util import load_config, load_model_from_config, registry

    from bioner_spacy.benchmark.runner import complete_pretraining
    from bioner_spacy.cli import app
    from bioner_spacy.representations.encoder import package_path

    matrix = load_matrix(REPO / "configs" / "benchmark.yml", "main")
    assert len(matrix.systems) > 50
    for name, system in matrix.systems.items():
        path = REPO / "configs" / f"{system.config}.cfg"
        base = load_config(path, interpolate=False)
        for key, _ in system.overrides:
            # spaCy validates what it builds (the components, the readers); any other setting must exist
            # already, but [pretraining], which the runner completes with spaCy's defaults (checked below)
            if not key.startswith(("components.", "pretraining.", "corpora.")):
                node = base
                for part in key.split("."):
                    assert part in node, f"{name}: {key} is not a setting of {path.name}"
                    node = node[part]
        overrides = {key: package_path(value) for key, value in system.overrides}
        config = load_config(path, overrides=overrides, interpolate=False)
        nlp = load_model_from_config(config, auto_fill=True, validate=True)
        assert nlp.pipe_names, name
        # the readers take their settings (an unknown argument is an error)
        registry.resolve({"corpora": config.interpolate()["corpora"]}, validate=True)
        if config.get("pretraining"):
            registry.resolve(complete_pretraining(config["pretraining"]), schema=ConfigSchemaPretrain)
        if system.evaluate:  # options `bioner-spacy evaluate` takes
            evaluate = typer.main.get_command(app).commands["evaluate"]
            params = evaluate.make_context("evaluate", ["model", "data.spacy", *system.evaluate]).params
            assert params["pipeline"] == "model", name


def test_the_speed_command_writes_its_json_and_table_whole_with_its_own_arguments(monkeypatch, tmp_path):
    from bioner_spacy.benchmark import speed

    run = {"n_texts": 3, "words_per_second": 900.0, "speed_ratio_to_syntax": 0.9, "peak_rss_mb": 600.0,
           "rss_ratio_to_syntax": 1.2, "components": ["tok2vec", "cfa_ner"]}
    results = {"data": "d.spacy", "date": "2026-11-28", "machine": "m", "threads": 1, "repeats": 1,
               "speed": {"A": run}, "long_sentence": []}
    monkeypatch.setattr(speed, "measure_pipelines", lambda args, pipelines: results)
    monkeypatch.setattr(sys, "argv", ["pytest"])
    argv = ["--data", "d.spacy", "--pipeline", "A=my pipeline", "--output", str(tmp_path / "s.json"),
            "--markdown", str(tmp_path / "s.md")]
    speed.main(argv)
    assert json.loads((tmp_path / "s.json").read_text()) == results
    table = (tmp_path / "s.md").read_text()
    assert "python -m bioner_spacy.benchmark.speed --data d.spacy --pipeline 'A=my pipeline' --output" in table
    assert "| A | tok2vec, cfa_ner | 900 | 0.90 | 600 | 1.20 | – | – |" in table
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.md"]  # no temporary left beside them


def test_every_recorded_cell_of_the_main_matrix_is_current():
    """docs/results.md reports only the cells made with today's config files
    (their bytes' sha256): an edit to a config, a comment included, silently
    drops every cell made with it from the doc. A changed config needs its
    cells run again, or the edit undone."""
    from bioner_spacy.benchmark.runner import Bench

    from bioner_spacy.benchmark.cli import paths_for

    matrix = load_matrix(REPO / "configs" / "benchmark.yml", "main")
    work, _, _, corpus_dir = paths_for(matrix, None, None, None, None)  # the cells record these relative paths
    bench = Bench(matrix, corpus_dir, work, REPO / "docs" / "benchmark", REPO / "configs")
    runs = matrix.runs(gpu=True)
    recorded = [run for run in runs if bench.cell_path(run).exists()]
    current = bench.current_cells(runs, check_vectors=False)
    assert len(recorded) > 500
    stale = sorted({f"{run.system} ({matrix.systems[run.system].config}.cfg)" for run in recorded if run.key not in current})
    assert not stale, f"cells no longer reported, their config or settings changed: {', '.join(stale)}"
