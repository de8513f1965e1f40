"""Unlabelled biomedical text -> pretraining input, with every paragraph that
shares a long word sequence with an evaluation split removed.

The filter (``ContaminationFilter``) reads the sentences of the splits we
evaluate on (IOB ``TOKEN<TAB>TAG`` files, or brat folders of ``.txt``) and
keeps the set of their word n-grams (``n`` words, 12 by default). A
paragraph of the unlabelled text is dropped when any of its n-grams is in
that set. Words are compared in a normal form that survives the
preprocessing SumPubMed's authors applied to their part of the text
(lower-cased, numbers replaced by ``<dig>``, citations by ``<cit>``): lower
case, runs of letters or digits only, every number one symbol, ``<cit>``
gone. Punctuation and tokenisation differences therefore never hide a
match. A sequence of mostly numbers and one-letter words ("0 mm tris 0 0
0 0 ...", from a table or a buffer recipe) says nothing about where a
paragraph comes from: only sequences with at least half their words made
of two or more letters are indexed.

Kept paragraphs are tokenised with a spaCy tokenizer, lower-cased (part of
the text is lower-cased at the source, so the vectors are keyed by LOWER),
and written one paragraph per line: the input of floret (``vectors.py``)
and, as JSONL, of ``spacy pretrain``.
"""
import gzip
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

WORD = re.compile(r"[^\W_]+")
NUMBER = re.compile(r"\d")
DEFAULT_NGRAM = 12
# markers SumPubMed's authors put in place of numbers and citations
SOURCE_MARKERS = {"<dig>": " 0 ", "<cit>": " "}


def normal_words(text: str) -> List[str]:
    """The words of ``text`` as the filter compares them: lower-cased runs of
    letters or digits, every number (any run with a digit) as "0"."""
    text = text.lower()
    for marker, replacement in SOURCE_MARKERS.items():
        text = text.replace(marker, replacement)
    return ["0" if NUMBER.search(w) else w for w in WORD.findall(text)]


def ngrams(words: Sequence[str], n: int) -> Iterator[Tuple[str, ...]]:
    return zip(*(words[i:] for i in range(n)))


def informative(gram: Tuple[str, ...]) -> bool:
    """Whether at least half the words of an n-gram have two or more letters."""
    return 2 * sum(1 for w in gram if len(w) > 1 and w.isalpha()) >= len(gram)


def informative_ngrams(words: Sequence[str], n: int) -> Iterator[Tuple[str, ...]]:
    """The n-grams of ``words`` that are ``informative``, found with a running
    count of the long alphabetic words (one pass, not one per n-gram)."""
    long_words = [0]
    for w in words:
        long_words.append(long_words[-1] + (len(w) > 1 and w.isalpha()))
    for i in range(len(words) - n + 1):
        if 2 * (long_words[i + n] - long_words[i]) >= n:
            yield tuple(words[i:i + n])


def read_iob_sentences(path: Path) -> Iterator[str]:
    """The sentences of an IOB file (``TOKEN<TAB>TAG``, blank line between
    sentences, ``-DOCSTART-`` lines skipped), tokens joined by spaces."""
    tokens: List[str] = []
    with open(path, encoding="utf8") as f:
        for line in f:
            token = line.split("\t", 1)[0].strip()
            if not token or token.startswith("-DOCSTART-"):
                if tokens:
                    yield " ".join(tokens)
                tokens = []
            else:
                tokens.append(token)
    if tokens:
        yield " ".join(tokens)


def read_evaluation_text(path: Path) -> Iterator[str]:
    """The text of an evaluation split: an IOB ``.tsv`` file, a ``.txt``
    file, or a folder of them (brat standoff: its ``.txt`` files)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"evaluation split not found: {path}")
    files = sorted(p for p in path.rglob("*") if p.suffix in (".tsv", ".txt")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: no .tsv or .txt files to read evaluation text from")
    for file in files:
        if file.suffix == ".tsv":
            yield from read_iob_sentences(file)
        else:
            yield from file.read_text(encoding="utf8").splitlines()


class ContaminationFilter:
    """Whether a paragraph shares an ``n``-word sequence with the evaluation
    text it was built from. The evaluation texts are read as one stream, so
    a sequence across two consecutive sentences counts too; a text of
    ``n // 2`` to ``n - 1`` words (a title, say) is matched whole, against a
    paragraph of exactly its words. Shorter ones are not: they are headings
    ("Results", "Materials and methods") that every article has."""

    def __init__(self, texts: Iterable[str], n: int = DEFAULT_NGRAM):
        if n < 1:
            raise ValueError(f"n-gram length must be at least 1, got {n}")
        self.n = n
        self.grams: Set[Tuple[str, ...]] = set()
        self.short: Set[Tuple[str, ...]] = set()
        window: List[str] = []  # the last n - 1 words, to join consecutive texts
        for text in texts:
            words = normal_words(text)
            if n // 2 <= len(words) < n and informative(tuple(words)):
                self.short.add(tuple(words))
            stream = window + words
            self.grams.update(informative_ngrams(stream, n))
            window = stream[-(n - 1):] if n > 1 else []

    @classmethod
    def from_paths(cls, paths: Iterable[Path], n: int = DEFAULT_NGRAM) -> "ContaminationFilter":
        paths = list(paths)
        if not paths:
            raise ValueError("no evaluation splits given: the filter needs the test text it guards against")
        return cls((t for p in paths for t in read_evaluation_text(p)), n)

    def overlaps(self, paragraph: str) -> bool:
        words = normal_words(paragraph)
        return tuple(words) in self.short or not self.grams.isdisjoint(ngrams(words, self.n))


@dataclass
class TextReport:
    files: int = 0
    paragraphs: int = 0
    removed: int = 0
    empty: int = 0  # no tokens left after tokenisation
    kept: int = 0
    words_kept: int = 0

    def add(self, other: "TextReport") -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)


def read_paragraphs(path: Path) -> Iterator[str]:
    """The paragraphs of one unlabelled file (plain or ``.gz`` UTF-8, one
    paragraph per line, blank lines between documents)."""
    opener = gzip.open if path.suffix == ".gz" else open
    count = 0
    try:
        with opener(path, "rt", encoding="utf8") as f:
            for line in f:
                line = line.strip()
                if line:
                    count += 1
                    yield line
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as err:
        raise ValueError(f"{path}: cannot read it as UTF-8 text, gzip-compressed or plain "
                         f"(after {count} paragraphs): {err}") from None


def unlabelled_files(folder: Path) -> List[Path]:
    """The text files of an unlabelled-text folder (``*.txt``, ``*.txt.gz``),
    or an error that names the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"unlabelled text folder not found: {folder} (point --unlabelled or the project variable "
            "unlabelled_dir at a folder of .txt or .txt.gz files, one paragraph per line)")
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".txt", ".txt.gz")))
    if not files:
        raise ValueError(f"{folder}: no .txt or .txt.gz files of unlabelled text")
    return files


