"""What a component trained on several corpora knows of them: each
dataset's entity types (``cfg["datasets"]``), and which dataset a doc is
read with. Shared by ``cfa_ner`` and ``grid_ner``."""
from typing import Dict, List, Optional

from spacy.tokens import Doc

from ..extensions import ALL_DATASETS


class DatasetAware:
    """Mixin for a pipe with ``name``, ``cfg`` and ``default_dataset``."""

    @property
    def datasets(self) -> Dict[str, List[str]]:
        """The datasets the model was trained on, each with its entity types."""
        return {name: list(types) for name, types in self.cfg.get("datasets", {}).items()}

    def dataset_of(self, doc: Doc) -> Optional[str]:
        """The dataset whose tag and entity types a doc is read with:
        ``doc._.dataset``, else the component's default, else the model's only
        dataset. None for a model that knows no datasets ("all" included)."""
        known = self.cfg.get("datasets", {})
        dataset = doc._.dataset or self.default_dataset
        if dataset is None:
            if len(known) > 1:
                raise ValueError(
                    f"[{self.name}] the doc has no dataset and the component no default: set doc._.dataset, or "
                    f"load with config={{'components': {{'{self.name}': {{'dataset': NAME}}}}}}; NAME is "
                    f"'{ALL_DATASETS}' or one of: {', '.join(known)}"
                )
            return next(iter(known), None)
        self.require_dataset(dataset)
        return dataset if known else None

    def require_dataset(self, dataset: str) -> None:
        """Raise a ValueError naming the known datasets unless ``dataset`` is
        one of them or "all" (any name passes a model that knows none)."""
        known = self.cfg.get("datasets", {})
        if dataset != ALL_DATASETS and known and dataset not in known:
            raise ValueError(
                f"[{self.name}] unknown dataset tag {dataset!r}: this model knows "
                f"{', '.join(known)} (or '{ALL_DATASETS}' to run them all)"
            )
