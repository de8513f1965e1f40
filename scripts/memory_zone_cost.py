"""What annotating in memory zones costs a pipeline, and that it changes no
entity: lines of a text file annotated alternately with and without zones
(``bioner_spacy.annotate.pipe_in_memory_zones``), several rounds in one
process after a warm-up, each timed run on lines no run before it read; then
one more slice both ways, checking the entities are the same.

    python scripts/memory_zone_cost.py pipelines/BC5CDR-chem/cfa_bilstm_vectors-dep pretraining/text.txt \
        --skip 200000 --lines 3000 --rounds 2
"""
import argparse
import time
from itertools import islice

import spacy

from bioner_spacy.annotate import ZONE_DOCS, pipe_in_memory_zones


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline")
    parser.add_argument("text", help="One paragraph per line")
    parser.add_argument("--skip", type=int, default=0, help="Lines to skip first")
    parser.add_argument("--lines", type=int, default=3000, help="Lines per timed run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--zone-docs", type=int, default=ZONE_DOCS)
    args = parser.parse_args()
    nlp = spacy.load(args.pipeline)
    # every timed run reads lines no run before it has read: a run after another on the same lines
    # would find their words in the vocabulary and the tokenizer's cache already
    runs = 2 * args.rounds + 1
    with open(args.text, encoding="utf8") as f:
        lines = [line.strip() for line in islice(f, args.skip, args.skip + runs * args.lines) if line.strip()]
    slices = [lines[k * args.lines:(k + 1) * args.lines] for k in range(runs)]
    list(nlp.pipe(slices[-1][:50]))  # warm-up, so the first timed run does not pay for it
    for round_no in range(args.rounds):
        for k, zone_docs in enumerate((args.zone_docs, 0)):
            part = slices[2 * round_no + k]
            words = sum(len(line.split()) for line in part)
            started = time.perf_counter()
            n_ents = sum(len(doc.ents) for doc in pipe_in_memory_zones(nlp, part, zone_docs))
            seconds = time.perf_counter() - started
            label = f"zones of {zone_docs} docs" if zone_docs else "no zones"
            print(f"round {round_no}: {label}: {len(part)} lines, {words} words, {seconds:.1f} s, "
                  f"{words / seconds:.0f} words/s, {n_ents} entities", flush=True)
    # the same entities: the last slice with zones first (its words new to the vocabulary), then without
    found = [[[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in pipe_in_memory_zones(nlp, slices[-1], z)]
             for z in (args.zone_docs, 0)]
    print(f"the same entities with and without zones on {len(slices[-1])} more lines: {found[0] == found[1]} "
          f"({sum(map(len, found[0]))} entities)")


if __name__ == "__main__":
    main()
