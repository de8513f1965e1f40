"""Where a model's strict entity-level errors come from.

Strict scoring (seqeval, exact span and type) counts every gold entity not
predicted exactly as a false negative and every other prediction as a false
positive. This module sorts those errors into kinds, one kind per gold entity
and per unmatched prediction, so that the kinds add up to the strict counts:

- ``correct``: a prediction with the same span and type;
- ``type``: a prediction with the same span and another type;
- ``boundary``: no exact-span prediction, but one of the same type overlaps;
- ``boundary+type``: overlapped only by predictions of other types;
- ``missed``: no prediction overlaps it;
- ``spurious`` (per predicted type): a prediction that overlaps no gold entity.

A prediction that overlaps a gold entity without matching it is accounted for
by that gold entity's kind (boundary, boundary+type), not again as spurious.
"""
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Tuple

Span = Tuple[int, int, str]  # token start, token end (exclusive), type

GOLD_KINDS = ("correct", "type", "boundary", "boundary+type", "missed")


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def classify_doc(gold: Iterable[Span], predicted: Iterable[Span]) -> Tuple[List[Tuple[str, Span, List[Span]]], List[Span]]:
    """Each gold span with its kind and the predictions that overlap it; and
    the spurious predictions (overlapping no gold span)."""
    gold, predicted = sorted(set(gold)), sorted(set(predicted))
    by_span = {(s, e): label for s, e, label in predicted}
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
    spurious = [p for p in predicted if not any(overlaps(p, g) for g in gold)]
    return kinds, spurious


def doc_spans(doc) -> List[Span]:
    return [(ent.start, ent.end, ent.label_) for ent in doc.ents]


def error_analysis(pairs: Iterable[Tuple["Doc", "Doc"]], top: int = 10) -> Dict:
    """Counts of each kind per type, and the most frequent texts of the missed,
    spurious and boundary errors, over (gold doc, predicted doc) pairs on the
    same tokens."""
    counts: Dict[str, Counter] = defaultdict(Counter)
    spurious_by_type: Counter = Counter()
    missed_texts: Dict[str, Counter] = defaultdict(Counter)
    spurious_texts: Dict[str, Counter] = defaultdict(Counter)
    boundary_texts: Dict[str, Counter] = defaultdict(Counter)
    for gold_doc, predicted_doc in pairs:
        if [t.text for t in gold_doc] != [t.text for t in predicted_doc]:
            raise ValueError("error_analysis: a predicted doc's tokens differ from its gold doc's; "
                             "score on the gold tokens (as `evaluate` does)")
        kinds, spurious = classify_doc(doc_spans(gold_doc), doc_spans(predicted_doc))
        for kind, (start, end, label), touching in kinds:
            counts[label][kind] += 1
            text = gold_doc[start:end].text
            if kind == "missed":
                missed_texts[label][text] += 1
            elif kind == "boundary":
                shown = " | ".join(predicted_doc[s:e].text for s, e, _ in touching)
                boundary_texts[label][f"{text} -> {shown}"] += 1
        for start, end, label in spurious:
            spurious_by_type[label] += 1
            spurious_texts[label][predicted_doc[start:end].text] += 1
    labels = sorted(set(counts) | set(spurious_by_type))
    by_type = {}
    for label in labels:
        row = {kind: counts[label][kind] for kind in GOLD_KINDS}
        row["gold"] = sum(row.values())
        row["spurious"] = spurious_by_type[label]
        row["top_missed"] = missed_texts[label].most_common(top)
        row["top_spurious"] = spurious_texts[label].most_common(top)
        row["top_boundary"] = boundary_texts[label].most_common(top)
        by_type[label] = row
    return {"by_type": by_type}


def format_report(analysis: Dict) -> str:
    """A plain-text table of the kinds per type, then the frequent texts."""
    lines = [f"{'type':<16} {'gold':>6} " + " ".join(f"{kind:>13}" for kind in GOLD_KINDS) + f" {'spurious':>9}"]
    for label, row in analysis["by_type"].items():
        gold = row["gold"] or 1
        cells = " ".join(f"{row[kind]:>6} ({100 * row[kind] / gold:4.1f}%)" for kind in GOLD_KINDS)
        lines.append(f"{label:<16} {row['gold']:>6} {cells} {row['spurious']:>9}")
    for label, row in analysis["by_type"].items():
        for name in ("top_missed", "top_spurious", "top_boundary"):
            if row[name]:
                lines.append(f"\n{label}, {name.replace('top_', '')}: " + "; ".join(f"{text} ({n})" for text, n in row[name]))
    return "\n".join(lines)
