"""Memory over one large input of distinct text, for each engine, with and
without spaCy's memory zones.

    python -m bioner_spacy.benchmark.collection_memory --pipeline blank:en --text pretraining/text.txt \\
        --input-mb 1024 --output docs/benchmark/collection-memory.json --markdown docs/collection-memory.md

The input is JSONL records made of the lines of ``--text`` (paragraphs of
prose, e.g. the filtered unlabelled text of `spacy project run prepare-text`),
read again from the start when ``--input-mb`` needs more than the file holds;
the table says how much of the input is distinct. Repeating a few corpus
texts (``benchmark.collection``) hides one source of growth: spaCy keeps
every new string in the vocabulary, so memory grows with the distinct words
read unless each batch or shard is annotated in a memory zone.

Each run is a fresh process; the summed resident memory of its process tree
is sampled every 0.5 s, and the table gives the running peak at fractions of
the run's time: flat memory reads the same at 10 % and at 100 %.
"""
import argparse
import json
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Tuple

from ..provenance import command_line, machine
from ..io import write_text
from .collection import commands, run_traced

ENGINES = {"annotate": "annotate (one process)", "local": "annotate-collection, local engine",
           "ray2": "annotate-collection, ray, 2 workers"}
FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def write_text_input(text: Path, megabytes: float, path: Path) -> Dict:
    """JSONL records of the non-empty lines of ``text`` until the output holds
    ``megabytes`` MB (cycling through the file); what was written."""
    limit, size, records, words, passes, distinct_records = megabytes * 2**20, 0, 0, 0, 0, 0
    with path.open("w", encoding="utf8") as out:
        while size < limit:
            passes += 1
            with text.open(encoding="utf8") as lines:
                for line in lines:
                    if not line.strip():
                        continue
                    row = json.dumps({"id": f"r{records}", "text": line.strip()}, ensure_ascii=False) + "\n"
                    out.write(row)
                    size += len(row.encode("utf8"))
                    records += 1
                    words += len(line.split())
                    if size >= limit:
                        break
            if passes == 1:
                distinct_records = records
                if records == 0:
                    raise ValueError(f"{text} has no non-empty lines")
    return {"records": records, "words": words, "input_mb": size / 2**20, "passes": passes,
            "distinct_records": distinct_records}


def running_peaks(seconds: float, samples: List[Tuple[float, float]]) -> Dict[str, float]:
    """The highest sample up to each fraction of the run's time."""
    return {f"{f:g}": max([mb for t, mb in samples if t <= f * seconds] or [0.0]) for f in FRACTIONS}


def measure(args) -> Dict:
    """Every engine and setting on one input; the record so far is written to
    ``args.output`` after each run, so a long measurement stopped midway
    keeps what it finished."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "in.jsonl"
        written = write_text_input(args.text, args.input_mb, src)
        print(f"input: {written}", file=sys.stderr)

        record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
                  "pipeline": args.pipeline, "text": str(args.text), "shard_size": args.shard_size,
                  "threads": args.threads, "input": written, "rows": rows,
                  "command": args.command}

        for engine in args.engines:
            for zone in args.zones:
                out = tmp / f"out-{engine}-{zone}"
                cmd = commands(args.pipeline, src, out, args.shard_size)[ENGINES[engine]]
                if zone == "off":
                    cmd = [*cmd, "--no-memory-zone"]
                print(f"{ENGINES[engine]}, memory zones {zone}", file=sys.stderr, flush=True)
                seconds, samples = run_traced(cmd, args.threads, every=0.5)
                rows.append({"engine": ENGINES[engine], "memory_zone": zone, "seconds": seconds,
                             "words_per_s": written["words"] / seconds, "peaks_mb": running_peaks(seconds, samples),
                             "samples": samples[::max(1, len(samples) // 200)]})
                shutil.rmtree(out, ignore_errors=True)  # the output is as large as the input
                write_text(args.output, json.dumps(record, indent=2))
    return record


def markdown(results: List[Dict]) -> str:
    """One table per run of this module (its input, then a row per engine and setting)."""
    head = " | ".join(f"peak MB to {100 * f:g} % of the run" for f in FRACTIONS)
    lines = [
        "# Annotating one large input: memory over the run",
        "",
        "Generated by `bioner_spacy.benchmark.collection_memory` (the commands below; this file by "
        "`--report` over their JSON records); readings in docs/README.md.",
    ]
    for result in results:
        given = result["input"]
        lines += [
            "",
            f"`{result['pipeline']}` over {given['input_mb']:.0f} MB of JSONL ({given['records']} records, "
            f"{given['words']} words) made of the lines of `{result['text']}`, the first {given['distinct_records']} "
            f"records distinct (the file read {given['passes']} time{'s' if given['passes'] != 1 else ''}), shards of {result['shard_size']} records, "
            f"{result['threads']} thread per process; date {result['date'][:10]}; machine: {result['machine']}. "
            f"Command: `{result['command']}`.",
            "",
            f"| engine | memory zones | seconds | words/s | {head} |",
            "|---|---|---|---|" + "---|" * len(FRACTIONS),
        ]
        for r in result["rows"]:
            peaks = " | ".join(f"{r['peaks_mb'][f'{f:g}']:.0f}" for f in FRACTIONS)
            lines.append(f"| {r['engine']} | {r['memory_zone']} | {r['seconds']:.0f} | {r['words_per_s']:.0f} | {peaks} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", type=Path, nargs="+", help="Only write --markdown from these JSON records")
    parser.add_argument("--pipeline", help="A pipeline to load (blank:en measures the engines alone)")
    parser.add_argument("--text", type=Path, help="Text file, one paragraph per line")
    parser.add_argument("--input-mb", type=float, default=1024)
    parser.add_argument("--engines", nargs="+", choices=sorted(ENGINES), default=["local", "ray2"])
    parser.add_argument("--zones", nargs="+", choices=["on", "off"], default=["on", "off"])
    parser.add_argument("--shard-size", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, help="JSON record of the run")
    parser.add_argument("--markdown", type=Path, help="Also write the table here")
    args = parser.parse_args(argv)
    args.command = command_line("bioner_spacy.benchmark.collection_memory", argv)
    if args.report:
        if not args.markdown:
            parser.error("--report needs --markdown")
        write_text(args.markdown, markdown([json.loads(p.read_text()) for p in args.report]))
        return
    if not (args.pipeline and args.text and args.output):
        parser.error("a run needs --pipeline, --text and --output")
    if not args.text.is_file():
        parser.error(f"--text {args.text} is not a file (spacy project run prepare-text writes pretraining/text.txt)")
    text = markdown([measure(args)])  # measure writes its record to --output after every run
    if args.markdown:
        write_text(args.markdown, text)
    print(text)


if __name__ == "__main__":
    main()
