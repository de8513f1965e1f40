"""The ``cfa_ner`` component: a token tagger over the CFA architecture that
writes ``doc.ents``. A thin class over its Thinc model, in the manner of
spaCy's own tagger."""
from functools import cached_property, lru_cache
from itertools import islice
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model
from thinc.types import Floats2d

from ..decoding import UNTYPED, bio_to_spans, transition_constraints, viterbi_over
from ..ml.attention.cfa import set_syntax_labels
from ..ml.output.crf import crf_loss, crf_transitions
from ..ml.encoders.default_tok2vec import DEFAULT_TOK2VEC
from ..ml import cfa_tagger  # noqa: F401  (registers bioner.CFATagger.v1)
from ..extensions import ALL_DATASETS, ALL_SPANS_KEY
from ..scoring import score_seqeval
from .entity_pipe import EntityPipe, set_first_ents
from ..syntax.context import syntax_context

DEFAULT_CFA_MODEL = """
[model]
@architectures = "bioner.CFATagger.v1"
syntax = "dep"
label_width = null
max_context = 32
nO = null
""" + DEFAULT_TOK2VEC
DEFAULT_MODEL = Config().from_str(DEFAULT_CFA_MODEL)["model"]


@Language.factory(
    "cfa_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={
        "model": DEFAULT_MODEL,
        "dataset": None,
        "restrict_loss": True,
        "constraints": "iob2",
        "typed": True,
        "preference": [],
        "learn_rate_scale": 1.0,
        "scorer": {"@scorers": "bioner.seqeval_scorer.v1"},
    },
    default_score_weights={
        "seqeval_f": 1.0,
        "seqeval_p": 0.0,
        "seqeval_r": 0.0,
        "seqeval_macro_f": 0.0,
        "seqeval_per_type": None,
        "seqeval_per_dataset": None,
    },
)
def make_cfa_ner(
    nlp: Language,
    name: str,
    model: Model,
    dataset: Optional[str],
    restrict_loss: bool,
    constraints: str,
    typed: bool,
    preference: List[str],
    learn_rate_scale: float,
    scorer: Optional[Callable],
) -> "CFANER":
    """dataset: the tag for docs whose ``doc._.dataset`` is unset; "all" runs
        every known tag (see ``CFANER``). Unset: the only dataset the model
        knows, or an error if it knows several.
    restrict_loss: a doc of dataset T is trained with the softmax renormalised
        over T's own tags, so a corpus is never taught that another corpus's
        entity types are "O" (decoding is always restricted to T's types).
    constraints: the tag transitions decoding (and the CRF's training) may
        use: "iob2", every well-formed one; "observed", only those that occur
        in the training data (seed 004's binary transition matrix, read at
        initialisation), starts and ends included.
    typed: false = seed 000's fully shared output: one B/I/O label set
        (every entity is ENTITY to the model) for every dataset, no dataset
        restriction in loss or decoding; the dataset tag is the only dataset
        signal (DM). A decoded span takes its dataset's entity type when the
        dataset has one, else the label ENTITY.
    preference: in "all" mode, the datasets whose spans win overlaps in
        ``doc.ents``, in order; among the others, longer spans win.
    learn_rate_scale: this component's weights learn at this multiple of the
        optimizer's rate (its encoder's too, unless a transformer or tok2vec
        shared through a listener, which keeps the optimizer's rate).
    """
    return CFANER(
        nlp.vocab, model, name, dataset=dataset, restrict_loss=restrict_loss, constraints=constraints,
        typed=typed, preference=preference, learn_rate_scale=learn_rate_scale, scorer=scorer
    )


def trim_space(doc: Doc, start: int, end: int, label: str) -> Tuple[int, int, str]:
    """Whitespace tokens never begin or end an entity."""
    while start < end and doc[start].is_space:
        start += 1
    while end > start and doc[end - 1].is_space:
        end -= 1
    return start, end, label


