"""Custom attributes that bioner-spacy keeps on spaCy objects."""
from typing import List, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span

DATASET_ATTR = "dataset"
FRAGMENTS_ATTR = "fragments"
# The dataset setting that runs every dataset tag a model knows, and the
# span group where that writes their entities.
ALL_DATASETS = "all"
ALL_SPANS_KEY = "bioner"
# The span group of every entity, nested and discontinuous ones included
# (gold from brat, predicted by grid_ner).
GRID_SPANS_KEY = "bioner_grid"


def span_dataset(span: Span):
    """The dataset tag that produced a span of ``doc.spans["bioner"]`` (its
    ``id_``). On other spans it is their ``id_`` too, whatever that means
    there (an entity ruler's pattern id, say), or None."""
    return span.id_ or None


def merge_ranges(ranges: Sequence[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """Sorted (start, end) ranges with touching or overlapping ones merged:
    (0, 2) and (2, 3) are one fragment (0, 3)."""
    merged: List[Tuple[int, int]] = []
    for start, end in sorted((int(s), int(e)) for s, e in ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


_FRAGMENTS_PREFIX = "bioner.fragments"


def _fragments_key(span: Span) -> tuple:
    return (_FRAGMENTS_PREFIX, span.start, span.end, span.label_, span.id_)


def get_fragments(span: Span) -> List[Tuple[int, int]]:
    """The (start, end) token ranges an entity is made of: several for a
    discontinuous entity (its span covers the full range), else the span's own.

    Kept in ``doc.user_data`` by the span's range, label and id, so two
    entities that share all four share one value; ``group_fragments`` reads
    each entity of a span group exactly."""
    stored = span.doc.user_data.get(_fragments_key(span))
    return [tuple(f) for f in stored] if stored else [(span.start, span.end)]


def set_fragments(span: Span, ranges: Optional[Sequence[Tuple[int, int]]]) -> None:
    """Record the fragments of a span (kept in ``doc.user_data``, keyed by
    the span's range, label and id; None forgets them)."""
    if ranges is None:
        span.doc.user_data.pop(_fragments_key(span), None)
        return
    _store_fragments(span, merge_ranges(ranges))


def _store_fragments(span: Span, merged: List[Tuple[int, int]], clear: bool = True) -> None:
    """Store merged ranges that must span the span exactly; a contiguous
    span's own range is stored as nothing (``clear``: forget what was)."""
    if not merged or merged[0][0] != span.start or merged[-1][1] != span.end or any(s >= e for s, e in merged):
        raise ValueError(f"fragments {merged} do not span {span.start}-{span.end} ({span.text!r})")
    if len(merged) > 1:
        span.doc.user_data[_fragments_key(span)] = [list(r) for r in merged]
    elif clear:
        span.doc.user_data.pop(_fragments_key(span), None)


def set_group_fragments(doc: Doc, key: str, fragments: Sequence[Sequence[Tuple[int, int]]]) -> None:
    """Record each span's fragments of ``doc.spans[key]``, in order: in the
    group's ``attrs["fragments"]`` (exact per entity) and on each span."""
    group = doc.spans[key]
    if len(fragments) != len(group):
        raise ValueError(f"{len(fragments)} fragment lists for {len(group)} spans in doc.spans[{key!r}]")
    merged = [merge_ranges(ranges) for ranges in fragments]
    # a contiguous span reads its own range when nothing is stored for it:
    # clearing is needed only where the doc already holds stored fragments
    stored = any(isinstance(k, tuple) and k[:1] == (_FRAGMENTS_PREFIX,) for k in doc.user_data)
    for span, ranges in zip(group, merged):
        _store_fragments(span, ranges, clear=stored)
    group.attrs["fragments"] = [[list(r) for r in ranges] for ranges in merged]


def group_fragments(doc: Doc, key: str) -> List[Tuple[Span, List[Tuple[int, int]]]]:
    """Each span of ``doc.spans[key]`` with its fragments: from the group's
    ``attrs["fragments"]`` when it has them for every span, else ``span._.fragments``."""
    group = doc.spans[key]
    stored = group.attrs.get("fragments")
    if stored is not None and len(stored) == len(group):
        return [(span, [tuple(r) for r in ranges]) for span, ranges in zip(group, stored)]
    return [(span, span._.fragments) for span in group]


def entity_fragments(doc: Doc) -> List[Tuple[Span, List[Tuple[int, int]]]]:
    """Every entity of a doc with its fragments: ``doc.spans["bioner_grid"]``
    (nested and discontinuous ones included) when the doc has that group,
    else ``doc.ents``."""
    if GRID_SPANS_KEY in doc.spans:
        return group_fragments(doc, GRID_SPANS_KEY)
    return [(span, [(span.start, span.end)]) for span in doc.ents]


def register_extensions() -> None:
    """Register ``Doc._.dataset``: the name of the corpus a doc came from, or
    the dataset tag it was read with; ``Span._.dataset`` (read-only); and
    ``Span._.fragments``: the token ranges of a (possibly discontinuous) entity.

    Extension values live in ``doc.user_data``, so they survive ``DocBin``
    serialisation (``store_user_data=True``) and ``Doc.copy``.
    """
    if not Doc.has_extension(DATASET_ATTR):
        Doc.set_extension(DATASET_ATTR, default=None)
    if not Span.has_extension(DATASET_ATTR):
        Span.set_extension(DATASET_ATTR, getter=span_dataset)
    if not Span.has_extension(FRAGMENTS_ATTR):
        Span.set_extension(FRAGMENTS_ATTR, getter=get_fragments, setter=set_fragments)
