"""The inputs of a collection run, split into shards of at most ``size``
records, and the records of one shard read back on their own (by the
process that annotates it, possibly on another machine).

Input kinds, by path:

- a folder: one record per ``.txt`` file in it (a brat folder's texts), id =
  the file's stem;
- ``.jsonl``: one record per non-empty line, ``{"text": ..., "id": ...,
  "dataset": ...}`` (id defaults to FILE:LINE); a shard starts at a byte
  offset, so reading it does not re-read the file before it;
- ``.parquet``: one record per row, columns ``text`` (required), ``id``,
  ``dataset``; a shard is a slice of one row group;
- ``.xml.gz`` / ``.xml``: PubMed/MEDLINE citation files (the baseline and
  update files): one record per ``PubmedArticle``, id = its PMID, text =
  the title, a blank line, then the abstract's paragraphs, one per line
  (``medline_text``);
- any other file: one record, its whole text, id = its file name.

A record that cannot be read (a bad JSONL line, a citation without a PMID)
is still a record of its shard, with the reason in ``error``: the output
then holds every input record exactly once, read or not.
"""
import gzip
import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, List, Optional

from ..annotate import Record, parse_jsonl_line


@dataclass
class Shard:
    index: int
    kind: str  # files | jsonl | parquet | medline
    count: int  # records in the shard
    path: str = ""  # the file (not for kind "files")
    start: int = 0  # first record: line number (jsonl), row in the row group (parquet), article (medline)
    offset: int = 0  # jsonl: byte offset of the first line; parquet: the row group
    files: List[str] = field(default_factory=list)  # kind "files": one record per file
    ids: List[str] = field(default_factory=list)  # kind "files": each file's record id

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Shard":
        return cls(**json.loads(text))


@dataclass
class CollectionRecord(Record):
    error: Optional[str] = None  # why the record could not be read


class InputError(ValueError):
    pass


def input_kind(path: Path) -> str:
    if path.is_dir():
        return "folder"
    name = path.name.lower()
    if name.endswith(".jsonl"):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".xml.gz") or name.endswith(".xml"):
        return "medline"
    return "text"


def plan_shards(inputs: Iterable[Path], size: int) -> List[Shard]:
    """Every input's records cut into shards of at most ``size`` records, in
    input order; text files and folders' ``.txt`` files are grouped ``size``
    files to a shard. Reads each input once (the counts and offsets)."""
    if size < 1:
        raise InputError(f"shard size must be at least 1, got {size}")
    shards: List[Shard] = []
    files: List[tuple] = []  # (path, record id)

    def add(kind: str, count: int, **where) -> None:
        shards.append(Shard(len(shards), kind, count, **where))

    def flush_files() -> None:
        for i in range(0, len(files), size):
            group = files[i:i + size]
            add("files", len(group), files=[f for f, _ in group], ids=[i for _, i in group])
        files.clear()

    for path in map(Path, inputs):
        if not path.exists():
            raise InputError(f"input does not exist: {path}")
        kind = input_kind(path)
        if kind in ("folder", "text"):
            # a folder's texts are named by their stems (brat: NAME.txt beside NAME.ann), a file by its name
            found = [(str(p), p.stem) for p in sorted(path.glob("*.txt"))] if kind == "folder" else [(str(path), path.name)]
            if not found:
                raise InputError(f"{path}: no .txt files in this folder")
            files.extend(found)
            continue
        flush_files()
        if kind == "jsonl":
            for start, offset, count in jsonl_spans(path, size):
                add("jsonl", count, path=str(path), start=start, offset=offset)
        elif kind == "parquet":
            for group, rows in enumerate(parquet_row_groups(path)):
                for start in range(0, rows, size):
                    add("parquet", min(size, rows - start), path=str(path), start=start, offset=group)
        else:
            n = sum(1 for _ in medline_articles(path))
            for start in range(0, n, size):
                add("medline", min(size, n - start), path=str(path), start=start)
    flush_files()
    return shards


def jsonl_spans(path: Path, size: int) -> Iterator[tuple]:
    """(first line number, byte offset, non-empty lines) of each run of
    ``size`` non-empty lines."""
    start = offset = count = 0
    position = 0
    with path.open("rb") as stream:
        for line_no, line in enumerate(stream, start=1):
            if line.strip():
                if count == 0:
                    start, offset = line_no, position
                count += 1
                if count == size:
                    yield start, offset, count
                    count = 0
            position += len(line)
    if count:
        yield start, offset, count


