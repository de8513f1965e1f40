"""Give freed heap memory back to the system after each grid update and
each predicted batch.

The word-pair grid allocates and frees large tensors of a different shape at
every batch, which fragments glibc's heap: measured on BC5CDR-chem batches
of 800 words (2 cores, `python scripts/grid_memory.py
corpus/BC5CDR-chem/train.spacy`), the process grew from 0.5 GB to 1.9 GB in
30 updates; ``malloc_trim`` after each update keeps it at 0.7 GB. Annotating
the BC5CDR-chem test texts with the harness's grid pipeline (`python -m
bioner_spacy.benchmark.speed --data corpus/BC5CDR-chem/test.spacy --one
benchmark/pipelines/grid`) peaked at 1.07 GB with a trim after each batch and
1.45 GB with BIONER_KEEP_MALLOC=1. It does not change malloc's settings;
on other C libraries it does nothing. BIONER_KEEP_MALLOC=1 turns it off.
"""
import ctypes
import ctypes.util
import os
import sys
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim():
    if os.environ.get("BIONER_KEEP_MALLOC") or not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_free_memory() -> bool:
    """Return the heap's free pages to the system; True when it could."""
    trim = _malloc_trim()
    return bool(trim is not None and trim(0) is not None)
