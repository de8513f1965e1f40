"""The device check (scripts/gpu_check.py, scripts/gpu_check.sh) in its CPU
form, on a tiny slice: the same script a lent GPU machine runs, so it never
rots between the sessions that have one."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CORPORA, REPO, SYNTAX_PIPELINE, corpus_file

spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def check(prepared, out, *options):
    return subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), str(prepared), str(out), "-1", *options],
                          capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    corpus_file("mtl-bioinformatics-2016", "BC5CDR-chem-IOB", "train.tsv")
    folder = tmp_path_factory.mktemp("gpu") / "prepared"
    subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_check.py"), "prepare", str(folder), "--corpora-dir",
                    str(CORPORA), "--train-docs", "40", "--dev-docs", "20", "--syntax-pipeline", SYNTAX_PIPELINE,
                    "--no-wheels"], check=True, capture_output=True)
    return folder


def test_prepare_writes_slices_tiny_bert_vectors_and_manifest(prepared):
    manifest = json.loads((prepared / "manifest.json").read_text())
    assert manifest["sentences"] == {"train": 40, "dev": 20} and manifest["dataset"] == "BC5CDR-chem"
    assert "site" not in manifest and not (prepared / "site.tar.gz").exists()
    assert (prepared / "tiny_bert" / "config.json").exists()
    assert json.loads((prepared / "vectors" / "bioner_vectors.json").read_text())["settings"]["dim"] == 32
    assert not list(prepared.parent.glob(".prepared.*")), "a temporary folder was left behind"


@pytest.mark.parametrize("system", list(gpu_check.SYSTEMS))
def test_every_system_config_builds_with_the_check_options(prepared, system):
    """Each system's config, with exactly the options the check passes to
    `spacy train`, builds its pipeline and resolves its training section: a
    renamed setting or a config that moved fails here, not on a lent GPU."""
    import spacy
    from spacy.cli._util import parse_config_overrides
    from spacy.schemas import ConfigSchemaTraining
    from spacy.util import registry

    overrides = parse_config_overrides(gpu_check.config_options(prepared, system))
    config = spacy.util.load_config(REPO / gpu_check.SYSTEMS[system][0], overrides=overrides, interpolate=False)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    training = registry.resolve(nlp.config.interpolate()["training"], schema=ConfigSchemaTraining)
    assert training["max_steps"] > 0 and nlp.pipe_names


# one system of each kind of set-up the check makes: the domain vectors, the
# tiny BERT, the multi-task copy of the slice; each trains and tags in its own
# processes (the rest are built above and trained in their own tests)
CPU_FORM = ["cfa-bilstm-vectors", "grid-trf-tiny", "cs-mtm"]


def test_cpu_form_trains_and_tags(prepared, tmp_path):
    done = check(prepared, tmp_path, "--steps", "6", "--systems", ",".join(CPU_FORM))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["ok"] and report["failures"] == [] and report["gpu_id"] == -1
    assert list(report["systems"]) == CPU_FORM
    for name, entry in report["systems"].items():
        assert set(entry["train"]) == {"cpu"} and set(entry["tag"]) == {"cpu"}, name
        assert entry["train"]["cpu"]["rc"] == 0 and 0.0 <= entry["train"]["cpu"]["dev_f1"] <= 1.0, name
        assert entry["tag"]["cpu"]["words"] > 300 and entry["tag"]["cpu"]["words_per_second"] > 0, name
        assert "entities" not in entry["tag"]["cpu"]
    doc = tmp_path / "gpu.md"
    gpu_check.report_command(type("Args", (), {"results": [tmp_path / "gpu_check.json"], "output": doc, "source": "x"}))
    names = [line.split(" | ")[0][2:] for line in doc.read_text().splitlines() if line.startswith("| ")]
    assert [name for name in names if name in gpu_check.SYSTEMS] == CPU_FORM
    assert "every step passed" in doc.read_text() and "CPU only (--gpu-id -1)" in doc.read_text()


def test_cpu_lanes_run_the_systems_side_by_side_into_one_report(prepared, tmp_path):
    systems = ["cfa-cnn", "window-cnn"]
    done = check(prepared, tmp_path, "--steps", "4", "--systems", ",".join(systems), "--cpu-lanes", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["ok"] and report["cpu_lanes"] == 2
    # no GPU lane in the CPU form: the two lanes share the cores
    assert report["threads_per_cpu_run"] == max(1, len(os.sched_getaffinity(0)) // 2)
    assert list(report["systems"]) == systems  # the order asked for, whichever lane finished first
    for name in systems:
        entry = report["systems"][name]
        assert entry["train"]["cpu"]["rc"] == 0 and entry["tag"]["cpu"]["words_per_second"] > 0, name
        assert "entities" not in entry["tag"]["cpu"]
        assert entry["train"]["cpu"]["threads"] == entry["tag"]["cpu"]["threads"] == report["threads_per_cpu_run"]
    # both lanes' CPU trainings were under way at once
    log = done.stderr.splitlines()
    started = [i for i, line in enumerate(log) if "spacy train --gpu-id -1" in line]
    first_trained = next(i for i, line in enumerate(log) if "trained on cpu" in line)
    assert len(started) == 2 and max(started) < first_trained
    assert "2 CPU runs at a time beside the GPU trainings" in gpu_check.markdown(report, "x")


def test_a_failing_system_is_recorded_and_the_others_still_run(prepared, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(prepared, broken)
    shutil.rmtree(broken / "tiny_bert")
    # packages packed for another Python (the device's) are left alone here
    manifest = json.loads((broken / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps({**manifest, "site": {"python": "3.99", "packages": []}}))
    (broken / "site.tar.gz").write_bytes(b"not for this Python")
    done = check(broken, tmp_path / "out", "--steps", "4", "--systems", "cfa-trf-tiny,cfa-cnn")
    assert "site.tar.gz is for Python 3.99" in done.stderr
    assert done.returncode == 1
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert report["ok"] is False and report["failures"] == ["cfa-trf-tiny train on cpu: rc 1"]
    failed = report["systems"]["cfa-trf-tiny"]["train"]["cpu"]
    assert "tiny_bert" in failed["command"] and failed["output_tail"]
    assert report["systems"]["cfa-trf-tiny"]["tag"] == {}
    assert report["systems"]["cfa-cnn"]["tag"]["cpu"]["rc"] == 0


def test_unknown_system_is_named(prepared, tmp_path):
    done = check(prepared, tmp_path, "--systems", "cfa-cnn,kvmn")
    assert done.returncode != 0 and "unknown systems ['kvmn']" in done.stderr


def test_missing_prepared_folder_names_the_command(tmp_path):
    done = check(tmp_path / "nothing", tmp_path / "out")
    assert done.returncode == 2 and "manifest.json not found" in done.stderr and "gpu-prepare" in done.stderr


def test_same_entities_counts_differing_docs():
    cpu = {"entities": [[[0, 1, "Chemical"]], [], [[2, 4, "Chemical"]]]}
    gpu = {"entities": [[[0, 1, "Chemical"]], [[5, 6, "Chemical"]], [[2, 4, "Chemical"]]]}
    assert gpu_check.same_entities(cpu, gpu) == {
        "docs": 3, "differing_docs": 1, "first_differences": [{"doc": 1, "cpu": [], "gpu": [[5, 6, "Chemical"]]}]}


def test_report_of_a_gpu_run_gives_speed_ups_and_failures():
    report = {
        "date": "2026-11-26 21:00 UTC", "gpu_id": 0, "commit": "abc1234", "steps": 200, "ok": False,
        "failures": ["grid-bilstm train on gpu: rc 1"],
        "prepared": {"dataset": "BC5CDR-chem", "sentences": {"train": 500, "dev": 300}},
        "environment": {"gpu": "NVIDIA H100 80GB HBM3", "cpus": 16, "python": "3.12.3", "cupy": "14.2.0"},
        "systems": {
            "cfa-cnn": {"train": {"cpu": {"rc": 0, "seconds": 40.0, "dev_f1": 0.5}, "gpu": {"rc": 0, "seconds": 10.0, "dev_f1": 0.52}},
                        "tag": {"cpu": {"rc": 0, "words_per_second": 9000}, "gpu": {"rc": 0, "words_per_second": 27000}},
                        "same_entities": {"docs": 300, "differing_docs": 0}},
            "grid-bilstm": {"train": {"cpu": {"rc": 0, "seconds": 50.0, "dev_f1": 0.4},
                                      "gpu": {"rc": 1, "seconds": 3.0, "command": "python -m spacy train x",
                                              "output_tail": "CUDA error: no kernel image"}},
                            "tag": {}},
        },
    }
    text = gpu_check.markdown(report, "device run")
    assert "| cfa-cnn | 40.0 | 10.0 | 4.0x | 0.500 | 0.520 | 9,000 | 27,000 | 3.0x | 300/300 docs |" in text
    assert "| grid-bilstm | 50.0 | failed (1) | - | 0.400 | failed (1) | - | - | - | - |" in text
    assert "NVIDIA H100 80GB HBM3" in text and "FAILURES: grid-bilstm train on gpu: rc 1" in text
    assert "### grid-bilstm: train on gpu (rc 1)" in text and "CUDA error: no kernel image" in text


def _settings(date, **extra):
    """What every check's JSON carries beside its systems (a finished check: ``ok`` is written)."""
    return {"date": date, "commit": "abc", "gpu_id": 0, "steps": 60, "ok": False,
            "prepared": {"dataset": "D", "sentences": {"train": 5, "dev": 3}}, **extra}


