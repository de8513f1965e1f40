"""Reader for brat standoff folders (``NAME.txt`` raw text beside ``NAME.ann``
with ``T1<TAB>TYPE START END[;START END...]<TAB>TEXT`` lines).

Tokenisation comes from the pipeline's tokenizer. An entity whose character
offsets do not fall on token boundaries cannot be a token-level gold span: it
is left out of the doc and reported in the :class:`AlignmentReport`, never
dropped silently.

Every aligned entity goes to ``doc.spans["bioner_grid"]``, nested and
discontinuous ones included (a discontinuous entity as its full range, with
its pieces in ``span._.fragments``); ``doc.ents`` keeps the longest
non-overlapping ones, discontinuous ones as their full range.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, List, Tuple, Union

from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from ..extensions import GRID_SPANS_KEY, merge_ranges, set_group_fragments
from .errors import CorpusFormatError, require_exists


@dataclass
class BratEntity:
    id: str
    label: str
    fragments: List[Tuple[int, int]]
    line: int

    @property
    def start(self) -> int:
        return self.fragments[0][0]

    @property
    def end(self) -> int:
        return self.fragments[-1][1]


@dataclass
class AlignmentReport:
    """What a brat conversion could not turn into token-level entities."""

    n_entities: int = 0
    misaligned: List[str] = field(default_factory=list)
    overlapping: List[str] = field(default_factory=list)
    discontinuous: int = 0

    def summary(self, max_examples: int = 5) -> str:
        lines = [
            f"{self.n_entities} entities read; {len(self.misaligned)} not aligned to token "
            f"boundaries and left out; {len(self.overlapping)} overlapping another entity and left "
            f"out of doc.ents (kept in doc.spans['bioner_grid']); {self.discontinuous} discontinuous (their full range in "
            f"doc.ents, their fragments in doc.spans['bioner_grid'])"
        ]
        for kind, examples in (("misaligned", self.misaligned), ("overlapping", self.overlapping)):
            for example in examples[:max_examples]:
                lines.append(f"  {kind}: {example}")
        return "\n".join(lines)


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise CorpusFormatError(path, f"not valid UTF-8 ({err.reason} at byte {err.start})", line) from None


def read_ann(path: Path, text: str) -> List[BratEntity]:
    """Parse the text-bound annotations (``T`` lines) of an ``.ann`` file;
    other annotation kinds (relations, events, notes) are skipped."""
    entities = []
    for line_no, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.startswith("T"):
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise CorpusFormatError(path, f"expected 'ID<TAB>TYPE START END<TAB>TEXT': {line!r}", line_no)
        type_and_offsets = parts[1].split(" ", 1)
        if len(type_and_offsets) != 2:
            raise CorpusFormatError(path, f"missing offsets: {line!r}", line_no)
        label, offsets = type_and_offsets
        fragments = []
        for fragment in offsets.split(";"):
            try:
                start, end = (int(x) for x in fragment.split())
            except ValueError:
                raise CorpusFormatError(path, f"bad offsets {offsets!r}", line_no) from None
            if not 0 <= start < end <= len(text):
                raise CorpusFormatError(
                    path,
                    f"offsets {start}-{end} fall outside the text ({len(text)} characters)",
                    line_no,
                )
            fragments.append((start, end))
        entities.append(BratEntity(parts[0], label, sorted(fragments), line_no))
    return entities


def brat_files(directory: Union[str, Path]) -> List[Path]:
    """The ``.txt`` files of a brat folder that have an ``.ann`` beside them."""
    directory = require_exists(directory, "brat folder")
    if not directory.is_dir():
        raise CorpusFormatError(directory, "is not a folder of .txt/.ann files")
    texts = sorted(directory.glob("*.txt"))
    if not texts:
        raise CorpusFormatError(directory, "no .txt files")
    for txt in texts:
        if not txt.with_suffix(".ann").exists():
            raise CorpusFormatError(txt.with_suffix(".ann"), "missing: every .txt needs its .ann")
    return texts


def brat_to_docs(
    make_doc: Callable[[str], Doc],
    directory: Union[str, Path],
    dataset: str = None,
    report: AlignmentReport = None,
    limit: int = 0,
) -> Iterator[Doc]:
    """One Doc per document (``.txt`` file), tokenised by ``make_doc``, with the
    aligned entities in ``doc.ents``; misalignments go to ``report``."""
    report = report if report is not None else AlignmentReport()
    for i, txt in enumerate(brat_files(directory)):
        if limit and i >= limit:
            break
        text = read_text(txt)
        ann = txt.with_suffix(".ann")
        doc = make_doc(text)
        spans, fragments = [], []
        for entity in read_ann(ann, text):
            report.n_entities += 1
            pieces = [doc.char_span(start, end, alignment_mode="strict") for start, end in entity.fragments]
            if any(piece is None for piece in pieces):
                report.misaligned.append(
                    f"{ann}:{entity.line} {entity.label} {text[entity.start:entity.end]!r} "
                    f"({';'.join(f'{s}-{e}' for s, e in entity.fragments)})"
                )
                continue
            spans.append(Span(doc, pieces[0].start, pieces[-1].end, label=entity.label))
            fragments.append(merge_ranges([(piece.start, piece.end) for piece in pieces]))
            if len(fragments[-1]) > 1:  # pieces split only by whitespace make one fragment
                report.discontinuous += 1
        kept = filter_spans(spans)
        for span in set(spans) - set(kept):
            report.overlapping.append(f"{ann} {span.label_} {span.text!r} ({span.start_char}-{span.end_char})")
        doc.ents = kept
        doc.spans[GRID_SPANS_KEY] = spans
        set_group_fragments(doc, GRID_SPANS_KEY, fragments)
        doc._.dataset = dataset
        yield doc
