"""Running the shards that are not written yet: in this process (``local``)
or on a Ray Data actor pool (``ray``), each actor loading the pipeline once
and annotating whole shards (``worker.ShardAnnotator``).

The Ray engine starts a local cluster of ``workers`` CPUs when no address
is given, and joins a running cluster otherwise (``address="auto"`` or
``"ray://host:10001"``); every node must reach the inputs, the output
folder and the pipeline (a path on a shared file system, or an installed
package name). Ray Data retries the shard of an actor that dies on a new
one; since a shard is written whole or not at all (``shards.py``), the
output still holds each record once.
"""
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from tqdm import tqdm

from .shards import finished, remove_temporaries, write_plan
from .sources import Shard, plan_shards
from .worker import ShardAnnotator, ShardResult

ENGINES = ("local", "ray")


@dataclass
class RunSummary:
    shards: int
    records: int
    skipped_shards: int  # written by an earlier run
    failed: List[tuple]
    seconds: float

    @property
    def written_shards(self) -> int:
        return self.shards - self.skipped_shards


def annotate_collection(
    pipeline: str,
    inputs: List[Path],
    out: Path,
    output_format: str = "jsonl",
    engine: str = "local",
    shard_size: int = 1000,
    workers: int = 2,
    address: Optional[str] = None,
    dataset: Optional[str] = None,
    batch_size: int = 64,
    include_text: bool = False,
    memory_zone: bool = True,
    report: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
    nlp=None,
) -> RunSummary:
    """Plan the shards, skip the finished ones, annotate the rest. nlp: the
    pipeline already loaded here, which the local engine then uses as is.
    memory_zone: each shard is annotated inside ``nlp.memory_zone()``, so a
    worker's vocabulary does not grow with the distinct words it reads."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use {' or '.join(ENGINES)}")
    started = time.perf_counter()
    shards = plan_shards(inputs, shard_size)
    write_plan(out, [str(p) for p in inputs], shard_size, output_format, shards)
    remove_temporaries(out)
    pending = [s for s, done in zip(shards, finished(out, shards, output_format)) if not done]
    total, left = sum(s.count for s in shards), sum(s.count for s in pending)
    if len(pending) < len(shards):
        report(f"resuming: {len(shards) - len(pending)} of {len(shards)} shards already in {out}")
    settings = dict(pipeline=str(pipeline), out=str(out), output_format=output_format, dataset=dataset,
                    batch_size=batch_size, include_text=include_text, memory_zone=memory_zone)
    failed: List[tuple] = []
    progress = tqdm(total=total, initial=total - left, unit="rec", desc=f"annotate ({engine})",
                    file=sys.stderr, mininterval=2, smoothing=0.1)

    def done(result: ShardResult) -> None:
        for record_id, reason in result.failed:
            report(f"failed {record_id}: {reason}")
        failed.extend(result.failed)
        progress.update(result.records)

    try:
        if pending:
            if engine == "local":
                run_local(pending, {**settings, "nlp": nlp}, done)
            else:
                run_ray(pending, settings, done, workers, address)
    finally:
        progress.close()
    remove_temporaries(out)
    return RunSummary(len(shards), total, len(shards) - len(pending), failed, time.perf_counter() - started)


def run_local(pending: List[Shard], settings: Dict, done: Callable[[ShardResult], None]) -> None:
    annotator = ShardAnnotator(**settings)
    for shard in pending:
        done(annotator.annotate(shard))


class RayShardAnnotator:
    """The Ray Data callable: one per actor, the pipeline loaded once."""

    def __init__(self, **settings):
        self.annotator = ShardAnnotator(threads=1, **settings)

    def __call__(self, batch: Dict) -> Dict:
        results = [self.annotator.annotate(Shard.from_json(text)) for text in batch["shard"]]
        return {"result": [json.dumps(asdict(r)) for r in results]}


def run_ray(pending: List[Shard], settings: Dict, done: Callable[[ShardResult], None],
            workers: int, address: Optional[str]) -> None:
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise ValueError("the ray engine needs Ray Data: pip install 'bioner-spacy[scale]'") from err
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            try:
                ray.init(address=address, logging_level="warning", log_to_driver=True)
            except ConnectionError as err:
                raise ValueError(
                    f"could not join the Ray cluster at {address!r} ({err}); is it running (`ray status`)? "
                    "A cluster started with `ray start` uses token authentication: set RAY_AUTH_MODE=token "
                    "(and RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH when the token is not in ~/.ray) for this command"
                ) from err
        else:
            ray.init(num_cpus=workers, include_dashboard=False, logging_level="warning")
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # per-dataset INFO lines; progress is ours
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.execution_options.preserve_order = False
        shards = ray.data.from_items([{"shard": s.to_json()} for s in pending], override_num_blocks=len(pending))
        annotated = shards.map_batches(
            RayShardAnnotator,
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
            fn_constructor_kwargs=settings,
        )
        for batch in annotated.iter_batches(batch_size=None, batch_format="pandas"):
            for text in batch["result"]:
                result = json.loads(text)
                done(ShardResult(**{**result, "failed": [tuple(f) for f in result["failed"]]}))
    finally:
        if started_here:
            ray.shutdown()