def read_shard(shard: Shard) -> Iterator[CollectionRecord]:
    """The shard's records, in order; exactly ``shard.count`` of them."""
    if shard.kind == "files":
        for name, record_id in zip(shard.files, shard.ids):
            try:
                text = Path(name).read_text(encoding="utf8", errors="replace")
            except OSError as err:
                yield CollectionRecord(record_id, "", error=f"cannot read {name}: {err}")
                continue
            yield CollectionRecord(record_id, text)
    elif shard.kind == "jsonl":
        yield from read_jsonl_shard(shard)
    elif shard.kind == "parquet":
        yield from read_parquet_shard(shard)
    elif shard.kind == "medline":
        for record in medline_records(Path(shard.path), shard.start, shard.count):
            yield record
    else:
        raise InputError(f"unknown shard kind {shard.kind!r}")


def read_jsonl_shard(shard: Shard) -> Iterator[CollectionRecord]:
    with open(shard.path, "rb") as stream:
        stream.seek(shard.offset)
        line_no, seen = shard.start - 1, 0
        for raw in stream:
            line_no += 1
            if not raw.strip():
                continue
            where = f"{shard.path}:{line_no}"
            record, problem = parse_jsonl_line(raw.decode("utf8", errors="replace"), where)
            if record is None:
                yield CollectionRecord(where, "", error=problem[len(where) + 2:])  # the id says where
            else:
                yield CollectionRecord(record.id, record.text, record.dataset)
            seen += 1
            if seen == shard.count:
                return


# --- Parquet -----------------------------------------------------------------

def parquet_file(path: Path):
    try:
        import pyarrow.parquet as pq
    except ImportError as err:  # pragma: no cover - the scale extra
        raise InputError(f"{path}: reading Parquet needs pyarrow: pip install 'bioner-spacy[scale]'") from err
    try:
        return pq.ParquetFile(str(path))
    except Exception as err:  # noqa: BLE001 - named in the error
        raise InputError(f"{path}: not a Parquet file ({err})") from err


def parquet_row_groups(path: Path) -> List[int]:
    handle = parquet_file(path)
    columns = handle.schema_arrow.names
    if "text" not in columns:
        raise InputError(f"{path}: a Parquet input needs a 'text' column; its columns are {', '.join(columns)}")
    return [handle.metadata.row_group(i).num_rows for i in range(handle.num_row_groups)]


def read_parquet_shard(shard: Shard) -> Iterator[CollectionRecord]:
    handle = parquet_file(Path(shard.path))
    columns = [c for c in ("text", "id", "dataset") if c in handle.schema_arrow.names]
    table = handle.read_row_group(shard.offset, columns=columns).slice(shard.start, shard.count)
    rows = table.to_pydict()
    for k in range(table.num_rows):
        where = f"{shard.path}:{shard.offset}:{shard.start + k}"
        text = rows["text"][k]
        record_id = rows["id"][k] if "id" in rows and rows["id"][k] is not None else where
        dataset = rows["dataset"][k] if "dataset" in rows else None
        if not isinstance(text, str):
            yield CollectionRecord(str(record_id), "", error=f"{where}: 'text' is {text!r}, not a string")
        else:
            yield CollectionRecord(str(record_id), text, dataset)


# --- PubMed / MEDLINE XML -----------------------------------------------------

def open_xml(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def medline_articles(path: Path) -> Iterator[ET.Element]:
    """Each ``PubmedArticle`` element, cleared once the caller is done with it
    (the file is never held in memory)."""
    try:
        with open_xml(path) as stream:
            context = ET.iterparse(stream, events=("start", "end"))
            _, root = next(context)
            for event, element in context:
                if event == "end" and element.tag == "PubmedArticle":
                    yield element
                    root.clear()
    except (ET.ParseError, OSError, EOFError) as err:
        raise InputError(f"{path}: not a readable PubMed XML file ({err})") from err


def element_text(element: Optional[ET.Element]) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def medline_text(article: ET.Element) -> str:
    """The title, a blank line, and the abstract's paragraphs one per line
    (no abstract: the title alone)."""
    title = element_text(article.find("MedlineCitation/Article/ArticleTitle"))
    paragraphs = [element_text(p) for p in article.findall("MedlineCitation/Article/Abstract/AbstractText")]
    abstract = "\n".join(p for p in paragraphs if p)
    return f"{title}\n\n{abstract}" if abstract else title


def medline_records(path: Path, start: int, count: int) -> Iterator[CollectionRecord]:
    for k, article in enumerate(medline_articles(path)):
        if k < start:
            continue
        if k >= start + count:
            return
        pmid = element_text(article.find("MedlineCitation/PMID"))
        if not pmid:
            yield CollectionRecord(f"{path}:{k}", "", error=f"{path}: article {k} has no PMID")
        else:
            yield CollectionRecord(pmid, medline_text(article))
