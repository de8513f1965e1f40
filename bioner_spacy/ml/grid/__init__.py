"""The word-pair grid (W2NER style, seed 002): the grid network, its architecture, heap release."""
