"""What ``cfa_ner`` and ``grid_ner`` share: entity types and datasets kept
in ``cfg``, which dataset a doc is read with, the training step, and
``pipe`` over ``annotate_batch`` (with the embedding rows of one ``pipe``
stream kept between its batches)."""
from functools import cached_property
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set

import numpy
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples
from spacy.util import minibatch
from spacy.vocab import Vocab
from thinc.api import Model, set_dropout_rate

from ..ml.encoders.distinct_tokens import EmbeddingCache
from ..ml.multitask.dataset_tags import set_dataset_types
from ..extensions import ALL_DATASETS


def set_first_ents(doc: Doc, ordered: Iterable[Span]) -> None:
    """``doc.ents`` = each span of ``ordered`` that overlaps no span taken
    before it (labels kept; ids and other data dropped)."""
    taken = numpy.zeros(len(doc), dtype=bool)
    ents = []
    for span in ordered:
        if not taken[span.start : span.end].any():
            taken[span.start : span.end] = True
            ents.append(Span(doc, span.start, span.end, label=span.label))
    doc.set_ents(sorted(ents), default="outside")


class ScaledRate:
    """An optimizer seen through a factor on its learning rate: what is
    updated with it learns at ``scale`` times the optimizer's rate (and
    schedule), with the optimizer's own state and settings otherwise."""

    def __init__(self, optimizer, scale: float):
        self.optimizer = optimizer
        self.scale = scale

    def __call__(self, key, weights, gradient, *, lr_scale: float = 1.0):
        return self.optimizer(key, weights, gradient, lr_scale=lr_scale * self.scale)


