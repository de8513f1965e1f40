"""Errors sorted by kind (hand-checked; the kinds add up to strict scoring's
false negatives and positives), and the `errors`, `evaluate
--abbreviation-context` and `assemble --abbreviation-context` commands end
to end on a rule-based pipeline."""
import json

import spacy
from spacy.tokens import DocBin

from bioner_spacy.error_analysis import classify_doc, error_analysis

from .test_abbreviations import doc_of
from .test_cli import cli


def test_each_entity_and_each_prediction_gets_one_kind():
    gold = [(0, 2, "Disease"), (3, 4, "Chemical"), (5, 6, "Chemical"), (7, 9, "Disease"), (10, 11, "Disease"),
            (14, 15, "Chemical"), (16, 17, "Chemical")]
    predicted = [(0, 2, "Disease"),  # correct
                 (3, 4, "Disease"),  # same span, other type
                 (5, 7, "Chemical"),  # overlaps, same type: boundary
                 (8, 9, "Chemical"),  # overlaps, other type only
                 (12, 13, "Chemical"),  # overlaps nothing
                 (14, 17, "Chemical")]  # one prediction over two gold entities
    kinds, predicted_kinds = classify_doc(gold, predicted)
    assert [(kind, g) for kind, g, _ in kinds] == [
        ("correct", (0, 2, "Disease")), ("type", (3, 4, "Chemical")), ("boundary", (5, 6, "Chemical")),
        ("boundary+type", (7, 9, "Disease")), ("missed", (10, 11, "Disease")),
        ("boundary", (14, 15, "Chemical")), ("boundary", (16, 17, "Chemical"))]
    assert predicted_kinds == [("correct", (0, 2, "Disease")), ("type", (3, 4, "Disease")),
                               ("overlapping", (5, 7, "Chemical")), ("overlapping", (8, 9, "Chemical")),
                               ("spurious", (12, 13, "Chemical")), ("overlapping", (14, 17, "Chemical"))]
    # strict scoring's counts: every gold entity but the correct one is a false negative, every prediction but it a false positive
    assert sum(kind != "correct" for kind, _, _ in kinds) == len(gold) - 1
    assert sum(kind != "correct" for kind, _ in predicted_kinds) == len(predicted) - 1


def test_error_analysis_counts_and_texts_per_type():
    nlp = spacy.blank("en")
    gold = doc_of(nlp, "AF and atrial fibrillation with lead", [(0, 1, "Disease"), (2, 4, "Disease"), (5, 6, "Chemical")])
    predicted = doc_of(nlp, "AF and atrial fibrillation with lead", [(3, 4, "Disease"), (4, 5, "Chemical")])
    analysis = error_analysis([(gold, predicted)])["by_type"]
    assert {k: analysis["Disease"][k] for k in ("gold", "correct", "boundary", "missed", "spurious")} == {
        "gold": 2, "correct": 0, "boundary": 1, "missed": 1, "spurious": 0}
    assert analysis["Disease"]["top_missed"] == [("AF", 1)]
    assert analysis["Disease"]["top_boundary"] == [("atrial fibrillation -> fibrillation", 1)]
    assert (analysis["Chemical"]["missed"], analysis["Chemical"]["spurious"]) == (1, 1)
    assert analysis["Disease"]["predicted"] == {"correct": 0, "type": 0, "overlapping": 1, "spurious": 0}
    assert analysis["Chemical"]["top_spurious"] == [("with", 1)]


def test_errors_and_abbreviations_from_the_command_line(tmp_path):
    """A rule-based pipeline that finds "atrial fibrillation" but not its
    short form: `errors` lists AF as missed; `evaluate` finds it with the
    abbreviation component, in the same doc (context 0) and from the doc
    before (context 1)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "Disease", "pattern": "atrial fibrillation"}])
    nlp.to_disk(tmp_path / "ruler")
    gold = [doc_of(nlp, "Rats had atrial fibrillation ( AF ) and AF .", [(2, 4, "Disease"), (5, 6, "Disease"), (8, 9, "Disease")]),
            doc_of(nlp, "AF stopped .", [(0, 1, "Disease")])]
    DocBin(store_user_data=True, docs=gold).to_disk(tmp_path / "dev.spacy")
    result = cli("errors", tmp_path / "ruler", tmp_path / "dev.spacy", "--output", tmp_path / "errors.json", check=True)
    assert "Disease, missed: AF (3)" in result.stdout
    analysis = json.loads((tmp_path / "errors.json").read_text())
    assert analysis["by_type"]["Disease"]["missed"] == 3 and analysis["by_type"]["Disease"]["correct"] == 1
    f1 = {}
    for context in (None, 0, 1):
        args = [] if context is None else ["--abbreviation-context", context]
        cli("evaluate", tmp_path / "ruler", tmp_path / "dev.spacy", *args, "--output", tmp_path / "s.json", check=True)
        scores = json.loads((tmp_path / "s.json").read_text())
        f1[context] = (scores["seqeval_p"], scores["seqeval_r"])
        assert scores["abbreviations"] == (None if context is None else {"factory": "bioner_abbreviations", "context": context, "remove_undefined": True})
    assert f1 == {None: (1.0, 0.25), 0: (1.0, 0.75), 1: (1.0, 1.0)}
    bad = cli("evaluate", tmp_path / "ruler", tmp_path / "dev.spacy", "--abbreviation-context", "-2")
    assert bad.returncode == 1 and "--abbreviation-context must be 0 or more docs, got -2" in bad.stderr
    # assembled into a pipeline that reads raw text, in a stream of sentences
    cli("assemble", tmp_path / "ruler", tmp_path / "full", "--syntax-pipeline", "none", "--abbreviation-context", 1, check=True)
    full = spacy.load(tmp_path / "full")
    assert full.pipe_names == ["entity_ruler", "bioner_abbreviations"]
    assert [[(e.text, e.label_) for e in doc.ents] for doc in full.pipe(["Rats had atrial fibrillation (AF).", "AF stopped."])] == [
        [("atrial fibrillation", "Disease"), ("AF", "Disease")], [("AF", "Disease")]]
