"""bioner.BioTokenizer.v1: biomedical entity boundaries become token boundaries."""
import spacy

CONFIG = {"nlp": {"tokenizer": {"@tokenizers": "bioner.BioTokenizer.v1"}}}


def words(nlp, text):
    return [t.text for t in nlp(text)]


def test_splits_glued_names_and_keeps_numbers():
    nlp = spacy.blank("en", config=CONFIG)
    assert words(nlp, "IL-2-induced IL-2/IL-2R Ro(SSA) IL-2.IL-2R (CD4+) 2.5 mg e.g. this") == [
        "IL", "-", "2", "-", "induced", "IL", "-", "2", "/", "IL", "-", "2R", "Ro", "(", "SSA", ")",
        "IL", "-", "2", ".", "IL", "-", "2R", "(", "CD4", "+", ")", "2.5", "mg", "e.g.", "this",
    ]
    assert words(nlp, "of NF-kappa B. LPS and c-Jun. ER- tumors") == [
        "of", "NF", "-", "kappa", "B", ".", "LPS", "and", "c", "-", "Jun", ".", "ER", "-", "tumors",
    ]
    # spaCy's default keeps these glued
    default = spacy.blank("en")
    assert words(default, "IL-2-induced NF-kappa B.") == ["IL-2", "-", "induced", "NF", "-", "kappa", "B."]


def test_round_trip_keeps_the_rules(tmp_path):
    nlp = spacy.blank("en", config=CONFIG)
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    text = "IL-2/IL-2R activation of NF-kappa B. c-Jun."
    assert words(loaded, text) == words(nlp, text)
    assert loaded.config["nlp"]["tokenizer"]["@tokenizers"] == "bioner.BioTokenizer.v1"
