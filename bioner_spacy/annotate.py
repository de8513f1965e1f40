"""Annotating raw text with a loaded pipeline: the inputs (plain text files,
JSONL with a "text" field, folders of brat ``.txt`` files) read as a stream
of records, and the outputs (JSONL with character offsets, or brat ``.ann``)
written from the annotated docs.

Inputs are read lazily, one record at a time, and (in one process)
annotated inside spaCy's memory zones (``pipe_in_memory_zones``), so memory
does not grow with the input. A JSONL line that cannot be read is reported through ``on_error``
(file, line, reason) and skipped; the other lines go on.
"""
import json
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, TextIO, Tuple

from spacy.tokens import Doc

from .extensions import ALL_SPANS_KEY

ErrorHandler = Callable[[str], None]


@dataclass
class Record:
    id: str  # a file name, or FILE:LINE / the JSONL "id"
    text: str
    dataset: Optional[str] = None


def parse_jsonl_line(line: str, where: str) -> Tuple[Optional[Record], Optional[str]]:
    """(the record, None) of one JSONL line, or (None, why it is not one)."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        return None, f"{where}: not JSON ({err.msg} at column {err.colno})"
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return None, f"{where}: expected an object with a string \"text\" field"
    dataset = obj.get("dataset")
    if dataset is not None and not isinstance(dataset, str):
        return None, f"{where}: \"dataset\" must be a string, got {dataset!r}"
    return Record(str(obj.get("id", where)), obj["text"], dataset), None


def read_jsonl(path: Path, on_error: ErrorHandler) -> Iterator[Record]:
    with path.open("r", encoding="utf8", errors="replace", newline="\n") as stream:
        for line_no, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            record, problem = parse_jsonl_line(line, f"{path}:{line_no}")
            if record is None:
                on_error(problem)
            else:
                yield record


def dataset_check(nlp) -> Callable[[Optional[str]], None]:
    """A function raising ValueError (naming the known datasets) when a
    dataset tag is unknown to one of ``nlp``'s NER components; None passes."""
    checks = [pipe.require_dataset for _, pipe in nlp.pipeline if hasattr(pipe, "require_dataset")]

    def check(name: Optional[str]) -> None:
        for require in checks if name is not None else []:
            require(name)

    return check


# docs per memory zone of a stream: the zone's own strings are freed at its end
ZONE_DOCS = 1000


def pipe_in_memory_zones(nlp, items: Iterable, zone_docs: int = ZONE_DOCS, **pipe_kwargs) -> Iterator:
    """``nlp.pipe(items, **pipe_kwargs)``, ``zone_docs`` items at a time, each
    group inside ``nlp.memory_zone()``. spaCy keeps every string and lexeme a
    text adds to the vocab for the life of the pipeline, so over a stream of
    distinct text (PubMed) memory grows with the vocabulary read; a zone frees
    what its texts added when it ends. The items are drawn lazily from
    ``items`` inside the zone, so a stream of docs made by ``nlp.make_doc``
    is tokenized inside it too, and no more than ``nlp.pipe`` holds is in
    memory at once. The caller's loop body runs inside the zone: a yielded
    doc is valid only until the next one is asked for (use or copy it
    before), and strings the caller adds meanwhile are freed too. Zones do
    not nest (spaCy): inside one already, this is the plain stream.
    ``zone_docs`` 0: one plain ``nlp.pipe`` stream, no zones."""
    if zone_docs <= 0 or nlp.vocab.in_memory_zone:
        yield from nlp.pipe(items, **pipe_kwargs)
        return
    stream = iter(items)
    while True:
        with memory_zone(nlp):
            first = next(stream, _END)
            if first is _END:
                return
            yield from nlp.pipe(chain([first], islice(stream, zone_docs - 1)), **pipe_kwargs)


_END = object()


@contextmanager
def memory_zone(nlp, wanted: bool = True) -> Iterator[None]:
    """``nlp.memory_zone()`` where wanted, unless one is open already (spaCy's
    zones do not nest: the caller's zone frees these strings too)."""
    with nlp.memory_zone() if wanted and not nlp.vocab.in_memory_zone else nullcontext():
        yield


def zones_change_output(nlp) -> bool:
    """Whether a stream cut into zones annotates differently from one whole
    stream: a component says so (``reads_earlier_docs``: it carries context
    from doc to doc within an ``nlp.pipe`` stream)."""
    return any(getattr(pipe, "reads_earlier_docs", False) for _, pipe in nlp.pipeline)


def read_text(path: Path) -> Record:
    return Record(path.name, path.read_text(encoding="utf8", errors="replace"))


def read_inputs(paths: Iterable[Path], on_error: ErrorHandler) -> Iterator[Record]:
    """Records of every input: a ``.jsonl`` file gives one per line, a folder
    one per ``.txt`` file in it (a brat folder's texts), any other file one."""
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"input does not exist: {path}")
        if path.is_dir():
            texts = sorted(path.glob("*.txt"))
            if not texts:
                on_error(f"{path}: no .txt files in this folder")
            for text_path in texts:
                yield Record(text_path.stem, read_text(text_path).text)
        elif path.suffix == ".jsonl":
            yield from read_jsonl(path, on_error)
        else:
            yield read_text(path)


def doc_entities(doc: Doc) -> List[Dict]:
    """``doc.ents`` as character offsets."""
    return [
        {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text}
        for e in doc.ents
    ]


def doc_record(record: Record, doc: Doc) -> Dict:
    """One JSONL output line: the entities, the dataset tag used, and in
    "all" mode every tag's entities with the tag that produced each."""
    out = {"id": record.id, "dataset": doc._.dataset, "entities": doc_entities(doc)}
    if ALL_SPANS_KEY in doc.spans:
        out["spans"] = [
            {"start": s.start_char, "end": s.end_char, "label": s.label_, "text": s.text, "dataset": s._.dataset}
            for s in doc.spans[ALL_SPANS_KEY]
        ]
    return out


def write_jsonl_line(stream: TextIO, record: Record, doc: Doc) -> None:
    stream.write(json.dumps(doc_record(record, doc), ensure_ascii=False) + "\n")


def brat_lines(doc: Doc) -> List[str]:
    """``T1<TAB>LABEL START END<TAB>TEXT`` lines of ``doc.ents``; an entity's
    text never holds a newline (brat's line format), so such spans are
    written as fragments around it."""
    lines = []
    for i, ent in enumerate(doc.ents, start=1):
        fragments, start = [], ent.start_char
        for piece in ent.text.split("\n"):
            if piece:
                fragments.append((start, start + len(piece)))
            start += len(piece) + 1
        offsets = ";".join(f"{s} {e}" for s, e in fragments)
        text = " ".join(doc.text[s:e] for s, e in fragments)
        lines.append(f"T{i}\t{ent.label_} {offsets}\t{text}")
    return lines


def brat_name(record_id: str) -> str:
    """A file name for a record: its id with anything but letters, digits,
    "-", "_" and "." replaced."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in record_id).lstrip(".") or "doc"


def write_brat(folder: Path, name: str, doc: Doc) -> None:
    """NAME.txt (the text, unchanged) and NAME.ann in ``folder``."""
    (folder / f"{name}.txt").write_text(doc.text, encoding="utf8")
    lines = brat_lines(doc)
    (folder / f"{name}.ann").write_text("".join(line + "\n" for line in lines), encoding="utf8")
