"""Annotating a collection too large for one pass in memory (PubMed, PMC):
the inputs split into shards (``sources``), each shard annotated and
written on its own, atomically (``shards``, ``worker``), by one process or
by a Ray actor pool (``engines``). A rerun skips the shards already written.
"""
