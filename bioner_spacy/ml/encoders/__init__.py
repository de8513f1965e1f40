"""Encoders: token representations (the default tok2vec, seed 001's word + character CNN embedding)."""
