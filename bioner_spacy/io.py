"""Writing outputs so that a failure never leaves a half-written file."""
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union


def write_text(target: Union[str, Path], text: str) -> None:
    """``text`` into ``target``, whole or not at all."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf8")


@contextmanager
def atomic_path(target: Union[str, Path], directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only when
    the block finishes without error, and remove it otherwise."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    path = tmp if directory else tmp / target.name
    try:
        yield path
        if directory and target.exists():
            shutil.rmtree(target)
        os.replace(path, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
