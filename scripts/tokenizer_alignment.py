"""How many brat gold entities fall on token boundaries, per tokenizer: an
entity that does not cannot be predicted exactly by a token tagger.

    python scripts/tokenizer_alignment.py ../shared/corpora/jnlpba-standoff/train ../shared/corpora/jnlpba-standoff/test
"""
import argparse
import sys

import spacy

from bioner_spacy.corpus.brat import AlignmentReport, brat_to_docs

TOKENIZERS = {"spaCy English (default)": "spacy.Tokenizer.v1", "bioner.BioTokenizer.v1": "bioner.BioTokenizer.v1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+")
    args = parser.parse_args()
    print("| tokenizer | entities | on token boundaries | misaligned |")
    print("|---|---|---|---|")
    for name, registered in TOKENIZERS.items():
        nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": registered}}})
        report = AlignmentReport()
        for folder in args.folders:
            for _ in brat_to_docs(nlp.make_doc, folder, "brat", report=report):
                pass
        bad = len(report.misaligned)
        print(f"| {name} | {report.n_entities} | {100 * (1 - bad / report.n_entities):.2f}% | {bad} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
