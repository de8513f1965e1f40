"""Seconds to plan a PubMed XML file into shards and to read every shard
back (no annotation): how reading a shard scales with its place in the file.
Writes a synthetic baseline-like file (ARTICLES citations of ~250 words)
unless one is given, e.g.

    python scripts/medline_shards.py --articles 30000 --shard-size 1000
    python scripts/medline_shards.py --file pubmed24n0001.xml.gz

For before/after comparisons, run it under each checkout with PYTHONPATH
pointing at the checkout.
"""
import argparse
import gzip
import random
import tempfile
import time
from pathlib import Path

from bioner_spacy.collection.sources import plan_shards, read_shard

WORDS = ("the of cisplatin renal failure patients treated with induced increased risk heart glucose "
         "production hepatic").split()


def synthetic(path: Path, articles: int) -> None:
    rng = random.Random(0)
    with gzip.open(path, "wt", encoding="utf8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n')
        for i in range(articles):
            abstract = " ".join(rng.choice(WORDS) for _ in range(250))
            out.write(f'<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">{i + 1}</PMID><Article>'
                      f'<ArticleTitle>Title {i} of a study.</ArticleTitle><Abstract><AbstractText Label="BACKGROUND">'
                      f'{abstract}</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>\n')
        out.write("</PubmedArticleSet>\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="a PubMed .xml.gz (default: a synthetic one)")
    parser.add_argument("--articles", type=int, default=30000)
    parser.add_argument("--shard-size", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or Path(tmp) / "synthetic.xml.gz"
        if not args.file:
            synthetic(path, args.articles)
        started = time.perf_counter()
        shards = plan_shards([path], args.shard_size)
        planned = time.perf_counter() - started
        started = time.perf_counter()
        records = sum(1 for shard in shards for _ in read_shard(shard))
        read = time.perf_counter() - started
    print(f"{path.name}: {len(shards)} shards, {records} records; plan {planned:.1f} s, read every shard {read:.1f} s")


if __name__ == "__main__":
    main()
