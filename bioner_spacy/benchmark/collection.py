"""Throughput and memory of annotating a collection: the plain ``annotate``
and ``annotate-collection`` with the local engine and with Ray (1 and 2
workers), each a fresh process on the same JSONL input, in one run.

    python -m bioner_spacy.benchmark.collection --pipeline pipelines/BC5CDR-chem/cfa_bilstm_vectors-dep \
        --data corpus/BC5CDR-chem/test.spacy --records 4000 --output docs/benchmark/collection.json

The input repeats the raw texts of ``--data`` up to ``--records`` records.
Memory is the peak, over the run, of the summed resident memory of the
command's process and all its descendants (for Ray: the driver, the
cluster's own processes and the workers), sampled every 0.2 s from /proc.
``--scale-records`` also runs the local and 2-worker Ray engines on inputs
of those sizes, to show whether peak memory grows with the input.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..provenance import command_line, machine
from .speed import thread_env


def descendants(root: int) -> List[int]:
    children: Dict[int, List[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(proc.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_rss_mb(root: int) -> float:
    total = 0
    for pid in descendants(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def run_traced(cmd: List[str], threads: int, every: float = 0.2) -> Tuple[float, List[Tuple[float, float]]]:
    """Wall seconds of ``cmd`` and its (seconds, process tree MB) samples."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=thread_env(threads))
    samples: List[Tuple[float, float]] = []

    def sample():
        while proc.poll() is None:
            samples.append((time.perf_counter() - started, tree_rss_mb(proc.pid)))
            time.sleep(every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return time.perf_counter() - started, samples


def run_measured(cmd: List[str], threads: int) -> Dict:
    """Wall seconds and peak tree memory of one command."""
    seconds, samples = run_traced(cmd, threads)
    return {"seconds": seconds, "peak_rss_mb": max([mb for _, mb in samples] or [0.0])}


def write_input(texts: List[str], records: int, path: Path) -> int:
    """``records`` JSONL records cycling through ``texts``; returns the words."""
    words = 0
    with path.open("w", encoding="utf8") as f:
        for k in range(records):
            text = texts[k % len(texts)]
            words += len(text.split())
            f.write(json.dumps({"id": f"r{k}", "text": text}) + "\n")
    return words


def commands(pipeline: str, src: Path, out: Path, shard_size: int) -> Dict[str, List[str]]:
    cli = [sys.executable, "-m", "bioner_spacy"]
    collection = [*cli, "annotate-collection", pipeline, str(src), "--shard-size", str(shard_size)]
    return {
        "annotate (one process)": [*cli, "annotate", pipeline, str(src), "-o", str(out / "plain.jsonl")],
        "annotate-collection, local engine": [*collection, "-o", str(out / "local")],
        "annotate-collection, ray, 1 worker": [*collection, "-o", str(out / "ray1"), "--engine", "ray", "--workers", "1"],
        "annotate-collection, ray, 2 workers": [*collection, "-o", str(out / "ray2"), "--engine", "ray", "--workers", "2"],
    }


def measure(args) -> Dict:
    import spacy
    from spacy.tokens import DocBin

    texts = [d.text for d in DocBin().from_disk(args.data).get_docs(spacy.blank("en").vocab) if d.text.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def run_all(records: int, which: Optional[List[str]] = None) -> None:
            src = tmp / f"in-{records}.jsonl"
            words = write_input(texts, records, src)
            out = tmp / f"out-{records}"
            for name, cmd in commands(args.pipeline, src, out, args.shard_size).items():
                if which and name not in which:
                    continue
                print(f"{name}: {records} records", file=sys.stderr)
                result = run_measured(cmd, args.threads)
                rows.append({"engine": name, "records": records, "words": words,
                             "input_mb": src.stat().st_size / 2**20, **result,
                             "records_per_s": records / result["seconds"], "words_per_s": words / result["seconds"]})

        run_all(args.small)  # fixed costs: start-up, pipeline loading, cluster
        run_all(args.records)
        for records in args.scale_records:
            run_all(records, ["annotate-collection, local engine", "annotate-collection, ray, 2 workers"])
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "pipeline": args.pipeline,
        "data": args.data,
        "threads": args.threads,
        "shard_size": args.shard_size,
        "small": args.small,
        "main": args.records,
        "rows": rows,
        "command": args.command,
    }


def per_record_costs(result: Dict) -> Dict[str, Dict[str, float]]:
    """Per engine, from its small and its main run: the fixed seconds (start
    and end) and the seconds per record, t = fixed + n * per_record."""
    costs = {}
    for engine in dict.fromkeys(r["engine"] for r in result["rows"]):
        seconds = {r["records"]: r["seconds"] for r in result["rows"] if r["engine"] == engine}
        (n1, t1), (n2, t2) = [(n, seconds[n]) for n in (result["small"], result["main"])]
        per_record = (t2 - t1) / (n2 - n1)
        costs[engine] = {"per_record_ms": 1000 * per_record, "fixed_s": t1 - n1 * per_record}
    return costs


def markdown(result: Dict) -> str:
    rows = result["rows"]
    main = result["main"]
    base = next(r for r in rows if r["records"] == main and r["engine"] == "annotate (one process)")
    costs = per_record_costs(result)
    lines = [
        "# Annotating a collection: throughput and memory of the engines",
        "",
        "Generated by `bioner_spacy.benchmark.collection`; readings in docs/README.md. "
        "Fixed s and ms per record split each engine's time as t = fixed + n x per record, "
        "from its runs on the small and the main input.",
        "",
        f"`{result['pipeline']}` over the raw texts of `{result['data']}` repeated to {main} records "
        f"(JSONL, {base['words']} words), shards of {result['shard_size']} records, {result['threads']} thread per process; "
        f"date {result['date'][:10]}; machine: {result['machine']}. Command: `{result['command']}`.",
        "",
        "| engine | records/s | words/s | ratio to annotate | peak memory MB (process tree) | fixed s | ms per record |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["records"] != main:
            continue
        c = costs[r["engine"]]
        lines.append(f"| {r['engine']} | {r['records_per_s']:.0f} | {r['words_per_s']:.0f} | "
                     f"{r['records_per_s'] / base['records_per_s']:.2f} | {r['peak_rss_mb']:.0f} | "
                     f"{c['fixed_s']:.1f} | {c['per_record_ms']:.2f} |")
    scale = [r for r in rows if r["engine"] in ("annotate-collection, local engine", "annotate-collection, ray, 2 workers")]
    if len({r["records"] for r in scale}) > 2:
        lines += ["", "Peak memory against input size:", "",
                  "| engine | records | input MB | seconds | peak memory MB |", "|---|---|---|---|---|"]
        for r in sorted(scale, key=lambda r: (r["engine"], r["records"])):
            lines.append(f"| {r['engine']} | {r['records']} | {r['input_mb']:.1f} | {r['seconds']:.0f} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", required=True)
    parser.add_argument("--data", required=True, help="A .spacy corpus whose raw texts make the input")
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--small", type=int, default=100, help="Records of the run that measures fixed costs")
    parser.add_argument("--scale-records", type=int, nargs="*", default=[])
    parser.add_argument("--shard-size", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, required=True, help="JSON record of the run")
    parser.add_argument("--markdown", type=Path, help="Also write the tables here")
    args = parser.parse_args(argv)
    args.command = command_line("bioner_spacy.benchmark.collection", argv)
    result = measure(args)
    write_outputs(result, markdown(result), args.output, args.markdown)


def write_outputs(result: Dict, text: str, output: Path, markdown_path: Optional[Path]) -> None:
    """The JSON record, and the tables where asked (each written whole), and
    the tables on stdout."""
    from ..io import write_text

    write_text(output, json.dumps(result, indent=2))
    if markdown_path:
        write_text(markdown_path, text)
    print(text)


if __name__ == "__main__":
    main()
