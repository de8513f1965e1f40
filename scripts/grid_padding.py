"""Grid cells per word, and the cells grid_ner computes against its
sentences' own, on a .spacy corpus: sentences as the component cuts them
(``sentence_segments`` over the stored parse), batched as ``nlp.pipe`` with
batch size 128 and ``group_segments`` with and without a padding limit.

    python scripts/grid_padding.py corpus/BC5CDR-chem/test.spacy [--limit 2000]
"""
import argparse

import spacy
from spacy.tokens import DocBin

from bioner_spacy.ml.grid.grid_tagger import PADDING_LIMIT, group_segments, sentence_segments


def computed_cells(batches, max_cells: int, padding_limit: float) -> int:
    return sum(len(g) * lengths[g[0]] ** 2 for lengths in batches for g in group_segments(lengths, max_cells, padding_limit))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus")
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--max-cells", type=int, default=65536)
    args = parser.parse_args()
    docs = list(DocBin().from_disk(args.corpus).get_docs(spacy.blank("en").vocab))[: args.limit]
    batches = [
        [end - start for doc in docs[i : i + args.batch_size] for start, end in sentence_segments(doc, args.max_length)]
        for i in range(0, len(docs), args.batch_size)
    ]
    own = sum(n * n for lengths in batches for n in lengths)
    words = sum(len(doc) for doc in docs)
    print(f"{len(docs)} docs, {words} words: {own / words:.1f} grid cells per word")
    for limit in (float("inf"), PADDING_LIMIT):
        print(f"padding limit {limit}: computed / own cells {computed_cells(batches, args.max_cells, limit) / own:.2f}")


if __name__ == "__main__":
    main()
