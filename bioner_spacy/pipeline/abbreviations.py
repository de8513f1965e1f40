"""The ``bioner_abbreviations`` component: a short form takes the type of the
long form it abbreviates.

Biomedical text defines an abbreviation once, "atrial fibrillation (AF)",
and then writes the short form alone. A tagger that reads one sentence at a
time misses most of those short forms: on BC5CDR's dev split, 524 of the
1,283 entities the converged CFA-dep model missed look like abbreviations,
and 395 of them are defined, after a gold entity of their type, in their own
sentence or one of the 15 before (scripts/abbreviation_misses.py; readings in
docs/README.md). This component runs after
the entity recogniser and does, for each definition "LF ( SF )" it finds:

- the predicted entities decide what SF is: an entity of type T that ends
  right before "(" and lies inside the long form makes SF a T; no entity
  touching the long form makes SF "not an entity"; an entity that touches
  the long form without ending before "(" leaves SF undecided (no change);
- every occurrence of SF's tokens (the one in parentheses too) that no
  entity overlaps becomes an entity of type T; with ``remove_undefined``,
  every entity that is exactly an occurrence of a not-an-entity SF is
  removed ("bispectral index (BIS)": BIS is no chemical).

Long forms are found as Schwartz and Hearst (2003, "A simple algorithm for
identifying abbreviation definitions in biomedical text") find them: the
short form is 2 to 10 characters with a letter, starting with a letter or
digit, of at most two words; its letters and digits are matched right to
left in the tokens before the parenthesis, the first one at the start of a
word, within min(|SF| + 5, 2|SF|) tokens of its sentence (|SF| its letters
and digits; punctuation tokens count, whitespace tokens do not); the long
form must be longer than the short form and not contain it as a token.
Only the "LF (SF)" pattern is read, not "SF (LF)".

A doc is its own context: the pipeline over a whole abstract resolves each
short form from its definition anywhere in the abstract. ``context`` adds
the definitions of the previous ``context`` docs of the same ``nlp.pipe``
stream, for text that comes one sentence per doc in reading order (the
corpora here). Docs of different documents in one stream then share
definitions for ``context`` docs, so keep it small or 0 there; with
``nlp.pipe(..., n_process=N)`` for N > 1, spaCy hands each batch to the
component on its own, so the context reaches back within a batch
(``batch_size`` docs) only. Only ``doc.ents`` changes (not a multi-task model's
``doc.spans["bioner"]``).
"""
from collections import deque
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span

NOT_AN_ENTITY = ""  # a short form whose long form is not an entity
MAX_SHORT_WORDS = 2
MAX_SHORT_CHARS = 10
MAX_SHORT_TOKENS = 4  # "D - MED": the corpora split hyphens off


@Language.factory("bioner_abbreviations", default_config={"context": 0, "remove_undefined": True})
def make_abbreviations(nlp: Language, name: str, context: int, remove_undefined: bool) -> "Abbreviations":
    """context: previous docs of a stream whose definitions also apply (0: each
    doc alone). remove_undefined: drop entities that are occurrences of a short
    form whose long form is not an entity."""
    return Abbreviations(name, context=context, remove_undefined=remove_undefined)


def is_short_form(tokens: Tuple[str, ...]) -> bool:
    """2 to 10 characters (the tokens joined: the corpora split hyphens off,
    "D - MED"), at most two words with letters or digits, a letter among
    them, a letter or digit first."""
    text = "".join(tokens)
    words = [t for t in tokens if any(c.isalnum() for c in t)]
    return (2 <= len(text) <= MAX_SHORT_CHARS and text[0].isalnum() and any(c.isalpha() for c in text)
            and len(words) <= MAX_SHORT_WORDS)


def long_form_start(short: str, words: List[str]) -> Optional[int]:
    """The index in ``words`` (the words before the parenthesis) where the long
    form of ``short`` starts, or None: Schwartz and Hearst's right-to-left
    match of the short form's letters and digits, the first one at a word start."""
    text = " ".join(words)
    s, l = len(short) - 1, len(text) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        # the short form's first character must start a word of the long form
        while l >= 0 and (text[l].lower() != c or (s == 0 and l > 0 and text[l - 1].isalnum())):
            l -= 1
        if l < 0:
            return None
        s -= 1
        l -= 1
    start_char = text.rfind(" ", 0, l + 1) + 1
    return text[:start_char].count(" ")  # words before the long form


