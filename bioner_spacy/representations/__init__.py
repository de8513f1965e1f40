"""Representations learned from unlabelled biomedical text: the prepared
text (filtered against every evaluation split) and floret vectors."""
