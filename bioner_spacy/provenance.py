"""Where a figure was made: the machine and the package versions, recorded
with every score the CLI and the benchmark write."""
import os
import platform
import shlex
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Dict, Optional, Sequence

VERSIONED = ("bioner-spacy", "spacy", "thinc", "torch", "spacy-transformers", "seqeval")


def versions() -> Dict[str, Optional[str]]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def machine() -> str:
    """OS, architecture, CPU model and the cores this process may use."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {len(os.sched_getaffinity(0))} cores"


def command_line(module: str, argv: Optional[Sequence[str]] = None) -> str:
    """The command that made a record, as a shell reads it: ``python -m
    MODULE`` with the arguments its ``main`` parsed (the process's own when
    ``argv`` is None)."""
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])