def find_definitions(doc: Doc) -> List[Tuple[Tuple[str, ...], int, int]]:
    """Each "LF ( SF )" of the doc as (SF's token texts, LF's first token,
    the token after LF's last: "(" unless whitespace tokens come between)."""
    found = []
    for i, token in enumerate(doc):
        if token.text != "(":
            continue
        close = next((j for j in range(i + 2, min(i + 2 + MAX_SHORT_TOKENS, len(doc))) if doc[j].text == ")"), None)
        if close is None:
            continue
        short_tokens = tuple(t.text for t in doc[i + 1:close] if not t.is_space)
        if not short_tokens or not is_short_form(short_tokens):
            continue
        short = "".join(short_tokens)
        n_chars = sum(c.isalnum() for c in short)
        sentence_start = doc[i].sent.start if doc.has_annotation("SENT_START") else 0
        # the tokens before "(" in its sentence, whitespace tokens left out, at most min(|SF| + 5, 2|SF|)
        before = [t for t in doc[sentence_start:i] if not t.is_space][-min(n_chars + 5, 2 * n_chars):]
        if not before or before[-1].text in ("(", ")"):
            continue
        words = [t.text for t in before]
        start = long_form_start(short, words)
        if start is None:
            continue
        long_words = words[start:]
        # Schwartz and Hearst's checks: the long form is longer than the short form and does not contain it
        if len("".join(long_words)) <= len(short) or short.lower() in (w.lower() for w in long_words):
            continue
        found.append((short_tokens, before[start].i, before[-1].i + 1))
    return found


def definitions_by_type(doc: Doc) -> Dict[Tuple[str, ...], str]:
    """What each short form defined in the doc is, from the predicted entities:
    a type, or NOT_AN_ENTITY. Undecided short forms are left out."""
    resolved = {}
    for short, lf_start, lf_end in find_definitions(doc):
        touching = [e for e in doc.ents if e.start < lf_end and e.end > lf_start]
        ending = [e for e in touching if e.end == lf_end and e.start >= lf_start]
        if ending:
            resolved[short] = ending[-1].label_
        elif not touching:
            resolved[short] = NOT_AN_ENTITY
    return resolved


def occurrences(doc: Doc, short: Tuple[str, ...]) -> Iterator[Tuple[int, int]]:
    n = len(short)
    for i in range(len(doc) - n + 1):
        if doc[i].text == short[0] and tuple(t.text for t in doc[i:i + n]) == short:
            yield i, i + n


def apply_definitions(doc: Doc, definitions: Dict[Tuple[str, ...], str], remove_undefined: bool) -> Doc:
    """Label the unlabelled occurrences of each defined short form, and (with
    remove_undefined) drop entities that are a not-an-entity short form."""
    ents = list(doc.ents)
    taken = {i for e in ents for i in range(e.start, e.end)}
    exact = {(e.start, e.end): e for e in ents}
    for short, label in definitions.items():
        for start, end in occurrences(doc, short):
            if label == NOT_AN_ENTITY:
                if remove_undefined and (start, end) in exact:
                    ents.remove(exact.pop((start, end)))
                    taken.difference_update(range(start, end))
            elif not taken.intersection(range(start, end)):
                ents.append(Span(doc, start, end, label=label))
                taken.update(range(start, end))
    doc.ents = sorted(ents, key=lambda e: e.start)
    return doc


class Abbreviations:
    def __init__(self, name: str = "bioner_abbreviations", context: int = 0, remove_undefined: bool = True):
        if context < 0:
            raise ValueError(f"bioner_abbreviations: context must be 0 or more docs, got {context}")
        self.name = name
        self.context = context
        self.remove_undefined = remove_undefined

    @property
    def reads_earlier_docs(self) -> bool:
        """Whether a doc's annotation depends on the docs before it in the
        ``pipe`` stream (a stream cut in pieces annotates differently)."""
        return self.context > 0

    def __call__(self, doc: Doc) -> Doc:
        return apply_definitions(doc, definitions_by_type(doc), self.remove_undefined)

    def pipe(self, stream: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        earlier: deque = deque(maxlen=self.context)  # maxlen 0 keeps nothing: each doc alone
        for doc in stream:
            own = definitions_by_type(doc)
            definitions = {}
            for previous in earlier:  # oldest first: a later definition wins
                definitions.update(previous)
            definitions.update(own)
            earlier.append(own)
            yield apply_definitions(doc, definitions, self.remove_undefined)