@lru_cache(maxsize=256)
def tags_of_types(tags: Tuple[str, ...], types: Optional[Tuple[str, ...]]) -> numpy.ndarray:
    mask = numpy.asarray([types is None or tag == "O" or tag[2:] in types for tag in tags], dtype=bool)
    mask.flags.writeable = False
    return mask


CONSTRAINTS = ("iob2", "observed")
# transitions seen in training: ((prev tag, tag) pairs, first tags, last tags)
Observed = Optional[Tuple[Tuple[Tuple[str, str], ...], Tuple[str, ...], Tuple[str, ...]]]


@lru_cache(maxsize=16)
def constraints_of(tags: Tuple[str, ...], observed: Observed = None) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Allowed transitions, starts and ends over ``tags``: the well-formed IOB2
    ones, and of those only the ``observed`` ones when given. Read-only."""
    allowed, start_ok, end_ok = transition_constraints(tags)
    if observed is not None:
        index = {tag: i for i, tag in enumerate(tags)}
        pairs, starts, ends = observed
        seen = numpy.zeros_like(allowed)
        for prev, tag in pairs:
            seen[index[prev], index[tag]] = True
        allowed = allowed & seen
        start_ok = start_ok & numpy.isin(numpy.arange(len(tags)), [index[t] for t in starts])
        end_ok = end_ok & numpy.isin(numpy.arange(len(tags)), [index[t] for t in ends])
    for array in (allowed, start_ok, end_ok):
        array.flags.writeable = False
    return allowed, start_ok, end_ok


def observed_transitions(tag_sequences: Iterable[Sequence[str]]) -> Observed:
    """The tag pairs, first tags and last tags of gold sequences (IOB2)."""
    pairs, starts, ends = set(), set(), set()
    for tags in tag_sequences:
        if tags:
            starts.add(tags[0])
            ends.add(tags[-1])
            pairs.update(zip(tags, tags[1:]))
    return tuple(sorted(pairs)), tuple(sorted(starts)), tuple(sorted(ends))


@lru_cache(maxsize=16)
def well_formed(tags: Tuple[str, ...], observed: Observed = None) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Transition, start and end scores that only forbid (-inf): the softmax's
    decoding adds nothing else to its log-probabilities."""
    scores = tuple(numpy.where(allowed, 0.0, -numpy.inf) for allowed in constraints_of(tags, observed))
    for array in scores:
        array.flags.writeable = False
    return scores


