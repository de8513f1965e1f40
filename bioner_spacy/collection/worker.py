"""Annotating one shard: what a worker of either engine does.

The pipeline is loaded once per worker (``ShardAnnotator``). A shard's
records are annotated in batches with ``nlp.pipe``; when a batch raises,
its records are annotated one at a time, so one bad record (longer than
``nlp.max_length``, say) costs only itself: it becomes an error row with
its id and the reason, and the run goes on. A shard is annotated inside
``nlp.memory_zone()``: the strings and lexemes its texts added to the vocab
are freed once its rows are built, so a long-lived worker's memory does not
grow with the vocabulary of everything it has read.
"""
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..annotate import dataset_check, doc_record, memory_zone
from .shards import write_shard
from .sources import CollectionRecord, Shard, read_shard


@dataclass
class ShardResult:
    index: int
    records: int
    failed: List[Tuple[str, str]] = field(default_factory=list)  # (record id, reason)
    seconds: float = 0.0


class ShardAnnotator:
    def __init__(self, pipeline: str, out: str, output_format: str, dataset: Optional[str] = None,
                 batch_size: int = 64, include_text: bool = False, threads: int = 0, nlp=None,
                 memory_zone: bool = True):
        """nlp: the pipeline already loaded in this process (else loaded from ``pipeline``)."""
        import spacy

        if threads > 0:
            set_threads(threads)
        self.nlp = nlp if nlp is not None else spacy.load(pipeline)
        self.out, self.output_format = Path(out), output_format
        self.dataset, self.batch_size, self.include_text = dataset, batch_size, include_text
        self.memory_zone = memory_zone
        self.check_dataset = dataset_check(self.nlp)

    def annotate(self, shard: Shard) -> ShardResult:
        """Read, annotate and write the shard; its rows keep the input order."""
        started = time.perf_counter()
        records = list(read_shard(shard))
        rows: List[Optional[Dict]] = [None] * len(records)
        todo = []
        for k, record in enumerate(records):
            problem = record.error or self.dataset_problem(record)
            if problem:
                rows[k] = {"id": record.id, "error": problem}
            else:
                todo.append(k)
        with memory_zone(self.nlp, self.memory_zone):  # rows are plain dicts: they outlive the zone
            for begin in range(0, len(todo), self.batch_size):
                batch = todo[begin:begin + self.batch_size]
                try:
                    done = self.annotate_records([records[k] for k in batch])
                except Exception:  # noqa: BLE001 - retried one record at a time below
                    done = [self.annotate_one(records[k]) for k in batch]
                for k, row in zip(batch, done):
                    rows[k] = row
        write_shard(self.out, shard.index, self.output_format, rows)
        failed = [(row["id"], row["error"]) for row in rows if "error" in row]
        return ShardResult(shard.index, len(rows), failed, time.perf_counter() - started)

    def dataset_problem(self, record: CollectionRecord) -> Optional[str]:
        try:
            self.check_dataset(record.dataset or self.dataset)
        except ValueError as err:
            return str(err)
        return None

    def annotate_records(self, records: List[CollectionRecord]) -> List[Dict]:
        docs = []
        for record in records:
            doc = self.nlp.make_doc(record.text)
            doc._.dataset = record.dataset or self.dataset
            docs.append(doc)
        return [self.row(record, doc) for record, doc in zip(records, self.nlp.pipe(docs, batch_size=self.batch_size))]

    def annotate_one(self, record: CollectionRecord) -> Dict:
        try:
            return self.annotate_records([record])[0]
        except Exception as err:  # noqa: BLE001 - reported with the record's id
            return {"id": record.id, "error": f"{type(err).__name__}: {err}"}

    def row(self, record: CollectionRecord, doc) -> Dict:
        row = doc_record(record, doc)
        if self.include_text:
            row["text"] = record.text
        return row


def set_threads(threads: int) -> None:
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is optional
        pass
