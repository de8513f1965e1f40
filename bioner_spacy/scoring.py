"""Strict entity-level scoring with seqeval (IOB2), registered as a spaCy
scorer so ``spacy train`` and ``spacy evaluate`` report it.

Gold tags are the reference doc's; predicted entities are mapped onto the
reference tokens through the example's alignment, so the scores stay
comparable when the pipeline tokenises differently from the gold corpus.

Besides the micro scores over everything, each dataset (``doc._.dataset`` of
the reference) is scored on its own, with its own tag, and
``seqeval_macro_f`` is the mean of the per-dataset F1 over the datasets
with gold entities: the model selection score of a multi-corpus training
run. With one dataset it equals ``seqeval_f``.

``untyped``: spans alone are scored, every type read as one (an untyped
model's output, seed 000's DM: one B/I/O label set for every dataset, which
a corpus with several types could otherwise never match). Only a dataset
whose gold and predicted tags name more than one type is scored any
differently; it is listed in ``seqeval_untyped_datasets``, the others keep
their type names.
"""
from collections import defaultdict
from typing import Any, Dict, Iterable, List, Optional, Tuple

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2
from spacy.training import Example
from spacy.util import registry

from .decoding import spans_to_bio, untyped_bio
from .extensions import entity_fragments

NO_DATASET = "-"


def doc_spans(doc) -> List[Tuple[int, int, str]]:
    """The doc's entities as (token start, token end, type)."""
    return [(e.start, e.end, e.label_) for e in doc.ents]


def doc_bio(doc) -> List[str]:
    return spans_to_bio(len(doc), doc_spans(doc))


def aligned_bio(example: Example) -> List[str]:
    """The predicted entities as IOB2 tags over the reference tokens."""
    aligned = example.get_aligned_spans_x2y(example.predicted.ents)
    return spans_to_bio(len(example.reference), [(s.start, s.end, s.label_) for s in aligned])


def seqeval_scores(y_true: List[List[str]], y_pred: List[List[str]], prefix: str = "seqeval") -> Dict[str, Any]:
    report = classification_report(
        y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    per_type = {
        label: {"p": values["precision"], "r": values["recall"], "f": values["f1-score"], "support": int(values["support"])}
        for label, values in report.items()
        if label not in ("micro avg", "macro avg", "weighted avg")
    }
    return {
        f"{prefix}_p": float(micro["precision"]),
        f"{prefix}_r": float(micro["recall"]),
        f"{prefix}_f": float(micro["f1-score"]),
        f"{prefix}_per_type": per_type,
    }


def types_named(sequences: Iterable[List[str]]) -> set:
    return {tag[2:] for tags in sequences for tag in tags if tag != "O"}


def scores_by_dataset(items: Iterable[Tuple[Optional[str], List[str], List[str]]], untyped: bool = False) -> Dict[str, Any]:
    """Micro scores over all (dataset, gold tags, predicted tags) items, each
    dataset's own scores, and their macro F1; ``untyped``: spans alone."""
    groups: Dict[str, Tuple[list, list]] = defaultdict(lambda: ([], []))
    for dataset, gold, pred in items:
        groups[dataset or NO_DATASET][0].append(gold)
        groups[dataset or NO_DATASET][1].append(pred)
    untyped_datasets = []
    if untyped:
        for dataset, (gold, pred) in groups.items():
            if len(types_named(gold) | types_named(pred)) > 1:
                groups[dataset] = ([untyped_bio(tags) for tags in gold], [untyped_bio(tags) for tags in pred])
                untyped_datasets.append(dataset)
    y_true = [tags for gold, _ in groups.values() for tags in gold]
    y_pred = [tags for _, pred in groups.values() for tags in pred]
    if not any(y_true) and not any(y_pred):
        return {"seqeval_p": 0.0, "seqeval_r": 0.0, "seqeval_f": 0.0, "seqeval_per_type": {},
                "seqeval_macro_f": 0.0, "seqeval_per_dataset": {}, "seqeval_untyped_datasets": []}
    scores = seqeval_scores(y_true, y_pred)
    scores["seqeval_untyped_datasets"] = sorted(untyped_datasets)
    per_dataset = {}
    for dataset in sorted(groups):
        s = seqeval_scores(*groups[dataset])
        per_dataset[dataset] = {"p": s["seqeval_p"], "r": s["seqeval_r"], "f": s["seqeval_f"], "per_type": s["seqeval_per_type"]}
    scores["seqeval_per_dataset"] = per_dataset
    # a dataset without gold entities has no F1 to average (its predictions
    # still count in the micro scores)
    scored = [d["f"] for d in per_dataset.values() if any(t["support"] for t in d["per_type"].values())]
    scores["seqeval_macro_f"] = sum(scored) / len(scored) if scored else 0.0
    return scores


def prf(tp: int, n_pred: int, n_gold: int) -> Dict[str, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0}


def char_span_scores(docs: Iterable[Tuple[set, set]], prefix: str = "span") -> Dict[str, Any]:
    """Exact-match P/R/F1 of (start_char, end_char, label) entities, micro
    and per label, over (gold, predicted) sets per document: the measure for
    raw text, where the pipeline's tokens are not the gold corpus's. Any
    tuples with the label third will do (``grid_entity_chars``)."""
    counts: Dict[str, list] = defaultdict(lambda: [0, 0, 0])  # tp, predicted, gold
    for gold, pred in docs:
        for label in {e[2] for e in gold | pred}:
            g = {e for e in gold if e[2] == label}
            q = {e for e in pred if e[2] == label}
            counts[label][0] += len(g & q)
            counts[label][1] += len(q)
            counts[label][2] += len(g)
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    micro = prf(*total)
    return {
        f"{prefix}_p": micro["p"], f"{prefix}_r": micro["r"], f"{prefix}_f": micro["f"],
        f"{prefix}_per_type": {label: {**prf(*c), "support": c[2]} for label, c in sorted(counts.items())},
    }


def score_seqeval(examples: Iterable[Example], untyped: bool = False, **kwargs) -> Dict[str, Any]:
    return scores_by_dataset(
        ((example.reference._.dataset, doc_bio(example.reference), aligned_bio(example)) for example in examples),
        untyped=untyped,
    )


@registry.scorers("bioner.seqeval_scorer.v1")
def make_seqeval_scorer():
    return score_seqeval


def grid_entity_chars(doc) -> set:
    """Every entity of a doc as (start_char, character fragments, label):
    ``doc.spans["bioner_grid"]`` (nested and discontinuous ones included)
    when the doc has that group, else ``doc.ents``."""
    starts = [token.idx for token in doc]
    ends = [token.idx + len(token) for token in doc]
    entities = set()
    for span, fragments in entity_fragments(doc):
        chars = tuple((starts[s], ends[e - 1]) for s, e in fragments)
        entities.add((chars[0][0], chars, span.label_))
    return entities


def score_grid(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
    """seqeval over ``doc.ents``, and ``grid_p/r/f``: exact match of every
    entity with all its fragments, nested and discontinuous ones included."""
    examples = list(examples)
    scores = score_seqeval(examples)
    scores.update(
        char_span_scores(((grid_entity_chars(eg.reference), grid_entity_chars(eg.predicted)) for eg in examples), "grid")
    )
    return scores


@registry.scorers("bioner.grid_scorer.v1")
def make_grid_scorer():
    return score_grid
