"""What annotating in memory zones costs a pipeline, and that it changes no
entity: the same lines of a text file annotated alternately with and without
zones (``bioner_spacy.annotate.pipe_in_memory_zones``), several rounds, in one
process, after a warm-up. Prints seconds per round and whether every round found the same
entities.

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
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--zone-docs", type=int, default=ZONE_DOCS)
    args = parser.parse_args()
    nlp = spacy.load(args.pipeline)
    with open(args.text, encoding="utf8") as f:
        lines = [line.strip() for line in islice(f, args.skip, args.skip + args.lines) if line.strip()]
    words = sum(len(line.split()) for line in lines)
    list(nlp.pipe(lines[:50]))  # warm-up, so the first timed run does not pay for it
    found = {}
    for round_no in range(args.rounds):
        for zone_docs in (args.zone_docs, 0):
            started = time.perf_counter()
            ents = [[(e.start_char, e.end_char, e.label_) for e in doc.ents]
                    for doc in pipe_in_memory_zones(nlp, lines, zone_docs)]
            seconds = time.perf_counter() - started
            found.setdefault(zone_docs, ents)
            same = ents == found[zone_docs]
            print(f"round {round_no}: {f'zones of {zone_docs} docs' if zone_docs else 'no zones'}: {seconds:.1f} s, {words / seconds:.0f} words/s, "
                  f"{sum(map(len, ents))} entities{'' if same else ' (differs from round 0)'}", flush=True)
    print(f"{len(lines)} lines, {words} words; the same entities with and without zones: "
          f"{found[args.zone_docs] == found[0]}")


if __name__ == "__main__":
    main()
