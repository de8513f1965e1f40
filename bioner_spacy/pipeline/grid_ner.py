"""The ``grid_ner`` component: classifies the relation of every word pair of
each sentence (None, NNW, THW-type; seed 002) and decodes the grid to
entities. A thin class over ``bioner.GridTagger.v1``.

Output:

- ``doc.spans["bioner_grid"]``: every decoded entity, nested and
  discontinuous ones included. A discontinuous entity is a span over its
  full range; ``span._.fragments`` gives its pieces. The group's
  ``attrs["scores"]`` holds each span's score: the mean probability of its
  own cells (its THW cell and its NNW edges).
- ``doc.ents``: a flat reading of the same entities. Overlaps are resolved by
  score: the highest-scoring entity is kept, then the next one that overlaps
  nothing kept, and so on (ties: longer, then earlier). A discontinuous
  entity enters ``doc.ents`` as its full range.

Gold entities for training come from the reference doc's
``doc.spans["bioner_grid"]`` (the brat reader writes it, with fragments),
else its ``doc.ents``. Datasets work as in ``cfa_ner``: the dataset tag
comes from ``doc._.dataset``, else the ``dataset`` setting, else the model's
only dataset; only the dataset's own types are decoded, and with
``restrict_loss`` only they compete in its loss. With the dataset "all",
every known dataset runs and the spans' ``id_`` names the dataset.
"""
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import srsly
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, NumpyOps

from ..extensions import ALL_DATASETS, GRID_SPANS_KEY, entity_fragments, set_group_fragments
from ..ml.grid import grid_tagger  # noqa: F401  (registers bioner.GridTagger.v1)
from ..ml.multitask.dataset_tags import set_dataset_types
from ..ml.encoders.default_tok2vec import DEFAULT_TOK2VEC
from ..ml.grid.grid_tagger import build_grid
from ..ml.grid.heap import release_free_memory
from ..scoring import score_grid
from ..word_pairs import (
    GridEntity,
    best_relations,
    decode_relations,
    encode_grid,
    entity_scores,
    fragments,
    relation_names,
    words_of,
)
from .entity_pipe import EntityPipe, set_first_ents

DEFAULT_GRID_MODEL = """
[model]
@architectures = "bioner.GridTagger.v1"
hidden = 128
channels = 64
distance_width = 20
region_width = 20
dilations = [1, 2, 3]
dropout = 0.2
max_length = 256
max_cells = 65536
nO = null
""" + DEFAULT_TOK2VEC
DEFAULT_MODEL = Config().from_str(DEFAULT_GRID_MODEL)["model"]

# (word indices in the doc, type, score, dataset)
Found = Tuple[Tuple[int, ...], str, float, Optional[str]]


@Language.factory(
    "grid_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={
        "model": DEFAULT_MODEL,
        "dataset": None,
        "restrict_loss": True,
        "max_paths": 16,
        "learn_rate_scale": 1.0,
        "scorer": {"@scorers": "bioner.grid_scorer.v1"},
    },
    default_score_weights={
        "seqeval_f": 1.0,
        "seqeval_p": 0.0,
        "seqeval_r": 0.0,
        "seqeval_macro_f": 0.0,
        "grid_f": 0.0,
        "grid_p": 0.0,
        "grid_r": 0.0,
        "seqeval_per_type": None,
        "seqeval_per_dataset": None,
        "grid_per_type": None,
    },
)
def make_grid_ner(
    nlp: Language,
    name: str,
    model: Model,
    dataset: Optional[str],
    restrict_loss: bool,
    max_paths: int,
    learn_rate_scale: float,
    scorer: Optional[Callable],
) -> "GridNER":
    """dataset: the tag for docs whose ``doc._.dataset`` is unset ("all" runs
        every known tag); unset: the model's only dataset.
    restrict_loss: train a doc of dataset T with the softmax over None, NNW
        and T's own THW types only.
    max_paths: at most this many NNW paths decoded per THW cell.
    learn_rate_scale: this component's weights learn at this multiple of the
        optimizer's rate (its encoder's too, unless a transformer or tok2vec
        shared through a listener, which keeps the optimizer's rate).
    """
    return GridNER(nlp.vocab, model, name, dataset=dataset, restrict_loss=restrict_loss, max_paths=max_paths,
                   learn_rate_scale=learn_rate_scale, scorer=scorer)


