"""Seconds that a pipeline's last component (the NER) and the whole pipeline
take on the same texts, one thread, best of 3 for the component, and a
digest of the entities the whole pipeline finds: for
comparing two checkouts of bioner-spacy on one pipeline, run it under each
with PYTHONPATH pointing at the checkout, alternating:

    git worktree add /tmp/before 6f2e760
    for tree in /tmp/before "$PWD"; do
        (cd /tmp && OMP_NUM_THREADS=1 PYTHONPATH=$tree python "$OLDPWD/scripts/ner_time.py" \
            "$OLDPWD/benchmark/pipelines/bilstm-vec" "$OLDPWD/corpus/BC5CDR-chem/test.spacy")
    done
"""
import hashlib
import sys
import time

import spacy
import torch
from spacy.tokens import DocBin

import bioner_spacy


def main(pipeline: str, data: str, limit: int = 2000) -> None:
    torch.set_num_threads(1)
    nlp = spacy.load(pipeline)
    texts = [d.text for d in DocBin().from_disk(data).get_docs(nlp.vocab)][:limit]
    last = nlp.pipe_names[-1]
    docs = list(nlp.pipe(texts, disable=[last]))
    ner = nlp.get_pipe(last)
    list(ner.pipe([d.copy() for d in docs[:128]]))  # warm-up
    best = float("inf")
    for _ in range(3):
        fresh = [d.copy() for d in docs]
        start = time.perf_counter()
        list(ner.pipe(fresh, batch_size=128))
        best = min(best, time.perf_counter() - start)
    start = time.perf_counter()
    tagged = list(nlp.pipe(texts, batch_size=128))
    full = time.perf_counter() - start
    # the entities themselves, so that two checkouts can be seen to agree
    ents = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in tagged]
    digest = hashlib.md5(repr(ents).encode("utf8")).hexdigest()[:12]
    print(f"bioner_spacy from {bioner_spacy.__file__}: {last} {best:.2f} s, whole pipeline {full:.2f} s, "
          f"{len(texts)} texts, {sum(map(len, ents))} entities (digest {digest})")


if __name__ == "__main__":
    main(*sys.argv[1:3], *(int(a) for a in sys.argv[3:4]))
