"""Domain word vectors as spaCy users make them: floret (fastText with its
subword n-grams hashed into a fixed table) trained on the prepared
unlabelled text (``text.py``), then loaded with ``spacy init vectors --mode
floret``. Every word, unseen ones too, gets a vector from its character
n-grams, so "rosiglitazone" has one although the NER corpora never saw it.

The text is lower-cased (part of it is lower-cased at the source), so the
table is keyed by LOWER: spaCy looks each token's ``lower_`` up in it.
"""
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

from spacy.util import registry

from ..io import atomic_path

VECTORS_ATTR = "LOWER"
MANIFEST = "bioner_vectors.json"


@dataclass
class FloretSettings:
    """floret's training settings (names as in its Python API)."""

    model: str = "cbow"
    dim: int = 100
    epoch: int = 3
    minCount: int = 10
    minn: int = 4
    maxn: int = 5
    hashCount: int = 2
    bucket: int = 100000
    thread: int = 2


def check_text(text_file: Path) -> None:
    text_file = Path(text_file)
    if not text_file.exists() or text_file.stat().st_size == 0:
        raise FileNotFoundError(f"prepared text not found or empty: {text_file} (build it with "
                                "`bioner-spacy prepare-text` or `spacy project run vectors`)")


def train_floret(text_file: Path, output: Path, settings: FloretSettings) -> Path:
    """Train floret on ``text_file`` (tokens separated by spaces, one
    paragraph per line) and write its vector table (``.floret``) to
    ``output``."""
    try:
        import floret
    except ImportError:
        raise ImportError("floret is not installed: pip install 'bioner-spacy[vectors]' (or pip install floret)") from None

    check_text(text_file)
    options = asdict(settings)
    model = floret.train_unsupervised(str(text_file), mode="floret", verbose=0, **options)
    with atomic_path(output) as tmp:
        model.save_floret_vectors(str(tmp))
    return Path(output)


def floret_to_spacy(floret_file: Path, output_dir: Path, lang: str = "en", manifest: Optional[dict] = None) -> Path:
    """``spacy init vectors LANG FILE OUTPUT --mode floret --attr LOWER``: a
    pipeline folder whose vocab holds the table, for ``[initialize] vectors``
    (``paths.vectors``), with ``manifest`` as ``bioner_vectors.json``."""
    import spacy
    from spacy.training.initialize import convert_vectors

    nlp = spacy.blank(lang)
    convert_vectors(nlp, Path(floret_file), truncate=0, prune=-1, mode="floret", attr=VECTORS_ATTR)
    with atomic_path(output_dir, directory=True) as tmp:
        nlp.to_disk(tmp)
        if manifest is not None:
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return Path(output_dir)


def build_vectors(
    text_file: Path,
    output_dir: Path,
    settings: Optional[FloretSettings] = None,
    log: Optional[Callable[[str], None]] = None,
) -> dict:
    """floret on the prepared text, then its table as a spaCy vectors folder
    with ``bioner_vectors.json`` (settings, sizes, seconds) beside the vocab."""
    settings = settings or FloretSettings()
    log = log or (lambda message: print(message, file=sys.stderr))
    output_dir = Path(output_dir)
    floret_file = output_dir.parent / f"{output_dir.name}.floret"
    check_text(text_file)
    with open(text_file, encoding="utf8") as f:
        words = sum(len(line.split()) for line in f)
    log(f"floret: {settings.model}, {settings.dim} dimensions, {settings.epoch} epochs over {words:,} words, "
        f"{settings.bucket:,} rows ({settings.thread} threads)")
    start = time.time()
    try:
        train_floret(text_file, floret_file, settings)
        train_seconds = time.time() - start
        log(f"floret: trained in {train_seconds:.0f} s; loading into spaCy (--mode floret --attr {VECTORS_ATTR})")
        manifest = {"text": str(text_file), "words": words, "settings": asdict(settings), "attr": VECTORS_ATTR,
                    "mode": "floret", "train_seconds": round(train_seconds, 1),
                    # floret has no seed and trains on threads: the same settings give other vectors
                    "sha256": hashlib.sha256(floret_file.read_bytes()).hexdigest()}
        floret_to_spacy(floret_file, output_dir, manifest=manifest)
    finally:
        floret_file.unlink(missing_ok=True)
    return manifest


@registry.callbacks("bioner.require_vectors.v1")
def create_require_vectors() -> Callable:
    """``[initialize.before_init]`` of a config that reads static vectors:
    before spaCy loads ``[initialize] vectors``, a missing folder gets an error
    naming it and the command that builds it (spaCy's own says only that it
    cannot find a model)."""

    def require_vectors(nlp) -> None:
        import spacy.util

        name = nlp.config.interpolate()["initialize"]["vectors"]
        if name is None:
            raise ValueError("this config reads static vectors (include_static_vectors = true) but [initialize] "
                             "vectors (paths.vectors) is null: build them with `spacy project run vectors` "
                             "(pretraining/vectors) or set --paths.vectors")
        if not Path(name).exists() and not spacy.util.is_package(str(name)):
            raise FileNotFoundError(f"vectors not found: {name} (paths.vectors). Build them with "
                                    "`spacy project run vectors` (-> pretraining/vectors), or "
                                    "`bioner-spacy prepare-text` then `bioner-spacy vectors`")

    return require_vectors
