"""``bioner.batch_by_dataset.v1``: training batches that each hold one
dataset's examples (``doc._.dataset``), as multi-task papers train.

mode "alternate" (seed 001, "MTM training"): one batch of each dataset in
turn, in the order of their names. The paper's epoch has as many turns as
the main dataset has batches, the other datasets' batches drawn at random;
here an epoch runs until the dataset with the most batches has given all of
them, a dataset that runs out starting again on a reshuffled copy. Under a
fixed step budget (spaCy's ``max_steps``) the two schedules give the same
stream: each dataset one batch in turn, every example seen before any is
seen again.

mode "random" (seed 004, MO-MTM): every dataset's batches of the epoch, in a
random order: each batch is drawn from a dataset chosen at random, in
proportion to the batches it has left.

Within a dataset the examples are batched by ``batcher`` (any spaCy batcher,
e.g. ``spacy.batch_by_words.v1``), in the (already shuffled) order spaCy's
training loop hands them over.
"""
import random
from typing import Any, Callable, Dict, Iterable, Iterator, List

from spacy.util import registry

MODES = ("alternate", "random")
Batcher = Callable[[Iterable[Any]], Iterable[List[Any]]]


def dataset_of(item: Any) -> str:
    """The dataset of an Example (its reference doc's) or of a Doc."""
    doc = getattr(item, "reference", item)
    if not doc._.dataset:
        raise ValueError("bioner.batch_by_dataset.v1: a training doc has no doc._.dataset; read the corpora with "
                         "bioner.MultiCorpus.v1, or set the dataset when converting (bioner-spacy convert --dataset)")
    return doc._.dataset


@registry.batchers("bioner.batch_by_dataset.v1")
def create_dataset_batcher(batcher: Batcher, mode: str = "alternate", seed: int = 0) -> Batcher:
    """batcher: how one dataset's examples are batched.
    mode: "alternate" (seed 001) or "random" (seed 004), see the module doc.
    seed: the order of the "random" mode and the reshuffles of "alternate"."""
    if mode not in MODES:
        raise ValueError(f"bioner.batch_by_dataset.v1: unknown mode {mode!r}; use one of {', '.join(MODES)}")
    rng = random.Random(seed)

    def batch(items: Iterable[Any]) -> Iterator[List[Any]]:
        by_dataset: Dict[str, List[Any]] = {}
        for item in items:
            by_dataset.setdefault(dataset_of(item), []).append(item)
        batches = {name: list(batcher(examples)) for name, examples in sorted(by_dataset.items())}
        if mode == "random":
            yield from random_order(batches, rng)
        else:
            yield from alternate(batches, by_dataset, batcher, rng)

    return batch


def random_order(batches: Dict[str, List[List[Any]]], rng: random.Random) -> Iterator[List[Any]]:
    """Every batch once, each drawn from a dataset chosen in proportion to the batches it has left."""
    order = [name for name, own in batches.items() for _ in own]
    rng.shuffle(order)
    position = {name: 0 for name in batches}
    for name in order:
        yield batches[name][position[name]]
        position[name] += 1


def alternate(batches: Dict[str, List[List[Any]]], examples: Dict[str, List[Any]], batcher: Batcher,
              rng: random.Random) -> Iterator[List[Any]]:
    """One batch per dataset in turn until the longest has given all of its
    batches; a shorter one restarts on a reshuffled copy of its examples."""
    turns = max((len(own) for own in batches.values()), default=0)
    queues = {name: iter(own) for name, own in batches.items() if own}
    for _ in range(turns):
        for name in list(queues):
            batch = next(queues[name], None)
            if batch is None:
                again = list(examples[name])
                rng.shuffle(again)
                queues[name] = iter(list(batcher(again)))
                batch = next(queues[name])
            yield batch
