"""Strict entity-level scoring with seqeval (IOB2), registered as a spaCy
scorer so ``spacy train`` and ``spacy evaluate`` report it.

Gold tags are the reference doc's; predicted entities are mapped onto the
reference tokens through the example's alignment, so the scores stay
comparable when the pipeline tokenises differently from the gold corpus.
"""
from typing import Any, Dict, Iterable, List

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2
from spacy.training import Example
from spacy.util import registry

from .decoding import spans_to_bio


def doc_bio(doc) -> List[str]:
    return spans_to_bio(len(doc), [(e.start, e.end, e.label_) for e in doc.ents])


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


def score_seqeval(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
    y_true, y_pred = [], []
    for example in examples:
        y_true.append(doc_bio(example.reference))
        y_pred.append(aligned_bio(example))
    if not any(y_true) and not any(y_pred):
        return {"seqeval_p": 0.0, "seqeval_r": 0.0, "seqeval_f": 0.0, "seqeval_per_type": {}}
    return seqeval_scores(y_true, y_pred)


@registry.scorers("bioner.seqeval_scorer.v1")
def make_seqeval_scorer():
    return score_seqeval
