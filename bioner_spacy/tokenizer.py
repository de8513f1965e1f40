"""A tokenizer for biomedical raw text: spaCy's English rules, plus infixes
that split the punctuation biomedical names are glued with, so that entity
boundaries inside a whitespace-delimited chunk fall on token boundaries:

- a hyphen or en dash between any letters or digits ("IL-2-induced" ->
  IL - 2 - induced; spaCy splits hyphens between letters only);
- "/", "+", ":", "=" and "," between letters or digits ("IL-2/IL-2R");
- brackets inside a chunk ("Ro(SSA)");
- a period between a letter or digit and a letter or "(" ("IL-2.IL-2R",
  "gene.(ABSTRACT"), not between digits (decimals stay whole);

and suffixes: a period after a capital letter ("NF-kappa B." ends a
sentence far more often than it abbreviates) and a trailing hyphen ("ER-
tumors"). For the same reason the special cases "A." ... "Z." and the month
abbreviations ("Jun." as in "c-Jun.") are dropped.

Use it with ``[nlp.tokenizer] @tokenizers = "bioner.BioTokenizer.v1"``;
``scripts/tokenizer_alignment.py`` measures how many brat gold entities fall
on token boundaries with it and with spaCy's default rules.
"""
from typing import Callable

from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.util import compile_infix_regex, compile_suffix_regex, registry

ALNUM = r"[A-Za-z0-9\u00C0-\u024F\u0370-\u03FF]"
BIO_INFIXES = [
    rf"(?<={ALNUM})[-\u2013](?={ALNUM})",
    rf"(?<={ALNUM})[/+:=,](?={ALNUM})",
    r"(?<=\S)[()\[\]](?=\S)",
    rf"(?<={ALNUM})\.(?=[A-Za-z(])",
]
BIO_SUFFIXES = [r"(?<=[A-Z])\.", rf"(?<={ALNUM})[-\u2013]"]
MONTHS = ("Jan.", "Feb.", "Mar.", "Apr.", "Jun.", "Jul.", "Aug.", "Sep.", "Sept.", "Oct.", "Nov.", "Dec.")


def is_dropped_rule(chunk: str) -> bool:
    return (len(chunk) == 2 and chunk[0].isupper() and chunk[1] == ".") or chunk in MONTHS


BIO_TOKENIZER = "bioner.BioTokenizer.v1"


@registry.tokenizers(BIO_TOKENIZER)
def create_bio_tokenizer() -> Callable[[Language], Tokenizer]:
    default = registry.tokenizers.get("spacy.Tokenizer.v1")()

    def make(nlp: Language) -> Tokenizer:
        tokenizer = default(nlp)
        tokenizer.infix_finditer = compile_infix_regex(list(nlp.Defaults.infixes or []) + BIO_INFIXES).finditer
        tokenizer.suffix_search = compile_suffix_regex(list(nlp.Defaults.suffixes or []) + BIO_SUFFIXES).search
        tokenizer.rules = {chunk: tokens for chunk, tokens in tokenizer.rules.items() if not is_dropped_rule(chunk)}
        return tokenizer

    return make
