"""The shared corpora and the `bioner-spacy convert` command lines that turn
them into ``corpus/DATASET/{train,dev,test}.spacy``: the
MTL-Bioinformatics-2016 IOB corpora split by split, JNLPBA from brat
standoff (10% of train held out as dev, seed 0)."""
import sys
from pathlib import Path
from typing import Iterator, List

# Crichton et al.'s 11 corpora, the two BC5CDR single-type splits, and JNLPBA.
ALL_DATASETS = [
    "BC2GM", "BC5CDR", "BC5CDR-chem", "BC5CDR-disease", "NCBI-disease", "linnaeus",
    "BioNLP09", "BioNLP11EPI", "BioNLP11ID", "BioNLP13CG", "BioNLP13PC", "CRAFT", "Ex-PTM", "JNLPBA",
]
SPLITS = {"train": "train", "devel": "dev", "test": "test"}


def commands(corpora_dir: Path, out_dir: Path, dataset: str, syntax_pipeline: str, limit: int = 0) -> Iterator[List[str]]:
    """The convert command lines still to run for one dataset (limit: the
    first N sentences or documents of each split; 0 = all)."""
    if dataset not in ALL_DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: use one of {', '.join(ALL_DATASETS)}")
    cli = [sys.executable, "-m", "bioner_spacy", "convert"]
    tail = ["--limit", str(limit)] if limit else []
    target = out_dir / dataset
    if dataset == "JNLPBA":
        brat = corpora_dir / "jnlpba-standoff"
        if not (target / "train.spacy").exists() or not (target / "dev.spacy").exists():
            yield cli + ["brat", str(brat / "train"), str(target / "train.spacy"), "--dataset", dataset,
                         "--dev-output", str(target / "dev.spacy"), "--syntax-pipeline", syntax_pipeline] + tail
        if not (target / "test.spacy").exists():
            yield cli + ["brat", str(brat / "test"), str(target / "test.spacy"), "--dataset", dataset,
                         "--syntax-pipeline", syntax_pipeline] + tail
        return
    folder = corpora_dir / "mtl-bioinformatics-2016" / f"{dataset}-IOB"
    for split, name in SPLITS.items():
        if not (target / f"{name}.spacy").exists():
            yield cli + ["iob", str(folder / f"{split}.tsv"), str(target / f"{name}.spacy"), "--dataset", dataset,
                         "--syntax-pipeline", syntax_pipeline] + tail
