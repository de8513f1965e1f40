"""The pipeline that `spacy project run all` builds and packages (the shipped
en_bioner_cfa), on hand-written sentences that are in no corpus.

CI runs the project before the tests, so there the pipeline must exist; on a
developer's machine without it the test is skipped."""
import os
from pathlib import Path

import pytest
import spacy
import yaml

from .conftest import REPO

# Written by hand for this test. Each sentence has the chemicals that BC5CDR-chem's guideline
# would mark (`gold`) and, among them, the ones the test is about (`must_find`): the drug names
# of issue 14. 'glucose' is a chemical by the guideline (train+dev label it 7 times of 9), so a
# model may mark it; the trained model is not bit-for-bit reproducible (floret trains on two
# threads), and in clean-clone runs it has marked 'glucose' in some and not in others.
SENTENCES = [
    ("Metformin reduced hepatic glucose production in these patients, whereas rosiglitazone "
     "increased the risk of congestive heart failure.",
     [("Metformin", "Chemical"), ("glucose", "Chemical"), ("rosiglitazone", "Chemical")],
     [("Metformin", "Chemical"), ("rosiglitazone", "Chemical")]),
    pytest.param("Two patients developed severe hypokalemia after intravenous amphotericin B.",
                 [("amphotericin B", "Chemical")], [("amphotericin B", "Chemical")],
                 marks=pytest.mark.xfail(strict=True, reason=(
                     "spaCy's English tokenizer keeps a sentence-final 'B.' as one token (its rule for "
                     "initials), so the entity can only be 'amphotericin B.'; the packages keep spaCy's "
                     "tokenizer (README, bioner.BioTokenizer.v1)"))),
    ("Haloperidol-induced catalepsy was reversed by scopolamine in mice.",
     [("Haloperidol", "Chemical"), ("scopolamine", "Chemical")],
     [("Haloperidol", "Chemical"), ("scopolamine", "Chemical")]),
]


def shipped_pipeline() -> Path:
    """The folder `spacy project run all` assembles, from project.yml's vars."""
    v = yaml.safe_load((REPO / "project.yml").read_text())["vars"]
    return REPO / "pipelines" / v["dataset"] / f"{v['config']}-{v['syntax']}"


@pytest.fixture(scope="module")
def shipped():
    path = shipped_pipeline()
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI runs `spacy project run all` before the tests")
        pytest.skip(f"{path} not built: run `spacy project run all`")
    return spacy.load(path)


@pytest.mark.parametrize("text, gold, must_find", SENTENCES)
def test_shipped_pipeline_finds_the_chemicals(shipped, text, gold, must_find):
    found = [(e.text, e.label_) for e in shipped(text).ents]
    assert [e for e in found if e not in gold] == [], "found what is no chemical"
    assert [e for e in must_find if e not in found] == [], f"missed drugs; found {found}"


def test_shipped_pipeline_reads_the_domain_vectors_it_carries(shipped):
    assert shipped.get_pipe("cfa_ner").reads_static_vectors
    assert shipped.vocab.vectors.mode == "floret" and shipped.vocab.vectors.shape[0] > 0
