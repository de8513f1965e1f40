"""The ``mrc_auxiliary`` component: seed 003's machine-reading-comprehension
auxiliary task, trained jointly with the NER head over the same transformer.

In training, each sentence (the passage p) is paired with one entity type of
its dataset, drawn at random each time, and that type's query q; the
pipeline's transformer reads [CLS] q [SEP] p [SEP], and the span head
(``ml/multitask/mrc.py``) learns where the type's entities start and end.
Its gradient (scaled by ``weight``, the paper's beta; the NER loss keeps
weight 1) is added to the transformer's, beside the NER head's, and the
transformer component's own update applies the sum (``nlp.update`` does that
at the transformer's next ``finish_update``, for every component that shares
it). The component must come after the transformer in the pipeline, which
``initialize`` checks: it reads the initialised transformer there.

The paper's input is a sentence pair; spacy-transformers encodes one text,
so [SEP] joins query and passage inside it and both get segment id 0. A
query and sentence longer than the transformer's window (``get_spans``: 128
word pieces in configs/cfa_trf_mrc.cfg) are read in overlapping windows of
which only the first holds the query. Seed 002's diversity loss, when the
encoder has it, is not applied to the MRC input.

At inference it does nothing: ``nlp(text)`` never runs the MRC input, and
the pipeline is as fast as without it (``nlp.remove_pipe`` takes it out).

Queries (``query``): "annotation" (what the annotation guidelines count as
the type), "wikipedia" (a definition), "dictionary" (entity names of that
type drawn from the training data), "none" (no query: the input is the
sentence alone) or "random" (one of the first three per sentence). Their
texts are ``mrc_queries.json`` beside this module, or the file ``queries``
names (the same shape).
"""
import json
import random
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, set_dropout_rate

from ..ml.encoders.diversity_switch import without_diversity_loss
from ..ml.multitask.mrc import span_loss

QUERY_KINDS = ("annotation", "wikipedia", "dictionary", "none", "random")
QUERIES_FILE = Path(__file__).parent / "mrc_queries.json"
NO_DATASET = ""

DEFAULT_MODEL = Config().from_str("""
[model]
@architectures = "bioner.MRCSpanHead.v1"
grad_factor = 1.0

[model.pooling]
@layers = "reduce_mean.v1"
""")["model"]


@Language.factory(
    "mrc_auxiliary",
    default_config={"model": DEFAULT_MODEL, "transformer": "transformer", "query": "annotation", "weight": 1.0,
                    "queries": None, "dictionary_names": 3, "seed": 0},
)
def make_mrc_auxiliary(nlp: Language, name: str, model: Model, transformer: str, query: str, weight: float,
                       queries: Optional[str], dictionary_names: int, seed: int) -> "MRCAuxiliary":
    """transformer: the name of the transformer component it shares.
    query: the kind of query (see the module). weight: beta in
    L = L_NER + beta L_MRC. queries: a JSON file of query texts (null: the
    packaged ones). dictionary_names: entity names per dictionary query."""
    return MRCAuxiliary(nlp.vocab, model, name, PipelineRef(nlp), transformer=transformer, query=query, weight=weight,
                        queries=queries, dictionary_names=dictionary_names, seed=seed)


class PipelineRef:
    """The pipeline the component trains in (it reads the transformer there).
    A pickled copy (``nlp.pipe`` over several processes) only annotates,
    which needs none of it, so the reference is not pickled."""

    def __init__(self, nlp: Optional[Language]):
        self.nlp = nlp

    def __call__(self) -> Optional[Language]:
        return self.nlp

    def __getstate__(self):
        return {"nlp": None}


