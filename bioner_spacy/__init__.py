"""bioner-spacy: biomedical NER components for spaCy.

Importing the package registers the ``Doc._.dataset`` extension. The
factories, architectures, readers and scorer are registered through entry
points (see ``setup.cfg``), so spaCy finds them without an explicit import.
"""
from .extensions import register_extensions

register_extensions()

__version__ = "0.1.0"
