"""The output folder of a collection run: the plan, and one file per shard.

    OUT/plan.json            the inputs, the shard size and every shard
    OUT/shard-000000.jsonl   (or .parquet) one row per input record, in order

A shard's file appears only complete: it is written to a hidden temporary
name in OUT and renamed into place (``os.replace``, atomic on one file
system), so a file under the final name is a finished shard, and a rerun
skips it. A run interrupted mid-shard leaves at most a hidden temporary
file, which the next run removes. Writing a shard twice (a worker retried
after a crash) replaces it with the same rows: each record is in the output
exactly once.

Rows: ``{"id", "dataset", "entities": [{"start", "end", "label", "text"}]}``
(character offsets into the record's text; ``"spans"`` too in "all" mode,
``"text"`` with ``--include-text``), or ``{"id", "error"}`` for a record
that could not be read or annotated.
"""
import json
import os
import uuid
from pathlib import Path
from typing import Dict, List

from .sources import Shard

FORMATS = ("jsonl", "parquet")
PLAN = "plan.json"


class PlanMismatch(ValueError):
    pass


def shard_path(out: Path, index: int, output_format: str) -> Path:
    return out / f"shard-{index:06d}.{output_format}"


def write_plan(out: Path, inputs: List[str], size: int, output_format: str, shards: List[Shard]) -> None:
    """Record the plan; a folder holding another plan is refused (a rerun
    with other inputs, shard size or format would mix two runs' shards)."""
    plan = {
        "inputs": [str(p) for p in inputs],
        "shard_size": size,
        "format": output_format,
        "records": sum(s.count for s in shards),
        "shards": [json.loads(s.to_json()) for s in shards],
    }
    path = out / PLAN
    if path.exists():
        old = json.loads(path.read_text(encoding="utf8"))
        for key in ("inputs", "shard_size", "format", "shards"):
            if old.get(key) != plan[key]:
                what = "the inputs' contents" if key == "shards" else key.replace("_", " ")
                raise PlanMismatch(
                    f"{out} holds a run with other {what} ({path}): give a new output folder, "
                    f"or delete {out} to start over"
                )
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{PLAN}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(plan, indent=1), encoding="utf8")
    os.replace(tmp, path)


def remove_temporaries(out: Path) -> int:
    """Delete the hidden temporary files that interrupted writes left behind."""
    stale = [p for p in out.glob(".shard-*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def finished(out: Path, shards: List[Shard], output_format: str) -> List[bool]:
    return [shard_path(out, s.index, output_format).exists() for s in shards]


def write_shard(out: Path, index: int, output_format: str, rows: List[Dict]) -> Path:
    """Write the rows under a hidden name, then rename into place."""
    target = shard_path(out, index, output_format)
    tmp = out / f".{target.name}.{uuid.uuid4().hex}"
    try:
        if output_format == "jsonl":
            with tmp.open("w", encoding="utf8") as stream:
                for row in rows:
                    stream.write(json.dumps(row, ensure_ascii=False) + "\n")
                stream.flush()
                os.fsync(stream.fileno())
        else:
            write_parquet(tmp, rows)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def parquet_schema():
    import pyarrow as pa

    entity = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("text", pa.string())])
    span = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("text", pa.string()),
                      ("dataset", pa.string())])
    return pa.schema([("id", pa.string()), ("dataset", pa.string()), ("entities", pa.list_(entity)),
                      ("spans", pa.list_(span)), ("text", pa.string()), ("error", pa.string())])


def write_parquet(path: Path, rows: List[Dict]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:  # pragma: no cover - the scale extra
        raise ValueError("writing Parquet needs pyarrow: pip install 'bioner-spacy[scale]'") from err
    schema = parquet_schema()
    table = pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)
    pq.write_table(table, str(path))


def read_shard_rows(path: Path) -> List[Dict]:
    """The rows of a finished shard file (either format), None fields dropped."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines() if line]
    import pyarrow.parquet as pq

    return [{k: v for k, v in row.items() if v is not None} for row in pq.read_table(str(path)).to_pylist()]