def clean_file(
    path: Path,
    keep: Callable[[str], bool],
    tokenize: Callable[[str], List[str]],
    write: Callable[[List[str]], None],
    max_words: int = 0,
) -> TextReport:
    """Filter and tokenise one file's paragraphs; ``write`` gets the tokens of
    each kept paragraph. ``max_words`` > 0 stops after that many words."""
    report = TextReport(files=1)
    for paragraph in read_paragraphs(path):
        report.paragraphs += 1
        if not keep(paragraph):
            report.removed += 1
            continue
        tokens = tokenize(paragraph)
        if not tokens:
            report.empty += 1
            continue
        write(tokens)
        report.kept += 1
        report.words_kept += len(tokens)
        if max_words and report.words_kept >= max_words:
            break
    return report


def spacy_tokenize(lang: str = "en") -> Callable[[str], List[str]]:
    """Lower-cased tokens of spaCy's rule-based tokenizer for ``lang``
    (the tokens the vectors will be looked up with), whitespace dropped."""
    import spacy

    tokenizer = spacy.blank(lang).tokenizer

    def tokenize(text: str) -> List[str]:
        for marker, replacement in SOURCE_MARKERS.items():
            text = text.replace(marker, replacement)
        return [t.lower_ for t in tokenizer(text) if not t.is_space]

    return tokenize


_loaded_filter: dict = {}


def _clean_one(args) -> Tuple[Path, TextReport]:
    path, part, filter_file, max_words = args
    import pickle

    if _loaded_filter.get("file") != filter_file:  # once per worker process, not once per file
        _loaded_filter.update(file=filter_file, filter=pickle.loads(filter_file.read_bytes()))
    filter_ = _loaded_filter["filter"]
    tokenize = spacy_tokenize()
    with open(part, "w", encoding="utf8") as out:
        report = clean_file(path, lambda p: not filter_.overlaps(p), tokenize,
                            lambda tokens: out.write(" ".join(tokens) + "\n"), max_words)
    return part, report


def prepare_text(
    files: Sequence[Path],
    evaluation: Sequence[Path],
    output: Path,
    n: int = DEFAULT_NGRAM,
    jobs: int = 1,
    max_words_per_file: int = 0,
    log: Optional[Callable[[str], None]] = None,
) -> TextReport:
    """Every file's kept paragraphs, tokenised, into ``output`` (one paragraph
    per line), written in place only when every file is done; ``jobs``
    files at a time. Returns the counts."""
    import pickle
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    from ..io import atomic_path

    log = log or (lambda message: print(message, file=sys.stderr))
    filter_ = ContaminationFilter.from_paths(evaluation, n)
    log(f"filter: {len(filter_.grams):,} distinct {n}-word sequences from {len(evaluation)} evaluation split(s)")
    total = TextReport()
    with tempfile.TemporaryDirectory(dir=Path(output).parent if Path(output).parent.exists() else None) as tmp:
        filter_file = Path(tmp) / "filter.pkl"
        filter_file.write_bytes(pickle.dumps(filter_))
        tasks = [(Path(f), Path(tmp) / f"part{i}.txt", filter_file, max_words_per_file) for i, f in enumerate(files)]
        with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            parts = []
            for (path, *_), (part, report) in zip(tasks, pool.map(_clean_one, tasks)):
                log(f"{path.name}: {report.paragraphs:,} paragraphs, {report.removed:,} removed "
                    f"(overlap with an evaluation split), {report.words_kept:,} words kept")
                total.add(report)
                parts.append(part)
        with atomic_path(output) as target, open(target, "w", encoding="utf8") as out:
            for part in parts:
                with open(part, encoding="utf8") as f:
                    for line in f:
                        out.write(line)
    return total


def write_pretrain_jsonl(text_file: Path, output: Path, limit: int = 0) -> int:
    """The prepared text as ``spacy pretrain`` input: one ``{"text": ...}``
    line per paragraph, the first ``limit`` paragraphs (0 = all). Returns the
    number of lines."""
    from ..io import atomic_path

    count = 0
    with atomic_path(output) as target, open(text_file, encoding="utf8") as f, open(target, "w", encoding="utf8") as out:
        for line in f:
            line = line.strip()
            if line:
                out.write(json.dumps({"text": line}) + "\n")
                count += 1
                if count == limit:
                    break
    return count
