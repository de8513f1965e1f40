"""Corpus readers registered for spaCy configs (``[corpora]``)."""
import random
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import registry

from .brat import brat_to_docs
from .errors import CorpusFormatError, require_exists
from .iob import iob_to_docs

PathLike = Union[str, Path]


def without_entities(doc: Doc) -> Doc:
    """A copy of a gold doc for the model to annotate: same tokens, syntax
    and extension values, entities unknown."""
    predicted = doc.copy()
    predicted.set_ents([], default="missing")
    return predicted


def read_docbin(path: PathLike, nlp: Language, limit: int = 0) -> Iterator[Doc]:
    path = require_exists(path, "DocBin corpus")
    try:
        docbin = DocBin(store_user_data=True).from_disk(path)
    except Exception as err:
        raise CorpusFormatError(path, f"not a readable .spacy DocBin ({err})") from None
    for i, doc in enumerate(docbin.get_docs(nlp.vocab)):
        if limit and i >= limit:
            break
        yield doc


def subsample(docs: List[Doc], fraction: float, seed: int) -> List[Doc]:
    """round(fraction * N) of the docs, drawn without replacement by ``seed``
    and kept in corpus order (the same draw for every training seed)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return docs
    keep = sorted(random.Random(seed).sample(range(len(docs)), max(1, round(fraction * len(docs)))))
    return [docs[i] for i in keep]


@registry.readers("bioner.SyntaxCorpus.v1")
def create_syntax_corpus(
    path: Optional[Path], limit: int = 0, fraction: float = 1.0, sample_seed: int = 0,
    skip_entities_across_sentences: bool = False,
) -> Callable[[Language], Iterable[Example]]:
    """Examples from a DocBin written by ``bioner-spacy convert``: the
    predicted docs keep the stored syntax (tags, parse) so that training
    never re-parses the corpus; only the entities are left to predict.

    fraction: keep this share of the docs (reduced-data runs), drawn by sample_seed.
    skip_entities_across_sentences: leave out the docs with a gold entity
    that crosses a sentence boundary of the stored parse ("obstructive (P less
    than 0.05) and central apnoea" in BC5CDR): spaCy's transition-based
    ``ner`` cannot predict one and stops training on it (E024).
    """

    def read(nlp: Language) -> Iterator[Example]:
        if path is None:
            raise ValueError("bioner.SyntaxCorpus.v1: no path given (set paths.train / paths.dev)")
        docs = read_docbin(path, nlp, limit)
        if fraction != 1:
            docs = subsample(list(docs), fraction, sample_seed)
        for doc in docs:
            if skip_entities_across_sentences and any(crosses_sentences(ent) for ent in doc.ents):
                continue
            yield Example(without_entities(doc), doc)

    return read


def crosses_sentences(span) -> bool:
    """Whether a sentence starts inside the span (after its first token)."""
    return any(token.is_sent_start for token in span[1:])


def corpus_shares(sizes: Dict[str, int], temperature: float) -> Dict[str, int]:
    """How many examples each corpus gives per epoch: p_k ~ N_k^(1/T) of the
    same total. T = 1 keeps every corpus as it is (plain concatenation); a
    larger T moves towards equal shares (small corpora repeated, large ones
    subsampled)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    total = sum(sizes.values())
    weights = {name: n ** (1.0 / temperature) for name, n in sizes.items()}
    norm = sum(weights.values())
    return {name: max(1, round(total * w / norm)) if sizes[name] else 0 for name, w in weights.items()}


def resample(docs: List[Doc], n: int, rng: random.Random) -> List[Doc]:
    """n docs from ``docs``: all of them as often as they fit, the rest drawn without replacement."""
    whole, rest = divmod(n, len(docs))
    return docs * whole + rng.sample(docs, rest)


@registry.readers("bioner.MultiCorpus.v1")
def create_multi_corpus(
    corpus_dir: Path,
    datasets: Sequence[str],
    split: str,
    limit: int = 0,
    temperature: float = 1.0,
    seed: int = 0,
    fractions: Dict[str, float] = {},
    sample_seed: int = 0,
) -> Callable[[Language], Iterable[Example]]:
    """Examples from several converted corpora, ``corpus_dir/DATASET/SPLIT.spacy``
    each (the layout of ``scripts/convert_corpora.py``), every doc keeping its
    ``doc._.dataset``. spaCy's training loop shuffles them together each
    epoch, so batches mix corpora.

    limit: keep the first N docs of each corpus (0 = all), e.g. a small dev
        set per corpus.
    temperature: sampling rule, see ``corpus_shares`` (1.0 = concatenation,
        the rule of seed 000); the resampling is fixed by ``seed``.
    fractions: keep only this share of a corpus's docs, e.g.
        {"NCBI-disease": 0.1} (reduced-data runs; the others stay whole),
        drawn by ``sample_seed``.
    """
    if isinstance(datasets, str) or not datasets:
        raise ValueError(
            f"bioner.MultiCorpus.v1: datasets must be a non-empty list of names, got {datasets!r} "
            f"(on the command line: --bioner.datasets '[\"NCBI-disease\", \"BC2GM\"]')"
        )

    def read(nlp: Language) -> Iterator[Example]:
        docs = {name: list(read_docbin(Path(corpus_dir) / name / f"{split}.spacy", nlp, limit)) for name in datasets}
        for name, fraction in fractions.items():
            if name not in docs:
                raise ValueError(f"bioner.MultiCorpus.v1: fractions names {name!r}, which is not one of the datasets {list(datasets)}")
            docs[name] = subsample(docs[name], fraction, sample_seed)
        if temperature != 1.0:
            rng = random.Random(seed)
            shares = corpus_shares({name: len(d) for name, d in docs.items()}, temperature)
            docs = {name: resample(d, shares[name], rng) for name, d in docs.items() if d}
        for name in datasets:
            for doc in docs.get(name, []):
                yield Example(without_entities(doc), doc)

    return read


@registry.readers("bioner.IOBCorpus.v1")
def create_iob_corpus(
    path: Path, dataset: Optional[str] = None, scheme: str = "IOB2", limit: int = 0
) -> Callable[[Language], Iterable[Example]]:
    """Examples straight from an IOB file (gold tokens, no syntax)."""

    def read(nlp: Language) -> Iterator[Example]:
        for doc in iob_to_docs(nlp.vocab, path, dataset, scheme=scheme, limit=limit):
            yield Example(without_entities(doc), doc)

    return read


@registry.readers("bioner.BratCorpus.v1")
def create_brat_corpus(path: Path, dataset: Optional[str] = None, limit: int = 0) -> Callable[[Language], Iterable[Example]]:
    """Examples from a brat folder, tokenised by the pipeline's tokenizer."""

    def read(nlp: Language) -> Iterator[Example]:
        for doc in brat_to_docs(nlp.make_doc, path, dataset, limit=limit):
            yield Example(without_entities(doc), doc)

    return read
