"""Seconds of spaCy's step-0 evaluation of an untrained model: ``init_nlp``
of a config (seed from the config), then ``nlp.evaluate`` on the first
``limit`` docs of the dev corpus, one thread. For comparing checkouts, run
it under each with PYTHONPATH pointing at the checkout:

    for tree in /tmp/before "$PWD"; do
        OMP_NUM_THREADS=1 PYTHONPATH=$tree python scripts/untrained_eval_time.py configs/grid_bilstm.cfg \\
            corpus/BC5CDR-chem/train.spacy corpus/BC5CDR-chem/dev.spacy
    done
"""
import sys
import time

import spacy
import torch
from spacy.training.initialize import init_nlp
from spacy.util import load_config

import bioner_spacy


def main(config: str, train: str, dev: str, limit: int = 100) -> None:
    torch.set_num_threads(1)
    nlp = init_nlp(load_config(config, overrides={"paths.train": train, "paths.dev": dev}))
    reader = spacy.util.resolve_dot_names(nlp.config.interpolate(), ["corpora.dev"])[0]
    examples = list(reader(nlp))[:limit]
    start = time.perf_counter()
    nlp.evaluate(examples)
    print(f"bioner_spacy from {bioner_spacy.__file__}: {time.perf_counter() - start:.1f} s for {len(examples)} docs")


if __name__ == "__main__":
    main(*sys.argv[1:4], *(int(a) for a in sys.argv[4:5]))