def _result(rc=0, **extra):
    return {"seconds": 1.0, "rc": rc, "command": "c", "output_tail": "", **extra}


def test_a_rerun_fills_the_steps_a_spent_budget_skipped():
    skipped = "(the check's time budget was spent)"
    first = {**_settings("2026-11-28 17:37 UTC"), "failures": [
        f"a train on cpu: skipped {skipped}", f"b train on cpu: skipped {skipped}", "c train on gpu: rc 1"],
        "systems": {
            "a": {"config": "x.cfg", "train": {"gpu": _result()}, "tag": {}},
            "b": {"config": "y.cfg", "train": {"gpu": _result()}, "tag": {}},
            "c": {"config": "z.cfg", "train": {"gpu": _result(rc=1)}, "tag": {}}}}
    rerun = {**_settings("2026-11-28 17:44 UTC"), "failures": [f"b train on cpu: skipped {skipped}"],
             "systems": {
                 "a": {"config": "x.cfg", "train": {"cpu": _result(dev_f1=0.5)},
                       "tag": {"cpu": _result(words_per_second=10), "gpu": _result(words_per_second=40)},
                       "same_entities": {"docs": 3, "differing_docs": 0, "first_differences": []}},
                 "b": {"config": "y.cfg", "train": {}, "tag": {}}}}
    merged = gpu_check.merge_reports([first, rerun])
    # a's CPU baseline came from the rerun; b's is still missing (once); c's GPU failure stays
    assert merged["failures"] == [f"b train on cpu: skipped {skipped}", "c train on gpu: rc 1"]
    assert merged["ok"] is False
    assert set(merged["systems"]["a"]["train"]) == {"gpu", "cpu"}
    assert merged["systems"]["a"]["same_entities"]["docs"] == 3
    assert merged["systems"]["b"]["train"] == {"gpu": _result()}
    assert merged["date"] == "2026-11-28 17:37 UTC and 2026-11-28 17:44 UTC"
    # the first report is left as it was
    assert set(first["systems"]["a"]["train"]) == {"gpu"}
    line = next(row for row in gpu_check.markdown({**merged, "environment": {}}, "s").splitlines()
                if row.startswith("| a |"))
    assert line == "| a | 1.0 | 1.0 | 1.0x | 0.500 | - | 10 | 40 | 4.0x | 3/3 docs |"