def load_queries(path: Optional[str]) -> Dict[str, Dict[str, str]]:
    file = Path(path) if path else QUERIES_FILE
    try:
        queries = json.loads(file.read_text(encoding="utf8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"[mrc_auxiliary] cannot read the queries file {file}: {err}") from None
    for kind in ("annotation", "wikipedia", "dictionary"):
        if not isinstance(queries.get(kind), dict) or not isinstance(queries[kind].get("_default"), str):
            raise ValueError(f"[mrc_auxiliary] {file}: needs a {kind!r} object with a '_default' query")
        for label, text in queries[kind].items():
            try:
                text.format(name="x", names="x")
            except (KeyError, IndexError, ValueError, AttributeError) as err:
                raise ValueError(f"[mrc_auxiliary] {file}: query {kind}/{label} {text!r}: only {{name}} and "
                                 f"{{names}} may be filled in ({type(err).__name__}: {err})") from None
    return queries


class MRCAuxiliary(TrainablePipe):
    def __init__(self, vocab: Vocab, model: Model, name: str, get_nlp: PipelineRef, *,
                 transformer: str, query: str, weight: float, queries: Optional[str], dictionary_names: int,
                 seed: int):
        if query not in QUERY_KINDS:
            raise ValueError(f"[{name}] query must be one of {', '.join(QUERY_KINDS)}, not {query!r}")
        if weight < 0:
            raise ValueError(f"[{name}] weight must be >= 0, not {weight!r}")
        if not isinstance(dictionary_names, int) or dictionary_names < 1:
            raise ValueError(f"[{name}] dictionary_names must be an integer >= 1, not {dictionary_names!r}")
        self.vocab = vocab
        self.model = model
        self.name = name
        self.get_nlp = get_nlp
        self.transformer = transformer
        self.query = query
        self.weight = weight
        self.queries = load_queries(queries)
        self.dictionary_names = dictionary_names
        self.rng = random.Random(seed)
        # labels per dataset and entity names per label, from the training data
        self.cfg = {"labels": {}, "names": {}}

    # inference: nothing to do
    def __call__(self, doc: Doc) -> Doc:
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        yield from stream

    def predict(self, docs):
        return None

    def set_annotations(self, docs, scores):
        return None

    def transformer_model(self) -> Model:
        nlp = self.get_nlp()
        if nlp is None:
            raise ValueError(f"[{self.name}] this copy was pickled without its pipeline: train the original")
        if self.transformer not in nlp.pipe_names:
            raise ValueError(f"[{self.name}] reads the transformer component {self.transformer!r}, which the "
                             f"pipeline does not have (it has: {', '.join(nlp.pipe_names)})")
        return nlp.get_pipe(self.transformer).model

    def check_order(self, nlp: Language) -> None:
        names = nlp.pipe_names
        if self.name in names and names.index(self.transformer) > names.index(self.name):
            raise ValueError(f"[{self.name}] must come after {self.transformer!r} in the pipeline, which initialises "
                             f"the transformer it reads (pipeline: {', '.join(names)})")

    def query_words(self, label: str, kind: str) -> List[str]:
        if kind == "none":
            return []
        if kind == "random":
            kind = self.rng.choice(("annotation", "wikipedia", "dictionary"))
        name = label.replace("_", " ").lower()
        texts = self.queries[kind]
        if kind == "dictionary":
            known = self.cfg["names"].get(label) or [name]
            drawn = self.rng.sample(known, min(self.dictionary_names, len(known)))
            text = texts.get(label, texts["_default"]).format(names=", ".join(drawn), name=name)
        else:
            text = texts.get(label, texts["_default"]).format(name=name)
        return text.split()

    def mrc_inputs(self, examples: List[Example], sep: str) -> Tuple[List[Doc], List[int], List[numpy.ndarray], List[numpy.ndarray]]:
        """Per example: the MRC doc (query, separator, passage), where its
        passage starts, and the passage's 0/1 start and end targets for the
        entity type drawn."""
        docs, offsets, starts, ends = [], [], [], []
        for eg in examples:
            labels = self.cfg["labels"].get(eg.reference._.dataset or NO_DATASET) or []
            passage = [t.text for t in eg.predicted]
            if not labels or not passage:
                continue
            label = self.rng.choice(labels)
            query = self.query_words(label, self.query)
            words = query + [sep] + passage if query else passage
            docs.append(Doc(self.vocab, words=words))
            offsets.append(len(words) - len(passage))
            start, end = numpy.zeros(len(passage), dtype="i"), numpy.zeros(len(passage), dtype="i")
            for span in eg.get_aligned_spans_y2x(eg.reference.ents):
                if span.label_ == label:
                    start[span.start], end[span.end - 1] = 1, 1
            starts.append(start)
            ends.append(end)
        return docs, offsets, starts, ends

    def update(self, examples: Iterable[Example], *, drop: float = 0.0, sgd=None,
               losses: Optional[Dict[str, float]] = None) -> Dict[str, float]:
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "MRCAuxiliary.update")
        if self.weight == 0:
            return losses
        trf = self.transformer_model()
        docs, offsets, starts, ends = self.mrc_inputs(examples, trf.tokenizer.sep_token)
        if not docs:
            return losses
        set_dropout_rate(self.model, drop)
        with without_diversity_loss(trf):  # seed 002's loss, if the encoder has it, is the NER input's
            trf_full, backprop_trf = trf.begin_update(docs)
        logits, backprop_head = self.model.begin_update(trf_full.doc_data)
        loss, d_passage = span_loss(self.model.ops, [x[o:] for x, o in zip(logits, offsets)], starts, ends)
        d_logits = []
        for x, o, d in zip(logits, offsets, d_passage):
            full = self.model.ops.alloc2f(*x.shape)
            full[o:] = d * self.weight
            d_logits.append(full)
        d_trf = backprop_head(d_logits)
        # the transformer's gradient is accumulated; the transformer component's update applies it
        backprop_trf(trf_full.unsplit_by_doc([list(d.tensors) for d in d_trf]))
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += self.weight * loss
        return losses

    def get_loss(self, examples, scores):
        raise NotImplementedError("mrc_auxiliary computes its loss inside update (span_loss)")

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None):
        validate_get_examples(get_examples, "MRCAuxiliary.initialize")
        nlp = nlp or self.get_nlp()
        trf = self.transformer_model()
        self.check_order(nlp)
        labels: Dict[str, set] = {}
        names: Dict[str, set] = {}
        for eg in get_examples():
            dataset = eg.reference._.dataset or NO_DATASET
            for ent in eg.reference.ents:
                labels.setdefault(dataset, set()).add(ent.label_)
                names.setdefault(ent.label_, set()).add(ent.text)
        if not labels:
            raise ValueError(f"[{self.name}] the training examples have no entities to ask about")
        self.cfg = {"labels": {d: sorted(ls) for d, ls in labels.items()},
                    "names": {label: sorted(ns) for label, ns in names.items()}}
        sample = [eg for eg, _ in zip(get_examples(), range(8))]
        docs = self.mrc_inputs(sample, trf.tokenizer.sep_token)[0] or [Doc(self.vocab, words=["x"])]
        self.model.initialize(X=trf.predict(docs).doc_data)
