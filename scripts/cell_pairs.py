"""Two benchmark systems' cells side by side, seed by seed: for each cell of
SYSTEM, the cell of BASELINE with the same seed (and data shares) that was
scored on the same corpus (a multi-corpus baseline counts for each of its
corpora). Prints test and dev F1 differences per pair, SYSTEM's best dev
step and training seconds, and how many pairs are ahead; what results.md
shows as means, here pair by pair.

    python scripts/cell_pairs.py mtm-vec-crf-avg-ft mtm-vec-crf-avg
"""
import argparse
import json
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("system")
    parser.add_argument("baseline")
    parser.add_argument("--cells", type=Path, default=Path("docs/benchmark/cells"))
    args = parser.parse_args()
    cells = [json.loads(path.read_text()) for path in sorted(args.cells.glob("*.json"))]
    baseline = {}
    for cell in cells:
        if cell.get("system") == args.baseline:
            for corpus in cell["scores"]:
                baseline[corpus, cell["seed"], json.dumps(cell.get("fractions") or {})] = cell
    pairs, best_steps = [], Counter()
    for cell in cells:
        if cell.get("system") != args.system:
            continue
        for corpus, scores in cell["scores"].items():
            other = baseline.get((corpus, cell["seed"], json.dumps(cell.get("fractions") or {})))
            if other is None:
                continue
            test = 100 * (scores["f"] - other["scores"][corpus]["f"])
            # older cells recorded no whole-dev scores (benchmark dev-scores adds them): no dev difference
            dev_f = [(c.get("dev_scores") or {}).get(corpus, {}).get("f") for c in (cell, other)]
            dev = None if None in dev_f else 100 * (dev_f[0] - dev_f[1])
            best = max(cell["dev_curve"], key=lambda point: point["score"])["step"] if cell.get("dev_curve") else None
            best_steps[best] += 1
            pairs.append((test, dev))
            dev_text = "no dev scores" if dev is None else f"dev {dev:+.2f}"
            print(f"{corpus:15s} seed {cell['seed']}: test {test:+.2f}, {dev_text}; best dev at step {best}, "
                  f"{cell['train_seconds']:.0f} s")
    devs = [d for _, d in pairs if d is not None]
    print(f"{len(pairs)} pairs: ahead on test in {sum(t > 0 for t, _ in pairs)}, on dev in {sum(d > 0 for d in devs)} "
          f"(of {len(devs)} with dev scores); "
          f"best dev step: {dict(sorted(best_steps.items(), key=lambda item: (item[0] is None, item[0] or 0)))}")


if __name__ == "__main__":
    main()
