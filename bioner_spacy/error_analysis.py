"""Where a model's strict entity-level errors come from.

Strict scoring (seqeval, exact span and type) counts every gold entity not
predicted exactly as a false negative and every other prediction as a false
positive. This module sorts both into kinds. Each gold entity gets one kind:

- ``correct``: a prediction with the same span and type;
- ``type``: a prediction with the same span and another type;
- ``boundary``: no exact-span prediction, but one of the same type overlaps;
- ``boundary+type``: overlapped only by predictions of other types;
- ``missed``: no prediction overlaps it.

Each prediction gets one kind too (counted under its predicted type):
``correct``; ``type`` (a gold entity has its span, another type);
``overlapping`` (overlaps a gold entity without its span); ``spurious``
(overlaps no gold entity). So the false negatives of a type are its gold
entities that are not ``correct``, and its false positives are its
predictions of kinds ``type``, ``overlapping`` and ``spurious``; one
prediction over two gold entities is one false positive and two boundary
errors.
"""
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Tuple

from .scoring import doc_spans

Span = Tuple[int, int, str]  # token start, token end (exclusive), type

GOLD_KINDS = ("correct", "type", "boundary", "boundary+type", "missed")
PREDICTED_KINDS = ("correct", "type", "overlapping", "spurious")


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def classify_doc(gold: Iterable[Span], predicted: Iterable[Span]) -> Tuple[List[Tuple[str, Span, List[Span]]], List[Tuple[str, Span]]]:
    """Each gold span with its kind and the predictions that overlap it; and
    each prediction with its kind."""
    gold, predicted = sorted(set(gold)), sorted(set(predicted))
    by_span = {(s, e): label for s, e, label in predicted}
    gold_spans = {(s, e): label for s, e, label in gold}
    kinds = []
    for g in gold:
        touching = [p for p in predicted if overlaps(g, p)]
        if (g[0], g[1]) in by_span:
            kind = "correct" if by_span[(g[0], g[1])] == g[2] else "type"
        elif any(p[2] == g[2] for p in touching):
            kind = "boundary"
        elif touching:
            kind = "boundary+type"
        else:
            kind = "missed"
        kinds.append((kind, g, touching))
    predicted_kinds = []
    for p in predicted:
        if (p[0], p[1]) in gold_spans:
            kind = "correct" if gold_spans[(p[0], p[1])] == p[2] else "type"
        elif any(overlaps(p, g) for g in gold):
            kind = "overlapping"
        else:
            kind = "spurious"
        predicted_kinds.append((kind, p))
    return kinds, predicted_kinds


def error_analysis(pairs: Iterable[Tuple["Doc", "Doc"]], top: int = 10) -> Dict:
    """Counts of each kind per type, and the most frequent texts of the missed,
    spurious and boundary errors, over (gold doc, predicted doc) pairs on the
    same tokens."""
    counts: Dict[str, Counter] = defaultdict(Counter)
    predicted_counts: Dict[str, Counter] = defaultdict(Counter)
    missed_texts: Dict[str, Counter] = defaultdict(Counter)
    spurious_texts: Dict[str, Counter] = defaultdict(Counter)
    boundary_texts: Dict[str, Counter] = defaultdict(Counter)
    for gold_doc, predicted_doc in pairs:
        if [t.text for t in gold_doc] != [t.text for t in predicted_doc]:
            raise ValueError("error_analysis: a predicted doc's tokens differ from its gold doc's; "
                             "score on the gold tokens (as `evaluate` does)")
        kinds, predicted_kinds = classify_doc(doc_spans(gold_doc), doc_spans(predicted_doc))
        for kind, (start, end, label), touching in kinds:
            counts[label][kind] += 1
            text = gold_doc[start:end].text
            if kind == "missed":
                missed_texts[label][text] += 1
            elif kind == "boundary":
                shown = " | ".join(predicted_doc[s:e].text for s, e, _ in touching)
                boundary_texts[label][f"{text} -> {shown}"] += 1
        for kind, (start, end, label) in predicted_kinds:
            predicted_counts[label][kind] += 1
            if kind == "spurious":
                spurious_texts[label][predicted_doc[start:end].text] += 1
    labels = sorted(set(counts) | set(predicted_counts))
    by_type = {}
    for label in labels:
        row = {kind: counts[label][kind] for kind in GOLD_KINDS}
        row["gold"] = sum(row.values())
        row["predicted"] = {kind: predicted_counts[label][kind] for kind in PREDICTED_KINDS}
        row["spurious"] = predicted_counts[label]["spurious"]
        row["top_missed"] = missed_texts[label].most_common(top)
        row["top_spurious"] = spurious_texts[label].most_common(top)
        row["top_boundary"] = boundary_texts[label].most_common(top)
        by_type[label] = row
    return {"by_type": by_type}


def format_report(analysis: Dict) -> str:
    """A plain-text table of the kinds per type, then the frequent texts."""
    lines = ["gold entities by kind (false negatives: all but correct)",
             f"{'type':<16} {'gold':>6} " + " ".join(f"{kind:>14}" for kind in GOLD_KINDS)]
    for label, row in analysis["by_type"].items():
        gold = row["gold"] or 1
        cells = " ".join(f"{row[kind]:>6} ({100 * row[kind] / gold:4.1f}%)" for kind in GOLD_KINDS)
        lines.append(f"{label:<16} {row['gold']:>6} {cells}")
    lines += ["predictions by kind (false positives: all but correct)",
              f"{'type':<16} {'pred':>6} " + " ".join(f"{kind:>14}" for kind in PREDICTED_KINDS)]
    for label, row in analysis["by_type"].items():
        counts = row["predicted"]
        total = sum(counts.values())
        cells = " ".join(f"{counts[kind]:>6} ({100 * counts[kind] / (total or 1):4.1f}%)" for kind in PREDICTED_KINDS)
        lines.append(f"{label:<16} {total:>6} {cells}")
    for label, row in analysis["by_type"].items():
        for name in ("top_missed", "top_spurious", "top_boundary"):
            if row[name]:
                lines.append(f"\n{label}, {name.replace('top_', '')}: " + "; ".join(f"{text} ({n})" for text, n in row[name]))
    return "\n".join(lines)
