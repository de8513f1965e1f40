"""Resident memory of a process training grid_ner, every 5 updates: the
measurement behind bioner_spacy/ml/grid/heap.py.

    python scripts/grid_memory.py corpus/BC5CDR-chem/train.spacy                        # malloc_trim after each update
    BIONER_KEEP_MALLOC=1 python scripts/grid_memory.py corpus/BC5CDR-chem/train.spacy   # without it
"""
import argparse
import random
import resource

from spacy.training.batchers import minibatch_by_words
from spacy.util import load_config, load_model_from_config

from bioner_spacy.benchmark.speed import status_mb
from bioner_spacy.corpus.readers import create_syntax_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train", help="a converted .spacy training corpus")
    parser.add_argument("--config", default="configs/grid_bilstm.cfg")
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--words", type=int, default=800, help="words per batch")
    parser.add_argument("--updates", type=int, default=30)
    args = parser.parse_args()
    nlp = load_model_from_config(load_config(args.config), auto_fill=True)
    examples = list(create_syntax_corpus(args.train, limit=args.docs)(nlp))
    optimizer = nlp.initialize(lambda: examples[:200])
    print(f"after initialisation: {status_mb('VmRSS'):.0f} MB", flush=True)
    random.Random(0).shuffle(examples)
    for i, batch in enumerate(minibatch_by_words(examples, size=args.words)):
        nlp.update(batch, sgd=optimizer, drop=0.1)
        if i % 5 == 0:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            print(f"update {i}: {len(batch)} docs, RSS {status_mb('VmRSS'):.0f} MB, peak {peak} MB", flush=True)
        if i == args.updates:
            break


if __name__ == "__main__":
    main()