class EntityPipe(TrainablePipe):
    """A subclass implements ``get_loss`` and ``annotate_batch``; ``cfg``
    holds {"labels": [...], "datasets": {...}} and what the subclass adds.

    ``learn_rate_scale``: the component's own weights learn at this multiple
    of the training optimizer's rate; a transformer shared through a listener
    is its own component and keeps the optimizer's rate (seed 002 trains its
    grid at a larger rate than a pretrained encoder is fine-tuned at)."""

    def __init__(self, vocab: Vocab, model: Model, name: str, *, dataset: Optional[str], restrict_loss: bool, scorer,
                 learn_rate_scale: float = 1.0):
        if not learn_rate_scale > 0:
            raise ValueError(f"[{name}] learn_rate_scale must be a positive number, not {learn_rate_scale!r}")
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.default_dataset = dataset
        self.restrict_loss = restrict_loss
        self.learn_rate_scale = learn_rate_scale
        self.cfg: Dict = {"labels": [], "datasets": {}}
        # the encoder's embedding rows within one pipe() stream; emptied whenever
        # the weights may change (finish_update, use_params, a new stream)
        self.embedding_cache = EmbeddingCache()

    @property
    def datasets(self) -> Dict[str, List[str]]:
        """The datasets the model was trained on, each with its entity types."""
        return {name: list(types) for name, types in self.cfg.get("datasets", {}).items()}

    def dataset_of(self, doc: Doc) -> Optional[str]:
        """The dataset whose tag and entity types a doc is read with:
        ``doc._.dataset``, else the component's default, else the model's only
        dataset. None for a model that knows no datasets ("all" included)."""
        known = self.cfg.get("datasets", {})
        dataset = doc._.dataset or self.default_dataset
        if dataset is None:
            if len(known) > 1:
                raise ValueError(
                    f"[{self.name}] the doc has no dataset and the component no default: set doc._.dataset, or "
                    f"load with config={{'components': {{'{self.name}': {{'dataset': NAME}}}}}}; NAME is "
                    f"'{ALL_DATASETS}' or one of: {', '.join(known)}"
                )
            return next(iter(known), None)
        self.require_dataset(dataset)
        return dataset if known else None

    def require_dataset(self, dataset: str) -> None:
        """Raise a ValueError naming the known datasets unless ``dataset`` is
        one of them or "all" (any name passes a model that knows none)."""
        known = self.cfg.get("datasets", {})
        if dataset != ALL_DATASETS and known and dataset not in known:
            raise ValueError(
                f"[{self.name}] unknown dataset tag {dataset!r}: this model knows "
                f"{', '.join(known)} (or '{ALL_DATASETS}' to run them all)"
            )

    @property
    def labels(self):
        """The entity types."""
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        return list(self.labels)

    def add_label(self, label: str) -> int:
        if label in self.cfg["labels"]:
            return 0
        if self.model.has_dim("nO") is True:
            # labels are sorted into the output layer's rows: a new one would
            # shift the others' rows under trained weights
            raise ValueError(f"[{self.name}] cannot add label {label!r}: the model is already initialised "
                             f"with labels {', '.join(self.labels)}")
        self.cfg["labels"] = sorted(self.cfg["labels"] + [label])
        return 1

    def set_types(self, examples: Iterable[Example], types_of: Callable[[Example], Set[str]],
                  labels: Optional[Sequence[str]] = None) -> None:
        """Record the entity types (``labels``, else those of the examples)
        and each dataset's own types; tell the dataset-tag layers."""
        entity_types, dataset_types = set(labels or []), {}
        for example in examples:
            doc_types = types_of(example)
            if labels is None:
                entity_types.update(doc_types)
            if example.reference._.dataset:
                dataset_types.setdefault(example.reference._.dataset, set()).update(doc_types)
        if not entity_types:
            raise ValueError(f"[{self.name}] no entities in the training examples: nothing to learn")
        self.cfg["labels"] = sorted(entity_types)
        self.cfg["datasets"] = {name: sorted(types) for name, types in sorted(dataset_types.items())}
        set_dataset_types(self.model, self.cfg["datasets"])

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    @cached_property
    def reads_static_vectors(self) -> bool:
        """Whether the encoder reads the vocab's static vectors (the model's
        layers are fixed once built, so the walk is done once)."""
        return any(node.name == "static_vectors" for node in self.model.walk())

    def require_vectors(self) -> None:
        """A model trained with static vectors never runs without them: a
        ValueError when its encoder reads static vectors and the vocab has
        none (the pipeline was rebuilt from its config, or its vectors were
        dropped), instead of predictions from empty vectors."""
        if self.vocab.vectors.shape[0] == 0 and self.reads_static_vectors:
            raise ValueError(
                f"[{self.name}] this model was trained with static word vectors (include_static_vectors = true), "
                "but the pipeline's vocab has none. Load the pipeline folder or package it was saved as (its "
                "vocab holds the vectors), or set [initialize] vectors (paths.vectors) to the vectors it was "
                "trained with (`spacy project run vectors` builds pretraining/vectors)."
            )

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        error_handler = self.get_error_handler()
        self.require_vectors()
        self.embedding_cache.clear()
        for batch in minibatch(stream, size=batch_size):
            try:
                with self.embedding_cache.in_use():
                    self.annotate_batch(batch)
                yield from batch
            except Exception as err:
                error_handler(self.name, self, batch, err)

    def annotate_batch(self, docs: List[Doc]) -> None:
        raise NotImplementedError

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
        validate_examples(examples, f"{type(self).__name__}.update")
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
        # a model's own training losses (ADV-MTM's adversarial and difference terms)
        for key, value in self.model.attrs.get("aux_losses", {}).items():
            losses[f"{self.name}_{key}"] = losses.get(f"{self.name}_{key}", 0.0) + value
        return losses

    def finish_update(self, sgd) -> None:
        self.embedding_cache.clear()
        super().finish_update(sgd if self.learn_rate_scale == 1.0 else ScaledRate(sgd, self.learn_rate_scale))

    def use_params(self, params: dict):
        """TrainablePipe.use_params (a generator, as Language.use_params drives
        it), with the cached embedding rows dropped on entry and exit."""
        self.embedding_cache.clear()
        try:
            yield from super().use_params(params)
        finally:
            self.embedding_cache.clear()
