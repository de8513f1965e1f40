"""Reader for two-column IOB/IOB2 files (``TOKEN<TAB>TAG``, blank line between
sentences, ``-DOCSTART-`` lines as document breaks), the format of the
MTL-Bioinformatics-2016 corpora, and for its part-of-speech file (GENIA-pos)."""
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

from spacy.tokens import Doc
from spacy.vocab import Vocab

from .errors import CorpusFormatError, require_exists

TAG_PATTERN = re.compile(r"^(O|[BI]-\S+)$")
DOCSTART = "-DOCSTART-"


@dataclass
class IOBSentence:
    words: List[str]
    tags: List[str]
    line: int  # 1-based line number of the sentence's first token


def read_columns(path: Union[str, Path]) -> Iterator[List[Tuple[str, str, int]]]:
    """Yield the sentences of a two-column file (``TOKEN<TAB>LABEL``, blank
    lines between sentences, ``-DOCSTART-`` lines as breaks) as lists of
    (token, label, 1-based line number), validating the format of every line:
    UTF-8, one separator (a tab, or a space) throughout, two columns, nothing empty."""
    path = require_exists(path)
    if path.is_dir():
        raise CorpusFormatError(path, "is a directory, expected a two-column file")
    separator: Optional[str] = None
    rows: List[Tuple[str, str, int]] = []
    n_sentences = 0
    with path.open("rb") as stream:
        for line_no, raw in enumerate(stream, start=1):
            try:
                line = raw.decode("utf8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise CorpusFormatError(
                    path, f"not valid UTF-8 ({err.reason} at byte {err.start})", line_no
                ) from None
            if not line.strip() or line.split()[0] == DOCSTART:
                if rows:
                    n_sentences += 1
                    yield rows
                rows = []
                continue
            if separator is None:
                separator = "\t" if "\t" in line else " "
            other = " " if separator == "\t" else "\t"
            if other == "\t" and "\t" in line:
                raise CorpusFormatError(
                    path, "mixed tab/space separators: this line has a tab, earlier lines use spaces", line_no
                )
            if other == " " and "\t" not in line and " " in line:
                raise CorpusFormatError(
                    path, "mixed tab/space separators: this line has no tab, earlier lines use tabs", line_no
                )
            columns = line.split(separator) if separator in line else [line]
            if len(columns) != 2:
                raise CorpusFormatError(
                    path, f"expected 2 columns (TOKEN, TAG), found {len(columns)}: {line!r}", line_no
                )
            word, tag = columns[0], columns[1].strip()
            if not word:
                raise CorpusFormatError(path, "empty token", line_no)
            if not tag:
                raise CorpusFormatError(path, "empty tag", line_no)
            rows.append((word, tag, line_no))
    if rows:
        n_sentences += 1
        yield rows
    if n_sentences == 0:
        raise CorpusFormatError(path, "no sentences: the file is empty")


def read_iob(path: Union[str, Path], scheme: str = "IOB2") -> Iterator[IOBSentence]:
    """Yield the sentences of an IOB file, validating every line.

    scheme: "IOB2" (every entity starts with B-; an I-X that does not continue
    an X entity is an error) or "IOB1" (an I-X that opens an entity is read as
    B-X). Tokens and tags are separated by one tab or one space, the same one
    throughout the file.
    """
    if scheme not in ("IOB1", "IOB2"):
        raise ValueError(f"Unknown IOB scheme {scheme!r}: use 'IOB1' or 'IOB2'")
    for rows in read_columns(path):
        words: List[str] = []
        tags: List[str] = []
        for word, tag, line_no in rows:
            if not TAG_PATTERN.match(tag):
                raise CorpusFormatError(path, f"tag {tag!r} is not O, B-TYPE or I-TYPE", line_no)
            if tag.startswith("I-"):
                previous = tags[-1] if tags else "O"
                if previous == "O" or previous[2:] != tag[2:]:
                    if scheme == "IOB2":
                        raise CorpusFormatError(
                            path,
                            f"{tag} after {previous if tags else 'sentence start'}: an IOB2 entity must start with B-",
                            line_no,
                        )
                    tag = "B-" + tag[2:]
            words.append(word)
            tags.append(tag)
        yield IOBSentence(words, tags, rows[0][2])


def pos_to_docs(vocab: Vocab, path: Union[str, Path], limit: int = 0) -> Iterator[Doc]:
    """One Doc per sentence of a ``TOKEN<TAB>POS`` file (GENIA-pos), with
    ``token.tag_`` set: the training data of a part-of-speech tagger.

    limit: stop after this many sentences (0 = all).
    """
    for i, rows in enumerate(read_columns(path)):
        if limit and i >= limit:
            break
        words = [word for word, _, _ in rows]
        yield Doc(vocab, words=words, spaces=[True] * (len(words) - 1) + [False], tags=[tag for _, tag, _ in rows])


def iob_to_docs(
    vocab: Vocab,
    path: Union[str, Path],
    dataset: Optional[str] = None,
    scheme: str = "IOB2",
    limit: int = 0,
) -> Iterator[Doc]:
    """One Doc per sentence, with gold entities and ``doc._.dataset`` set.

    limit: stop after this many sentences (0 = all).
    """
    for i, sentence in enumerate(read_iob(path, scheme=scheme)):
        if limit and i >= limit:
            break
        spaces = [True] * (len(sentence.words) - 1) + [False]
        doc = Doc(vocab, words=sentence.words, spaces=spaces, ents=sentence.tags)
        doc._.dataset = dataset
        yield doc


def dataset_name(corpus_dir: Union[str, Path]) -> str:
    """``BC5CDR-chem-IOB`` -> ``BC5CDR-chem``: the name the docs carry."""
    name = Path(corpus_dir).name
    return name[: -len("-IOB")] if name.endswith("-IOB") else name