def test_the_result_line_tells_a_failure_from_a_skipped_step():
    skipped = "a train on cpu: skipped (the check's time budget was spent)"
    assert gpu_check.outcome({"ok": True, "failures": []}) == "every step passed"
    assert gpu_check.outcome({"ok": False, "failures": [skipped]}) == (
        "every step that ran passed; skipped when the time budget was spent: a train on cpu")
    assert gpu_check.outcome({"ok": False, "failures": ["b tag on gpu: rc 1", skipped]}) == (
        "FAILURES: b tag on gpu: rc 1; skipped when the time budget was spent: a train on cpu")


def test_a_merge_keeps_a_models_tagging_with_it_and_clears_what_a_rerun_settles():
    compare = "a compare on gpu: the CPU-trained model tags 5 docs differently on GPU"
    old_tags = {"cpu": _result(words_per_second=10), "gpu": _result(words_per_second=40)}
    first = {**_settings("d1"), "failures": [compare], "systems": {"a": {
        "config": "x.cfg", "train": {"gpu": _result(), "cpu": _result()}, "tag": old_tags,
        "same_entities": {"docs": 9, "differing_docs": 5, "first_differences": []}}}}
    # the rerun trained a's CPU model again and tagged it on the CPU only
    retrained = {**_settings("d2"), "failures": ["a tag on gpu: skipped (the check's time budget was spent)"],
                 "systems": {"a": {"config": "x.cfg", "train": {"cpu": _result(seconds=2.0)},
                                   "tag": {"cpu": _result(words_per_second=11)}}}}
    merged = gpu_check.merge_reports([first, retrained])
    entry = merged["systems"]["a"]
    assert entry["tag"] == {"cpu": _result(words_per_second=11)} and "same_entities" not in entry
    assert merged["failures"] == [compare, "a tag on gpu: skipped (the check's time budget was spent)"]
    # a rerun that tags both devices alike settles the comparison
    settled = {**_settings("d3"), "failures": [], "systems": {"a": {
        "config": "x.cfg", "train": {"cpu": _result()}, "tag": old_tags,
        "same_entities": {"docs": 9, "differing_docs": 0, "first_differences": []}}}}
    merged = gpu_check.merge_reports([first, retrained, settled])
    assert merged["failures"] == [] and merged["ok"] and merged["systems"]["a"]["same_entities"]["differing_docs"] == 0
    # a later failure replaces an earlier success, and its line stays
    broken = {**_settings("d4"), "failures": ["a train on gpu: rc 1"],
              "systems": {"a": {"config": "x.cfg", "train": {"gpu": _result(rc=1)}, "tag": {}}}}
    merged = gpu_check.merge_reports([settled, broken])
    assert merged["systems"]["a"]["train"]["gpu"]["rc"] == 1 and merged["failures"] == ["a train on gpu: rc 1"]


