"""Attention over syntactic context words and their labels (CFA of seed 000)."""
