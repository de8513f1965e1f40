"""How much a pipeline's entities depend on where its sentences come from:
the same texts through two assembled pipelines (e.g. one grid model with the
syntax pipeline's parser and with its senter alone: `assemble --sentences`),
their sentence starts, their flat entities (doc.ents) and, for a grid, every
entity it decoded (doc.spans["bioner_grid"]: nested and discontinuous ones
too, each as its fragments and label) compared. No gold is read.

    python scripts/sentence_source_agreement.py benchmark/pipelines/grid-c32-seed0-parser \
        benchmark/pipelines/grid-c32-seed0-senter ../shared/corpora/jnlpba-standoff/test --limit 400

TEXTS: a folder of .txt files (brat's, one abstract each) or a .spacy file.
"""
import argparse
import sys
from pathlib import Path

import spacy


def read_texts(path: Path, limit: int):
    """The texts of a folder of .txt files (as `annotate` reads one) or of a
    .spacy file (as the speed harness reads one), the first ``limit`` (0: all)."""
    from bioner_spacy.annotate import read_inputs
    from bioner_spacy.benchmark.speed import texts_of

    if not path.is_dir():
        return texts_of(str(path), limit)
    texts = [record.text for record in read_inputs([path], on_error=sys.exit)]
    return texts[:limit] if limit else texts


def grid_entities(doc) -> set:
    """Every entity of the doc's grid span group as (fragments, label); empty
    for a doc without one."""
    from bioner_spacy.extensions import GRID_SPANS_KEY, group_fragments

    if GRID_SPANS_KEY not in doc.spans:
        return set()
    return {(tuple(map(tuple, ranges)), span.label_) for span, ranges in group_fragments(doc, GRID_SPANS_KEY)}


def agreement(a_docs, b_docs) -> dict:
    """Counts of sentence starts and of entities (start, end, label) in
    both readings, and in each alone."""
    counts = {"docs": 0, "docs_same_sentences": 0, "docs_same_ents": 0, "docs_same_grid": 0}
    counts.update({f"{name}_{key}": 0 for name in ("starts", "ents", "grid") for key in ("both", "a_only", "b_only")})
    for a, b in zip(a_docs, b_docs):
        starts_a = {s.start for s in a.sents}
        starts_b = {s.start for s in b.sents}
        ents_a = {(e.start, e.end, e.label_) for e in a.ents}
        ents_b = {(e.start, e.end, e.label_) for e in b.ents}
        grid_a, grid_b = grid_entities(a), grid_entities(b)
        counts["docs"] += 1
        counts["docs_same_sentences"] += starts_a == starts_b
        counts["docs_same_ents"] += ents_a == ents_b
        counts["docs_same_grid"] += grid_a == grid_b
        for name, x, y in (("starts", starts_a, starts_b), ("ents", ents_a, ents_b), ("grid", grid_a, grid_b)):
            counts[f"{name}_both"] += len(x & y)
            counts[f"{name}_a_only"] += len(x - y)
            counts[f"{name}_b_only"] += len(y - x)
    return counts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="pipeline A (path or package)")
    parser.add_argument("b", help="pipeline B")
    parser.add_argument("texts", type=Path, help="folder of .txt files, or a .spacy file")
    parser.add_argument("--limit", type=int, default=0, help="first N texts (0: all)")
    args = parser.parse_args(argv)
    nlp_a, nlp_b = spacy.load(args.a), spacy.load(args.b)
    if nlp_a.tokenizer.to_bytes() != nlp_b.tokenizer.to_bytes():
        sys.exit("the two pipelines tokenise differently: their token offsets cannot be compared")
    texts = read_texts(args.texts, args.limit)
    counts = agreement(nlp_a.pipe(texts), nlp_b.pipe(texts))
    print(f"{counts['docs']} texts of {args.texts}; A = {args.a}, B = {args.b}")
    print(f"sentence starts: {counts['starts_both']} in both, {counts['starts_a_only']} in A only, "
          f"{counts['starts_b_only']} in B only; texts with the same sentences: {counts['docs_same_sentences']}")
    print(f"entities (doc.ents): {counts['ents_both']} in both, {counts['ents_a_only']} in A only, {counts['ents_b_only']} in B only; "
          f"texts with the same entities: {counts['docs_same_ents']}")
    print(f"grid entities (doc.spans, fragments and label): {counts['grid_both']} in both, {counts['grid_a_only']} in A only, "
          f"{counts['grid_b_only']} in B only; texts with the same: {counts['docs_same_grid']}")


if __name__ == "__main__":
    main()