def test_a_lanes_crash_while_tagging_stays_until_a_rerun_tags_and_compares_on_both_devices():
    crash = "a tag: KeyError: 'entities'"
    first = {**_settings("d1"), "failures": [crash], "systems": {"a": {
        "config": "x.cfg", "train": {"gpu": _result(), "cpu": _result()}, "tag": {"cpu": _result()}}}}
    assert gpu_check.merge_reports([first])["failures"] == [crash]
    # tagged on the CPU again, not on the GPU: not settled
    cpu_only = {**_settings("d2"), "failures": [], "systems": {"a": {
        "config": "x.cfg", "train": {}, "tag": {"cpu": _result()}}}}
    assert gpu_check.merge_reports([first, cpu_only])["failures"] == [crash]
    both = {**_settings("d3"), "failures": [], "systems": {"a": {
        "config": "x.cfg", "train": {}, "tag": {"cpu": _result(), "gpu": _result()},
        "same_entities": {"docs": 3, "differing_docs": 0, "first_differences": []}}}}
    merged = gpu_check.merge_reports([first, both])
    assert merged["failures"] == [] and merged["ok"]


def test_a_check_that_never_finished_is_not_read_as_passed():
    partial = {**_settings("d1"), "failures": [], "systems": {"a": {"config": "x.cfg", "train": {}, "tag": {}}}}
    del partial["ok"]
    merged = gpu_check.merge_reports([partial])
    assert merged["ok"] is False
    assert gpu_check.outcome(merged) == f"FAILURES: the check of d1: {gpu_check.UNFINISHED}"


def test_reports_of_other_slices_or_steps_are_not_merged():
    base = {**_settings("d1"), "failures": [], "systems": {}}
    with pytest.raises(ValueError, match="differ in steps: 60 and 100"):
        gpu_check.merge_reports([base, {**base, "steps": 100}])
    other = {**base, "prepared": {"dataset": "E", "sentences": {"train": 5, "dev": 3}}}
    with pytest.raises(ValueError, match="prepared on other slices"):
        gpu_check.merge_reports([base, other])


def test_the_gpu_cases_of_the_suite_are_a_step_of_the_check():
    """Here (no GPU) `pytest -m gpu` collects the GPU cases and skips them: the check
    reads that as none run, a failure on a GPU machine, not a pass."""
    result = gpu_check.gpu_tests(timeout=300)
    assert result["rc"] == "none ran" and "skipped" in result["summary"] and "deselected" in result["summary"]
    report = {**_settings("d1"), "failures": [f"gpu tests: rc none ran: {result['summary']}"], "systems": {},
              "gpu_tests": result, "environment": {}}
    assert gpu_check.outcome(report).startswith("FAILURES: gpu tests: rc none ran")
    assert "- GPU tests (`pytest -m gpu`): FAILED (rc none ran): " in gpu_check.markdown(report, "s")
    passed = {**report, "gpu_tests": {**result, "rc": 0, "summary": "1 passed, 400 deselected in 3.1s"}}
    assert gpu_check.merge_reports([report, {**passed, "failures": []}])["failures"] == []


def test_every_test_marked_gpu_is_in_a_file_the_device_runs():
    marked = [path.name for path in (REPO / "tests").glob("test_*.py")
              if path.name != Path(__file__).name and "pytest.mark.gpu" in path.read_text()]
    assert sorted(marked) == sorted(Path(f).name for f in gpu_check.GPU_TEST_FILES)


@pytest.mark.parametrize("output, rc, expected, summary", [
    ("....\n1 passed, 13 deselected in 2.1s\nWarning: a library said goodbye on stderr\n", 0, 0,
     "1 passed, 13 deselected in 2.1s"),
    ("s\n==== 1 skipped, 13 deselected in 0.5s ====\n", 0, "none ran", "1 skipped, 13 deselected in 0.5s"),
    ("==== no tests ran in 0.1s ====\n", 5, 5, "no tests ran in 0.1s"),
    ("F\n==== 1 failed, 13 deselected in 3.0s ====\n", 1, 1, "1 failed, 13 deselected in 3.0s"),
])
def test_the_gpu_tests_summary_is_pytests_closing_line(monkeypatch, output, rc, expected, summary):
    monkeypatch.setattr(gpu_check, "run", lambda *a, **k: {"rc": rc, "output_tail": output, "seconds": 1.0})
    result = gpu_check.gpu_tests(timeout=10)
    assert (result["rc"], result["summary"]) == (expected, summary)