@lru_cache(maxsize=256)
def relations_of_types(labels: Tuple[str, ...], types: Optional[Tuple[str, ...]]) -> numpy.ndarray:
    """Which relations (None, NNW, THW-label...) a dataset of ``types`` may
    hold; all of them for types None. Read-only."""
    mask = numpy.asarray([True, True] + [types is None or label in types for label in labels])
    mask.flags.writeable = False
    return mask


class GridNER(EntityPipe):
    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "grid_ner",
        *,
        dataset: Optional[str] = None,
        restrict_loss: bool = True,
        max_paths: int = 16,
        learn_rate_scale: float = 1.0,
        scorer=score_grid,
    ):
        super().__init__(vocab, model, name, dataset=dataset, restrict_loss=restrict_loss, scorer=scorer,
                         learn_rate_scale=learn_rate_scale)
        self.max_paths = max_paths
        self.cfg["width"] = None

    @property
    def relations(self) -> List[str]:
        return relation_names(self.labels)

    def relation_mask(self, dataset: Optional[str]) -> numpy.ndarray:
        """Which relations a sentence of ``dataset`` may hold: None, NNW and
        the THW of its own types (every type for an unknown dataset)."""
        types = self.cfg.get("datasets", {}).get(dataset) if dataset else None
        return relations_of_types(self.labels, None if types is None else tuple(types))

    # -- training ---------------------------------------------------------

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        validate_get_examples(get_examples, "GridNER.initialize")
        self.set_types(get_examples(), lambda eg: {label for _, label in gold_entities(eg)}, labels)
        self.model.set_dim("nO", len(self.relations), force=True)
        doc_sample = [eg.predicted for eg in islice(get_examples(), 10)]
        self.model.initialize(X=doc_sample)
        self.cfg["width"] = self.model.get_dim("nI")

    def update(self, examples: Iterable[Example], **kwargs) -> Dict[str, float]:
        losses = super().update(examples, **kwargs)
        release_free_memory()  # see bioner_spacy/ml/grid/heap.py
        return losses

    def get_loss(self, examples: Iterable[Example], scores) -> Tuple[float, List]:
        """Cross-entropy of each cell's relation, averaged over all cells of
        the batch's sentences (seed 002: -1/N^2 sum over the grid)."""
        examples = list(examples)
        validate_examples(examples, "GridNER.get_loss")
        segments, grids = scores
        xp = self.model.ops.xp
        gold = [gold_entities(example) for example in examples]
        n_cells = sum(grid.shape[0] * grid.shape[1] for grid in grids) or 1
        ops = self.model.ops
        masks = [self.relation_mask(eg.reference._.dataset) for eg in examples]
        loss, d_grids = 0.0, []
        for (d, start, end), logits in zip(segments, grids):
            inside = [(tuple(w - start for w in words), label) for words, label in gold[d] if start <= words[0] and words[-1] < end]
            target = ops.asarray(encode_grid(end - start, inside, self.labels))
            if self.restrict_loss and not masks[d].all():
                logits = logits + xp.asarray(numpy.where(masks[d], 0.0, -1e4).astype("float32"))
            probs = ops.softmax(logits, axis=-1)
            one_hot = xp.eye(probs.shape[2], dtype=probs.dtype)[target]
            loss += float(-xp.log((probs * one_hot).sum(axis=2) + 1e-12).sum()) / n_cells
            d_grids.append((probs - one_hot) / n_cells)
        return loss, d_grids

    # -- prediction -------------------------------------------------------

    def predict(self, docs: Iterable[Doc]):
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            return [], []
        scores = self.model.predict(docs)
        release_free_memory()  # as after an update: the batch's grids are freed
        return scores

    def annotate_batch(self, docs: List[Doc]) -> None:
        datasets = [self.dataset_of(doc) for doc in docs]
        # one run per (doc, dataset): the doc's own, or every known one in "all" mode
        runs = [(i, d) for i, d in enumerate(datasets) if d != ALL_DATASETS]
        runs += [(i, name) for i, d in enumerate(datasets) if d == ALL_DATASETS for name in self.cfg["datasets"]]
        inputs = [docs[i] if datasets[i] != ALL_DATASETS else docs[i].copy() for i, _ in runs]
        for doc, (_, name) in zip(inputs, runs):
            doc._.dataset = name
        found: List[List[Found]] = [[] for _ in docs]
        for (i, name), entities in zip(runs, self.decode(inputs, self.predict(inputs), [name for _, name in runs])):
            source = name if datasets[i] == ALL_DATASETS else None
            found[i].extend((words, label, score, source) for words, label, score in entities)
        for doc, dataset, entities in zip(docs, datasets, found):
            doc._.dataset = dataset
            self.write_entities(doc, entities)

    def decode(self, docs: List[Doc], scores, datasets: List[Optional[str]]) -> List[List[Tuple[Tuple[int, ...], str, float]]]:
        """Each doc's entities (word indices in the doc, type, score), read
        with its dataset's types."""
        segments, grids = scores
        masks = [self.relation_mask(dataset) for dataset in datasets]
        numpy_ops = NumpyOps()
        entities: List[list] = [[] for _ in docs]
        spaces = [numpy.asarray([token.is_space for token in doc], dtype=bool) for doc in docs]
        for (d, start, end), logits in zip(segments, grids):
            probs = numpy_ops.softmax(self.model.ops.to_numpy(logits), axis=-1)
            relations = best_relations(probs, masks[d])
            space = spaces[d][start:end]
            decoded = [
                (words, label) for words, label in decode_relations(relations, self.labels, self.max_paths)
                if not (space[words[0]] or space[words[-1]])
            ]
            scores = entity_scores(probs, decoded, self.labels).tolist()
            entities[d].extend((tuple(start + w for w in words), label, score) for (words, label), score in zip(decoded, scores))
        return entities

    def set_annotations(self, docs: Iterable[Doc], scores) -> None:
        docs = list(docs)
        for doc, entities in zip(docs, self.decode(docs, scores, [self.dataset_of(doc) for doc in docs])):
            self.write_entities(doc, [(words, label, score, None) for words, label, score in entities])

    @staticmethod
    def write_entities(doc: Doc, found: List[Found]) -> None:
        found = sorted(found, key=lambda f: (-f[2], -(f[0][-1] - f[0][0]), f[0], f[1], f[3] or ""))
        spans = [Span(doc, words[0], words[-1] + 1, label=label, span_id=dataset or "") for words, label, _, dataset in found]
        doc.spans[GRID_SPANS_KEY] = spans
        set_group_fragments(doc, GRID_SPANS_KEY, [fragments(words) for words, *_ in found])
        doc.spans[GRID_SPANS_KEY].attrs["scores"] = [score for _, _, score, _ in found]
        set_first_ents(doc, spans)

    # -- serialisation: the torch network exists once nI and nO are known --

    def _build_from_cfg(self) -> None:
        if self.cfg.get("width") and self.cfg.get("labels"):
            set_dataset_types(self.model, self.cfg.get("datasets", {}))
            build_grid(self.model, self.cfg["width"], len(self.relations))

    def from_disk(self, path, *, exclude=tuple()):
        cfg_path = Path(path) / "cfg"
        if "cfg" not in exclude and cfg_path.exists():
            self.cfg.update(srsly.read_json(cfg_path))
            self._build_from_cfg()
        return super().from_disk(path, exclude=exclude)

    def from_bytes(self, bytes_data, *, exclude=tuple()):
        msg = srsly.msgpack_loads(bytes_data)
        if "cfg" not in exclude and "cfg" in msg:
            self.cfg.update(srsly.json_loads(msg["cfg"]))
            self._build_from_cfg()
        return super().from_bytes(bytes_data, exclude=exclude)


def gold_entities(example: Example) -> List[GridEntity]:
    """The reference's entities as word tuples over the predicted doc's
    tokens: ``doc.spans["bioner_grid"]`` if the reference has it (nested and
    discontinuous entities), else ``doc.ents``. A fragment that does not fall
    on the predicted tokens' boundaries drops its entity."""
    ref, pred = example.reference, example.predicted
    spans = entity_fragments(ref)
    same_tokens = len(ref) == len(pred) and all(a.idx == b.idx and len(a) == len(b) for a, b in zip(ref, pred))
    entities = []
    for span, span_fragments in spans:
        ranges = []
        for start, end in span_fragments:
            if same_tokens:
                ranges.append((start, end))
                continue
            mapped = pred.char_span(ref[start].idx, ref[end - 1].idx + len(ref[end - 1]), alignment_mode="strict")
            if mapped is None:
                break
            ranges.append((mapped.start, mapped.end))
        else:
            entities.append((words_of(ranges), span.label_))
    return entities
