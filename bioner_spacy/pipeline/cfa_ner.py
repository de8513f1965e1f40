"""The ``cfa_ner`` component: a token tagger over the CFA architecture that
writes ``doc.ents``. A thin class over its Thinc model, in the manner of
spaCy's own tagger."""
from itertools import islice
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, set_dropout_rate
from thinc.types import Floats2d

from ..decoding import allowed_transitions, bio_to_spans, viterbi_bio
from ..ml.cfa_attention import set_syntax_labels
from ..ml import cfa_tagger  # noqa: F401  (registers bioner.CFATagger.v1)
from ..scoring import score_seqeval
from ..syntax.context import syntax_context

DEFAULT_CFA_MODEL = """
[model]
@architectures = "bioner.CFATagger.v1"
syntax = "dep"
label_width = null
max_context = 32
nO = null

[model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 96
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [5000, 1000, 2500, 2500]
include_static_vectors = false

[model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 96
depth = 4
window_size = 1
maxout_pieces = 3
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_CFA_MODEL)["model"]


@Language.factory(
    "cfa_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={
        "model": DEFAULT_MODEL,
        "scorer": {"@scorers": "bioner.seqeval_scorer.v1"},
    },
    default_score_weights={
        "seqeval_f": 1.0,
        "seqeval_p": 0.0,
        "seqeval_r": 0.0,
        "seqeval_per_type": None,
    },
)
def make_cfa_ner(nlp: Language, name: str, model: Model, scorer: Optional[Callable]) -> "CFANER":
    return CFANER(nlp.vocab, model, name, scorer=scorer)


def trim_space(doc: Doc, start: int, end: int, label: str) -> Tuple[int, int, str]:
    """Whitespace tokens never begin or end an entity."""
    while start < end and doc[start].is_space:
        start += 1
    while end > start and doc[end - 1].is_space:
        end -= 1
    return start, end, label


class CFANER(TrainablePipe):
    """Predicts one IOB2 tag per token and sets the entities they spell."""

    def __init__(self, vocab: Vocab, model: Model, name: str = "cfa_ner", *, scorer=score_seqeval):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict = {"labels": []}

    @property
    def labels(self) -> Tuple[str, ...]:
        """The entity types."""
        return tuple(self.cfg["labels"])

    @property
    def tags(self) -> List[str]:
        return ["O"] + [f"{p}-{label}" for label in self.labels for p in ("B", "I")]

    @property
    def label_data(self) -> List[str]:
        return list(self.labels)

    @property
    def syntax(self) -> str:
        return self.model.get_ref("attention").attrs["syntax"]

    def add_label(self, label: str) -> int:
        if label in self.cfg["labels"]:
            return 0
        self._allow_extra_label()
        self.cfg["labels"] = sorted(self.cfg["labels"] + [label])
        return 1

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        validate_get_examples(get_examples, "CFANER.initialize")
        attention = self.model.get_ref("attention")
        entity_types, syntax_labels = set(labels or []), set()
        for example in get_examples():
            if labels is None:
                entity_types.update(ent.label_ for ent in example.reference.ents)
            context = syntax_context(example.predicted, self.syntax, attention.attrs["max_context"])
            for row in context.labels:
                syntax_labels.update(row)
        if not entity_types:
            raise ValueError(f"[{self.name}] no entities in the training examples: nothing to learn")
        self.cfg["labels"] = sorted(entity_types)
        set_syntax_labels(attention, syntax_labels)
        self.model.get_ref("output_layer").set_dim("nO", len(self.tags), force=True)
        doc_sample = [eg.predicted for eg in islice(get_examples(), 10)]
        self.model.initialize(X=doc_sample)

    def predict(self, docs: Iterable[Doc]) -> List[Floats2d]:
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            n_tags = len(self.tags)
            return [self.model.ops.alloc2f(len(doc), n_tags) for doc in docs]
        return self.model.predict(docs)

    def set_annotations(self, docs: Iterable[Doc], scores: List[Floats2d]) -> None:
        tags = self.tags
        allowed = allowed_transitions(tags)
        for doc, doc_scores in zip(docs, scores):
            log_probs = numpy.log(self.model.ops.to_numpy(doc_scores) + 1e-12)
            path = viterbi_bio(log_probs, allowed)
            spans = [trim_space(doc, *span) for span in bio_to_spans([tags[t] for t in path])]
            doc.set_ents([Span(doc, s, e, label=label) for s, e, label in spans if s < e], default="outside")

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd=None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "CFANER.update")
        docs = [eg.predicted for eg in examples]
        if not any(len(doc) for doc in docs):
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update(docs)
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def gold_tag_ids(self, example: Example, index: Dict[str, int]) -> numpy.ndarray:
        """Gold IOB2 tag id (from ``index``) of each predicted token; -1 where
        the gold is missing or the tokenisations disagree."""
        ids = []
        for biluo in example.get_aligned_ner():
            if biluo is None or biluo == "-":
                ids.append(-1)
                continue
            prefix, _, label = biluo.partition("-")
            tag = "O" if biluo == "O" else ("B-" if prefix in ("B", "U") else "I-") + label
            ids.append(index.get(tag, -1))
        return numpy.asarray(ids, dtype="int32")

    def get_loss(self, examples: Iterable[Example], scores: List[Floats2d]) -> Tuple[float, List[Floats2d]]:
        """Cross-entropy of the softmax outputs against the gold tags."""
        validate_examples(examples, "CFANER.get_loss")
        ops = self.model.ops
        index = {tag: i for i, tag in enumerate(self.tags)}
        loss, d_scores = 0.0, []
        for example, probs in zip(examples, scores):
            gold = ops.asarray(self.gold_tag_ids(example, index))
            known = gold >= 0
            rows = ops.xp.arange(len(gold))[known]
            target = ops.alloc2f(*probs.shape)
            target[rows, gold[known]] = 1.0
            d_scores.append((probs - target) * known[:, None])
            loss += float(-ops.xp.log(probs[rows, gold[known]] + 1e-12).sum())
        return loss, d_scores
