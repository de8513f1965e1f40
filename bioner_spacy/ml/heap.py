"""Keep the CPU heap from growing while the grid trains.

The word-pair grid allocates and frees large tensors of a different shape at
every batch. glibc's malloc raises its mmap threshold after each large free,
so later large tensors come from the heap, which fragments: measured on
BC5CDR-chem batches of 800 words (2 cores), the process grew from 0.6 GB to
2.0 GB in 30 updates, and a 2000-step `spacy train` reached 6.8 GB. With a
fixed 64 KiB threshold large tensors always go to mmap and are returned on
free: 0.6 GB after the same 30 updates (``scripts/grid_memory.py``).

``fix_mmap_threshold`` makes that setting, process-wide, once, on glibc only;
set BIONER_KEEP_MALLOC=1 to leave malloc as it is.
"""
import ctypes
import ctypes.util
import os
import sys

M_MMAP_THRESHOLD = -3
THRESHOLD_BYTES = 64 * 1024
_done = False


def fix_mmap_threshold() -> bool:
    """Set glibc's mmap threshold; True when it was set (now or before)."""
    global _done
    if _done:
        return True
    if os.environ.get("BIONER_KEEP_MALLOC") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _done = bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES))
    except (OSError, AttributeError):  # not glibc
        return False
    return _done