class CFANER(EntityPipe):
    """Predicts one IOB2 tag per token and sets the entities they spell.

    Trained on several corpora (each doc's ``doc._.dataset``), it knows each
    dataset's entity types (``datasets``); a doc is tagged with its dataset
    (see ``bioner.DatasetTagTok2Vec.v1``) and only that dataset's types are
    decoded. With the dataset "all", every known dataset is run: all their
    entities go to ``doc.spans["bioner"]``, each span's ``id_`` (and
    ``span._.dataset``) naming the dataset that produced it, and ``doc.ents``
    takes the non-overlapping ones: spans of the datasets in ``preference``
    first, in that order; then longer spans first, then earlier, then by
    dataset name.
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "cfa_ner",
        *,
        dataset: Optional[str] = None,
        restrict_loss: bool = True,
        constraints: str = "iob2",
        typed: bool = True,
        preference: Sequence[str] = (),
        learn_rate_scale: float = 1.0,
        scorer=score_seqeval,
    ):
        super().__init__(vocab, model, name, dataset=dataset, restrict_loss=restrict_loss, scorer=scorer,
                         learn_rate_scale=learn_rate_scale)
        if constraints not in CONSTRAINTS:
            raise ValueError(f"[{name}] unknown constraints {constraints!r}: use one of {', '.join(CONSTRAINTS)}")
        self.constraint_kind = constraints
        self.typed = typed
        self.preference = list(preference)

    def score(self, examples: Iterable[Example], **kwargs) -> Dict:
        """The scorer's figures; an untyped model's on spans alone (``untyped``)."""
        return super().score(examples, **{"untyped": not self.typed, **kwargs})

    @property
    def observed(self) -> Observed:
        """The transitions seen in training (``constraints = "observed"``), else None."""
        seen = self.cfg.get("observed_transitions")
        if self.constraint_kind != "observed" or seen is None:
            return None
        return tuple(tuple(p) for p in seen["pairs"]), tuple(seen["starts"]), tuple(seen["ends"])

    def constraints(self) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """The allowed transitions, starts and ends decoding and the CRF use."""
        return constraints_of(tuple(self.tags), self.observed)

    @property
    def tags(self) -> List[str]:
        """The model's IOB2 tags: over the entity types, or over the one
        label ENTITY (``typed = false``)."""
        labels = self.labels if self.typed else (UNTYPED,)
        return ["O"] + [f"{p}-{label}" for label in labels for p in ("B", "I")]

    @property
    def syntax(self) -> str:
        if not self.model.has_ref("attention"):
            return self.model.attrs.get("syntax", "none")  # the plain head
        return self.model.get_ref("attention").attrs["syntax"]

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        validate_get_examples(get_examples, "CFANER.initialize")
        self.set_types(get_examples(), lambda eg: {ent.label_ for ent in eg.reference.ents}, labels)
        if self.model.has_ref("attention"):
            attention = self.model.get_ref("attention")
            syntax_labels = set()
            for example in get_examples():
                context = syntax_context(example.predicted, self.syntax, attention.attrs["max_context"])
                for row in context.labels:
                    syntax_labels.update(row)
            set_syntax_labels(attention, syntax_labels)
        self.check_model_datasets()
        if self.constraint_kind == "observed":
            tags = self.tags
            index = {tag: i for i, tag in enumerate(tags)}
            sequences = [[tags[t] for t in self.gold_tag_ids(eg, index) if t >= 0] for eg in get_examples()]
            pairs, starts, ends = observed_transitions(sequences)
            self.cfg["observed_transitions"] = {"pairs": [list(p) for p in pairs], "starts": list(starts), "ends": list(ends)}
        for name in self.model.ref_names:
            if name.partition(":")[0] in ("output_layer", "crf"):
                self.model.get_ref(name).set_dim("nO", len(self.tags), force=True)
        doc_sample = [eg.predicted for eg in islice(get_examples(), 10)]
        self.model.initialize(X=doc_sample)

    def check_model_datasets(self) -> None:
        """A model with an output per dataset (``bioner.SharedPrivateTagger.v1``)
        must name exactly the datasets of the training data."""
        names = self.model.attrs.get("datasets")
        if names is not None and sorted(names) != sorted(self.cfg["datasets"]):
            raise ValueError(
                f"[{self.name}] the model has outputs for the datasets {sorted(names)}, but the training "
                f"examples' doc._.dataset values are {sorted(self.cfg['datasets'])}: make the model's datasets "
                f"(e.g. ${{bioner.datasets}}) the corpora it trains on")

    @cached_property
    def uses_crf(self) -> bool:
        """Whether the output is tag scores with a CRF (``output = "crf"``);
        the model's layers are fixed once built, so this is read once."""
        return any(name.partition(":")[0] == "crf" for name in self.model.ref_names)

    def crf_of(self, dataset: Optional[str]) -> Optional[Model]:
        """The CRF that decodes and trains a doc of ``dataset``: the model's
        only one, or that dataset's own (one CRF per dataset: seed 001's
        multi-task models); None for a softmax output."""
        if self.model.has_ref("crf"):
            return self.model.get_ref("crf")
        if self.model.has_ref(f"crf:{dataset}"):
            return self.model.get_ref(f"crf:{dataset}")
        if self.uses_crf:
            raise ValueError(f"[{self.name}] no CRF for dataset {dataset!r}: the model has one for each of "
                             f"{', '.join(self.model.attrs.get('datasets', []))}")
        return None

    def tag_mask(self, dataset: Optional[str]) -> numpy.ndarray:
        """Which tags a doc of ``dataset`` may take: O and its own types' B/I
        (all tags for a dataset the model does not know, or for an untyped
        model). Read-only."""
        types = self.cfg.get("datasets", {}).get(dataset) if dataset and self.typed else None
        return tags_of_types(tuple(self.tags), None if types is None else tuple(types))

    def annotate_batch(self, docs: List[Doc]) -> None:
        tagged = [(doc, self.dataset_of(doc)) for doc in docs]
        single = [(doc, d) for doc, d in tagged if d != ALL_DATASETS]
        if single:
            batch, datasets = [doc for doc, _ in single], [d for _, d in single]
            self.set_entities(batch, self.predict_as(batch, datasets), datasets)
        for doc, dataset in tagged:
            if dataset == ALL_DATASETS:
                self.annotate_all(doc)

    def predict_as(self, docs: List[Doc], datasets: List[Optional[str]]) -> List[Floats2d]:
        """Scores of each doc read as its dataset; ``doc._.dataset`` records
        the tag used."""
        for doc, dataset in zip(docs, datasets):
            doc._.dataset = dataset
        return self.predict(docs)

    def annotate_all(self, doc: Doc) -> None:
        """Run every known dataset's tag over ``doc`` (see the class doc)."""
        names = list(self.cfg.get("datasets", {}))
        copies = [doc.copy() for _ in names]
        scores = self.predict_as(copies, names)
        spans = []
        for name, doc_scores in zip(names, scores):
            for start, end, label in self.decode(doc, doc_scores, name):
                spans.append(Span(doc, start, end, label=label, span_id=name))
        doc._.dataset = ALL_DATASETS
        doc.spans[ALL_SPANS_KEY] = spans
        rank = {name: i for i, name in enumerate(self.preference)}
        set_first_ents(doc, sorted(spans, key=lambda s: (rank.get(s.id_, len(rank)), -len(s), s.start, s.id_)))

    def predict(self, docs: Iterable[Doc]) -> List[Floats2d]:
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            n_tags = len(self.tags)
            return [self.model.ops.alloc2f(len(doc), n_tags) for doc in docs]
        return self.model.predict(docs)

    def transition_scores(self, dataset: Optional[str] = None) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """What decoding adds to the per-token scores (A, start, end) of a doc
        of ``dataset``, the ill-formed IOB2 moves forbidden: its CRF's learned
        scores, or nothing for the softmax. Read once per batch."""
        crf = self.crf_of(dataset)
        if crf is not None:
            return crf_transitions(crf, self.constraints())
        return well_formed(tuple(self.tags), self.observed)

    def decode(self, doc: Doc, doc_scores: Floats2d, dataset: Optional[str]) -> List[Tuple[int, int, str]]:
        return self.decode_many([doc], [doc_scores], dataset)[0]

    def decode_many(self, docs: List[Doc], scores: List[Floats2d], dataset: Optional[str]) -> List[List[Tuple[int, int, str]]]:
        """Entity spans of each doc's best IOB2 path over the dataset's own
        tags: by the softmax's log-probabilities, or by the CRF's scores
        (one batched search for all the docs, ``decoding.viterbi_over``)."""
        # the search runs over the dataset's own tags only (the others can never be on a path)
        tags = self.tags
        own_tags = numpy.flatnonzero(self.tag_mask(dataset))
        unaries = []
        for doc_scores in scores:
            doc_scores = self.model.ops.to_numpy(doc_scores)[:, own_tags]
            unaries.append(doc_scores if self.uses_crf else numpy.log(doc_scores + 1e-12))
        paths = viterbi_over(unaries, *self.transition_scores(dataset), own_tags)
        own = self.cfg.get("datasets", {}).get(dataset, [])
        decoded = []
        for doc, path in zip(docs, paths):
            spans = [trim_space(doc, *span) for span in bio_to_spans([tags[t] for t in path])]
            if not self.typed:
                spans = [(s, e, own[0] if len(own) == 1 else UNTYPED) for s, e, _ in spans]
            decoded.append([(s, e, label) for s, e, label in spans if s < e])
        return decoded

    @staticmethod
    def set_doc_ents(doc: Doc, spans: List[Tuple[int, int, str]]) -> None:
        doc.set_ents([Span(doc, s, e, label=label) for s, e, label in spans], default="outside")

    def set_annotations(self, docs: Iterable[Doc], scores: List[Floats2d]) -> None:
        docs = list(docs)
        self.set_entities(docs, scores, [self.dataset_of(doc) for doc in docs])

    def set_entities(self, docs: List[Doc], scores: List[Floats2d], datasets: List[Optional[str]]) -> None:
        """Decode and set ``doc.ents``: one batched search per dataset."""
        for dataset in dict.fromkeys(datasets):
            rows = [k for k, d in enumerate(datasets) if d == dataset]
            spans = self.decode_many([docs[k] for k in rows], [scores[k] for k in rows], dataset)
            for k, doc_spans in zip(rows, spans):
                self.set_doc_ents(docs[k], doc_spans)

    def gold_tag_ids(self, example: Example, index: Dict[str, int]) -> numpy.ndarray:
        """Gold IOB2 tag id (from ``index``) of each predicted token; -1 where
        the gold is missing or the tokenisations disagree."""
        ids = []
        for biluo in example.get_aligned_ner():
            if biluo is None or biluo == "-":
                ids.append(-1)
                continue
            prefix, _, label = biluo.partition("-")
            tag = "O" if biluo == "O" else ("B-" if prefix in ("B", "U") else "I-") + (label if self.typed else UNTYPED)
            ids.append(index.get(tag, -1))
        return numpy.asarray(ids, dtype="int32")

    def get_loss(self, examples: Iterable[Example], scores: List[Floats2d]) -> Tuple[float, List[Floats2d]]:
        """Cross-entropy of the softmax outputs against the gold tags; with
        ``restrict_loss``, over the doc's own dataset's tags only."""
        validate_examples(examples, "CFANER.get_loss")
        ops = self.model.ops
        index = {tag: i for i, tag in enumerate(self.tags)}
        if self.uses_crf:
            return self.get_crf_loss(list(examples), scores, index)
        loss, d_scores = 0.0, []
        for example, probs in zip(examples, scores):
            if self.restrict_loss:
                mask = ops.asarray(self.tag_mask(example.reference._.dataset).astype("float32"))
                probs = probs * mask
                probs = probs / probs.sum(axis=1, keepdims=True)
            gold = ops.asarray(self.gold_tag_ids(example, index))
            known = gold >= 0
            rows = ops.xp.arange(len(gold))[known]
            target = ops.alloc2f(*probs.shape)
            target[rows, gold[known]] = 1.0
            d_scores.append((probs - target) * known[:, None])
            loss += float(-ops.xp.log(probs[rows, gold[known]] + 1e-12).sum())
        return loss, d_scores

    def get_crf_loss(self, examples: List[Example], scores: List[Floats2d],
                     index: Dict[str, int]) -> Tuple[float, List[Floats2d]]:
        """The CRF's negative log-likelihood of the gold tags (tokens without
        gold summed over); with ``restrict_loss``, over paths of the doc's own
        dataset's tags. Adds the gradients of the transitions of each doc's CRF
        (the model's only one, or its dataset's own)."""
        every_tag = numpy.ones(len(self.tags), dtype=bool)
        by_crf: Dict[int, Tuple[Model, List[int]]] = {}
        for i, eg in enumerate(examples):
            crf = self.crf_of(eg.reference._.dataset)
            by_crf.setdefault(id(crf), (crf, []))[1].append(i)
        loss, d_scores = 0.0, [None] * len(examples)
        for crf, rows in by_crf.values():
            masks = [self.tag_mask(examples[i].reference._.dataset) if self.restrict_loss else every_tag for i in rows]
            gold = [self.gold_tag_ids(examples[i], index) for i in rows]
            part, d_part = crf_loss(crf, [scores[i] for i in rows], gold, masks, self.constraints())
            loss += part
            for i, d in zip(rows, d_part):
                d_scores[i] = d
        return loss, d_scores
