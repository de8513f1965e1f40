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
  (``medline_text``); a shard starts at the (uncompressed) byte offset of
  its first article's start tag, so reading it parses only its own
  articles (the bytes before are decompressed, not parsed);
- any other file: one record, its whole text, id = its file name.

A record that cannot be read (a bad JSONL line, a citation without a PMID)
is still a record of its shard, with the reason in ``error``: the output
then holds every input record exactly once, read or not.
"""
import gzip
import json
import re
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
    offset: int = 0  # jsonl: byte offset of the first line; parquet: the row group; medline: of the first article
    end: int = 0  # medline: the byte offset of the next shard's first article (0: the end of the file)
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
            # one pass: the whole file parsed (a broken one fails here) while its start tags are noted
            with open_xml(path) as stream:
                tags = StartTags(stream)
                n = sum(1 for _ in parse_articles(path, tags))
                tags.read()  # whatever the parser left unread
            offsets = tags.offsets
            if n != len(offsets):
                raise InputError(f"{path}: {len(offsets)} <PubmedArticle> start tags in its bytes but {n} articles "
                                 "parsed (a tag inside a comment or CDATA?); shards cannot start at byte offsets")
            for start in range(0, n, size):
                end = offsets[start + size] if start + size < n else 0
                add("medline", min(size, n - start), path=str(path), start=start, offset=offsets[start], end=end)
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
        yield from medline_records(Path(shard.path), shard.start, shard.count, shard.offset, shard.end)
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
    try:
        return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")
    except OSError as err:
        raise InputError(f"{path}: not a readable PubMed XML file ({err})") from err


ARTICLE_START = re.compile(rb"<PubmedArticle[\s>]")


class StartTags:
    """A stream read through, noting the (uncompressed) byte offset of each
    ``<PubmedArticle>`` start tag in the bytes that pass (no parsing): the
    parser that counts a file's articles finds their offsets in the same
    pass."""

    KEEP = len(b"<PubmedArticle") + 1  # a tag cut by a read boundary is found with the next read

    def __init__(self, stream):
        self.stream, self.offsets = stream, []
        self.data, self.base = b"", 0  # bytes not yet searched to the end, and the offset of data[0]

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.data += chunk
        limit = len(self.data) if not chunk else len(self.data) - self.KEEP
        self.offsets.extend(self.base + m.start() for m in ARTICLE_START.finditer(self.data) if m.start() < limit)
        cut = max(limit, 0)
        self.data, self.base = self.data[cut:], self.base + cut
        return chunk


def article_offsets(path: Path, chunk_size: int = 1 << 20) -> List[int]:
    """The uncompressed byte offset of each ``<PubmedArticle>`` start tag, in
    order, found by scanning the bytes (no parsing)."""
    try:
        with open_xml(path) as stream:
            tags = StartTags(stream)
            while tags.read(chunk_size):
                pass
            return tags.offsets
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: not a readable PubMed XML file ({err})") from err


class ByteRange:
    """The bytes ``offset`` .. ``end`` of a file (``end`` 0: to its end)
    between an opening and, where the range stops early, a closing root
    tag: a well-formed document for the parser, which then reads nothing
    past ``end``, so the next shard of the file starts where this one
    stopped."""

    def __init__(self, stream, offset: int, end: int):
        if stream.tell() != offset:
            stream.seek(offset)  # gzip: forward from where it is, or from the start
        self.stream, self.end = stream, end
        self.head, self.tail = b"<PubmedArticleSet>", (b"</PubmedArticleSet>" if end else b"")

    def read(self, size: int = -1) -> bytes:
        if self.head:
            head, self.head = self.head, b""
            return head
        left = self.end - self.stream.tell() if self.end else size
        if self.end and left <= 0:
            tail, self.tail = self.tail, b""
            return tail
        return self.stream.read(min(size, left) if size >= 0 else left)


# the file the last shard read, left open at the end of that shard: the next
# shard of the same file (usually the next one read) starts right there
_open_xml: dict = {}


def open_at(path: Path):
    if _open_xml.get("path") != str(path):
        if "stream" in _open_xml:
            _open_xml.pop("stream").close()
        _open_xml.update(path=str(path), stream=open_xml(path))
    return _open_xml["stream"]


def medline_articles(path: Path, offset: int = 0, end: int = 0) -> Iterator[ET.Element]:
    """Each ``PubmedArticle`` element (only those in the bytes ``offset`` ..
    ``end`` where an offset is given), cleared once the caller is done with
    it (the file is never held in memory)."""
    if offset:  # the file stays open for the next shard
        yield from parse_articles(path, ByteRange(open_at(path), offset, end))
    else:
        with open_xml(path) as stream:
            yield from parse_articles(path, stream)


def parse_articles(path: Path, stream) -> Iterator[ET.Element]:
    """Each ``PubmedArticle`` element of an XML stream (``path`` names it in
    errors), cleared once the caller is done with it."""
    try:
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


def medline_records(path: Path, start: int, count: int, offset: int = 0, end: int = 0) -> Iterator[CollectionRecord]:
    """Articles ``start`` .. ``start + count - 1`` of the file; ``offset``: the
    byte offset of article ``start`` (0: counted from the file's start),
    ``end``: of the article after the last (0: the file's end). Fewer
    articles there than planned: an InputError (the file changed)."""
    found = 0
    for k, article in enumerate(medline_articles(path, offset, end), start if offset else 0):
        if k < start:
            continue
        if k >= start + count:
            return
        found += 1
        pmid = element_text(article.find("MedlineCitation/PMID"))
        if not pmid:
            yield CollectionRecord(f"{path}:{k}", "", error=f"{path}: article {k} has no PMID")
        else:
            yield CollectionRecord(pmid, medline_text(article))
    if found < count:
        raise InputError(f"{path}: {found} of the {count} articles planned from article {start} on; "
                         "the file changed since the run was planned (start again in a new output folder)")
