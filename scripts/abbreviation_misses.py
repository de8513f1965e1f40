"""How many of a model's missed entities look like abbreviations, and where
their definitions are: in the same sentence, in one of the N sentences
before it (the corpus's order), or neither.

A missed entity (no prediction overlaps it; bioner_spacy.error_analysis)
looks like an abbreviation when its text has no space, at most 8
characters and an upper-case letter. It is defined in a sentence when that sentence has
"( SF )" right after a gold entity of its type.

    python scripts/abbreviation_misses.py MODEL corpus/BC5CDR/dev.spacy --before 15

Run it on dev splits (it reads the gold entities).
"""
import argparse
import json
from pathlib import Path

import spacy

from bioner_spacy.cli import predict_on_gold
from bioner_spacy.error_analysis import classify_doc
from bioner_spacy.scoring import doc_spans


def looks_like_abbreviation(text: str) -> bool:
    return len(text) <= 8 and " " not in text and any(c.isupper() for c in text)


def defined_short_forms(doc) -> set:
    """(SF, type) for each "( SF )" right after a gold entity of that type."""
    words = [t.text for t in doc]
    return {(words[e.end + 1], e.label_) for e in doc.ents
            if e.end + 2 < len(words) and words[e.end] == "(" and words[e.end + 2] == ")"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--before", type=int, default=15, help="Sentences before each one to look for its definitions in")
    args = parser.parse_args()
    nlp = spacy.load(args.model)
    gold, predicted, _ = predict_on_gold(nlp, [Path(args.data)], stored_syntax=True, limit=0, batch_size=128)
    defined = [defined_short_forms(doc) for doc in gold]
    counts = {"missed": 0, "abbreviation-like": 0, "defined in the sentence": 0,
              f"defined in the {args.before} before": 0, "defined in neither": 0}
    for i, (g, p) in enumerate(zip(gold, predicted)):
        kinds, _ = classify_doc(doc_spans(g), doc_spans(p))
        for kind, (start, end, label), _ in kinds:
            if kind != "missed":
                continue
            counts["missed"] += 1
            text = g[start:end].text
            if not looks_like_abbreviation(text):
                continue
            counts["abbreviation-like"] += 1
            if (text, label) in defined[i]:
                counts["defined in the sentence"] += 1
            elif any((text, label) in defined[j] for j in range(max(0, i - args.before), i)):
                counts[f"defined in the {args.before} before"] += 1
            else:
                counts["defined in neither"] += 1
    print(json.dumps(counts, indent=2))


if __name__ == "__main__":
    main()
