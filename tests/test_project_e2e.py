"""The main job, end to end, on a slice: `spacy project run all` converts a
few hundred sentences, trains a few dozen steps, assembles, evaluates and
packages; then the results are loaded back as a user would."""
import json
import subprocess
import sys

import numpy
import pytest
import spacy
from spacy.tokens import DocBin

from .conftest import CORPORA, corpus_file, project_copy

DATASET = "BC5CDR-chem"
CONFIG = "cfa_bilstm_vectors"  # project.yml's default config, with domain vectors


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    corpus_file("mtl-bioinformatics-2016", f"{DATASET}-IOB", "train.tsv")
    root = project_copy(tmp_path_factory.mktemp("project"))
    cmd = [
        sys.executable, "-m", "spacy", "project", "run", "all", str(root),
        "--vars.corpora_dir", str(CORPORA), "--vars.dataset", DATASET,
        "--vars.train_limit", "300", "--vars.eval_limit", "100",
        "--vars.max_steps", "40", "--vars.eval_frequency", "20",
        # vectors from a slice of the unlabelled text
        "--vars.unlabelled_dir", str(CORPORA / "unlabelled"), "--vars.unlabelled_words_per_file", "20000",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


def test_project_writes_metrics_and_package(project):
    metrics = json.loads((project / "metrics" / DATASET / f"{CONFIG}-dep.json").read_text())
    assert metrics["n_docs"] == 100
    assert 0.0 <= metrics["seqeval_f"] <= 1.0
    assert set(metrics["seqeval_per_type"]) <= {"Chemical"}
    assert (project / "packages" / "en_bioner_cfa-0.1.0" / "dist" / "en_bioner_cfa-0.1.0.tar.gz").exists()
    assert (project / "pretraining" / "text.txt").stat().st_size > 0


def test_project_vectors_reach_the_assembled_pipeline(project):
    built = json.loads((project / "pretraining" / "vectors" / "bioner_vectors.json").read_text())
    assert built["mode"] == "floret" and built["attr"] == "LOWER" and 100_000 < built["words"] < 200_000
    nlp = spacy.load(project / "pipelines" / DATASET / f"{CONFIG}-dep")
    assert nlp.vocab.vectors.mode == "floret" and nlp.vocab.vectors.shape == (built["settings"]["bucket"], built["settings"]["dim"])
    assert nlp.meta["requirements"][0].startswith("bioner-spacy[lstm]")


def test_assembled_pipeline_round_trips(project, tmp_path):
    path = project / "pipelines" / DATASET / f"{CONFIG}-dep"
    nlp = spacy.load(path)
    assert nlp.pipe_names[-2:] == ["cfa_ner", "bioner_abbreviations"] and "parser" in nlp.pipe_names
    assert nlp.get_pipe_config("bioner_abbreviations")["context"] == 0
    assert nlp.meta["requirements"][0].startswith("bioner-spacy")
    docs = list(DocBin().from_disk(project / "corpus" / DATASET / "test.spacy").get_docs(nlp.vocab))[:50]
    texts = [d.text for d in docs]
    first = [nlp(t) for t in texts]
    nlp.to_disk(tmp_path / "again")
    again = spacy.load(tmp_path / "again")
    second = [again(t) for t in texts]
    assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in first] == [
        [(e.start_char, e.end_char, e.label_) for e in d.ents] for d in second
    ]
    ner1, ner2 = nlp.get_pipe("cfa_ner"), again.get_pipe("cfa_ner")
    numpy.testing.assert_array_equal(ner1.predict(first[:5])[0], ner2.predict(second[:5])[0])


def test_spacy_evaluate_reports_seqeval(project, tmp_path):
    path = project / "pipelines" / DATASET / f"{CONFIG}-dep"
    out = tmp_path / "scores.json"
    subprocess.run(
        [sys.executable, "-m", "spacy", "evaluate", str(path), str(project / "corpus" / DATASET / "test.spacy"),
         "--gold-preproc", "--output", str(out)],
        check=True, capture_output=True,
    )
    scores = json.loads(out.read_text())
    ours = json.loads((project / "metrics" / DATASET / f"{CONFIG}-dep.json").read_text())
    assert scores["seqeval_f"] == pytest.approx(ours["seqeval_f"])
