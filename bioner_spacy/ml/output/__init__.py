"""Output layers over per-token scores: the linear-chain CRF (the softmax is Thinc's), and the choice between them (``layers.py``)."""
