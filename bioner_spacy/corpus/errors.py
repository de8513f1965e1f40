"""Errors raised while reading corpora: each names the file and, where it
applies, the line."""
from pathlib import Path
from typing import Optional, Union


class CorpusFormatError(ValueError):
    """A corpus file that cannot be read as the format it claims to be."""

    def __init__(self, path: Union[str, Path], message: str, line: Optional[int] = None):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


def require_exists(path: Union[str, Path], what: str = "corpus path") -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} does not exist: {path}")
    return path
