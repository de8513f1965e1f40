"""Two systems' cells side by side, seed by seed (``bioner-spacy benchmark
pairs SYSTEM BASELINE``): for each cell of SYSTEM, the cell of BASELINE with
the same seed and data shares that was scored on the same corpus (a
multi-corpus baseline counts for each of its corpora; where several baseline
cells score that corpus and seed, the one trained on the same corpora). What
results.md shows as a mean ± std of differences, here pair by pair, with
SYSTEM's best dev step and training seconds: whether a mean gain is every
pair's or one pair's.
"""
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple


@dataclass(frozen=True)
class Pair:
    corpus: str
    seed: int
    train: Tuple[str, ...]
    """The corpora SYSTEM's run trained on (more than ``corpus`` for a
    multi-corpus run)."""
    test: float
    """SYSTEM's test F1 minus BASELINE's, in points."""
    dev: Optional[float]
    """The same on the whole dev split; None when either cell has no dev score
    (cells made before the harness scored dev)."""
    best_step: Optional[int]
    """The step of SYSTEM's best dev evaluation (None without a dev curve)."""
    seconds: float
    """SYSTEM's training seconds."""


def read_cells(folder: Path) -> List[dict]:
    from .report import read_cell_files

    if not Path(folder).is_dir():
        raise FileNotFoundError(f"no cells folder: {folder} (the harness writes docs/benchmark/cells)")
    return list(read_cell_files(folder).values())


def _share(cell: dict) -> str:
    return json.dumps(cell.get("fractions") or {}, sort_keys=True)


def _dev_f(cell: dict, corpus: str) -> Optional[float]:
    return ((cell.get("dev_scores") or {}).get(corpus) or {}).get("f")


def baseline_of(candidates: List[dict], cell: dict) -> Optional[dict]:
    """The baseline cell to pair ``cell`` with among those scored on the same
    corpus, seed and share: the one trained on the same corpora, else the
    only one; None where several trained on other corpora (which one is
    meant is not known)."""
    same = [other for other in candidates if other.get("train") == cell.get("train")]
    if same:
        return same[0]
    return candidates[0] if len(candidates) == 1 else None


def seed_pairs(cells: Iterable[dict], system: str, baseline: str) -> Tuple[List[Pair], int]:
    """Every (corpus, seed, share) that both systems have a score for, in
    the order of SYSTEM's cells; and how many of SYSTEM's scores were left
    unpaired because several baseline cells could be their pair."""
    cells = list(cells)
    by_key: Dict[Tuple[str, int, str], List[dict]] = {}
    for cell in cells:
        if cell.get("system") == baseline:
            for corpus in cell["scores"]:
                by_key.setdefault((corpus, cell["seed"], _share(cell)), []).append(cell)
    pairs, ambiguous = [], 0
    for cell in cells:
        if cell.get("system") != system:
            continue
        for corpus, scores in cell["scores"].items():
            candidates = by_key.get((corpus, cell["seed"], _share(cell)), [])
            other = baseline_of(candidates, cell)
            if other is None:
                ambiguous += bool(candidates)
                continue
            dev_f = (_dev_f(cell, corpus), _dev_f(other, corpus))
            curve = cell.get("dev_curve") or []
            pairs.append(Pair(
                corpus=corpus, seed=cell["seed"], train=tuple(cell.get("train") or [corpus]),
                test=100 * (scores["f"] - other["scores"][corpus]["f"]),
                dev=None if None in dev_f else 100 * (dev_f[0] - dev_f[1]),
                best_step=max(curve, key=lambda point: point["score"])["step"] if curve else None,
                seconds=cell["train_seconds"]))
    return pairs, ambiguous


def format_pairs(pairs: List[Pair], system: str, baseline: str, ambiguous: int = 0) -> str:
    left_out = (f"; {ambiguous} score(s) of {system} left unpaired: several {baseline} cells trained on other "
                "corpora score the same corpus and seed") if ambiguous else ""
    if not pairs:
        return f"no pairs: no corpus and seed has a cell of both {system} and {baseline}{left_out}"
    lines = []
    for pair in pairs:
        dev = "no dev scores" if pair.dev is None else f"dev {pair.dev:+.2f}"
        trained = "" if pair.train == (pair.corpus,) else f" (trained on {'+'.join(pair.train)})"
        lines.append(f"{pair.corpus:15s} seed {pair.seed}{trained}: test {pair.test:+.2f}, {dev}; "
                     f"best dev at step {pair.best_step}, {pair.seconds:.0f} s")
    devs = [pair.dev for pair in pairs if pair.dev is not None]
    steps = Counter(pair.best_step for pair in pairs)
    ordered = dict(sorted(steps.items(), key=lambda item: (item[0] is None, item[0] or 0)))
    lines.append(f"{len(pairs)} pairs ({system} - {baseline}): ahead on test in {sum(p.test > 0 for p in pairs)}, "
                 f"on dev in {sum(d > 0 for d in devs)} (of {len(devs)} with dev scores); best dev step: {ordered}"
                 f"{left_out}")
    return "\n".join(lines)
