"""Make sure a corpus is available under the corpora folder: use the local
mirror when it is there, otherwise download it from its public home.

    python scripts/fetch_corpora.py CORPORA_DIR DATASET [DATASET ...]

DATASET is a folder name of the MTL-Bioinformatics-2016 set without "-IOB"
(BC5CDR-chem, NCBI-disease, ...) or "jnlpba-standoff".
"""
import sys
import urllib.request
from pathlib import Path

MTL_URL = "https://raw.githubusercontent.com/cambridgeltl/MTL-Bioinformatics-2016/master/data/{folder}/{split}.tsv"
SPLITS = ("train", "devel", "test")


def download(url: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, tmp.open("wb") as out:
            out.write(response.read())
        tmp.replace(target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        sys.exit(f"error: cannot download {url} ({err}); without network, point corpora_dir at a local mirror")


def fetch(corpora_dir: Path, dataset: str) -> None:
    if dataset == "jnlpba-standoff":
        folder = corpora_dir / dataset
        if not (folder / "train").is_dir():
            sys.exit(f"error: {folder}/train not found; clone the public jnlpba repository's standoff/ folder there")
        print(f"{dataset}: local copy at {folder}")
        return
    folder = corpora_dir / "mtl-bioinformatics-2016" / f"{dataset}-IOB"
    missing = [split for split in SPLITS if not (folder / f"{split}.tsv").exists()]
    if not missing:
        print(f"{dataset}: local copy at {folder}")
        return
    for split in missing:
        url = MTL_URL.format(folder=folder.name, split=split)
        print(f"{dataset}: downloading {url}")
        download(url, folder / f"{split}.tsv")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    for name in sys.argv[2:]:
        fetch(Path(sys.argv[1]), name)
