"""The benchmark harness: every claim from one rerunnable command.

``bioner-spacy benchmark run --matrix main`` reads ``configs/benchmark.yml``,
converts the corpora it needs, trains and scores every run of the matrix
(systems x corpora x seeds, and reduced-data runs) with a fixed step budget,
one JSON file per run, measures speed and memory, and writes the results
doc with its plots. Runs whose JSON exists are not run again.

Modules: ``corpora`` (what to convert), ``plan`` (the matrix as runs),
``runner`` (train + evaluate one run), ``speed`` (words/s, memory),
``report`` (mean ± std tables), ``plots`` (PNG figures), ``anchors``
(published figures, never ours).
"""
