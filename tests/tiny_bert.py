"""A tiny BERT built locally (no download): a WordPiece vocabulary trained
with `tokenizers` on a few sentences, and a 2-layer BERT from a config."""
from pathlib import Path
from typing import Iterable

# positions the model has; the tokenizer says so, and spacy-transformers cuts longer spans
POSITIONS = 160

TEXT = [
    "Aspirin reduced the fever of the patients .",
    "Treatment with cisplatin caused renal failure .",
    "Patients given lithium carbonate developed tremor .",
    "No headache was seen after caffeine .",
    "The rats received high doses of morphine .",
    "Acute hepatitis followed the use of halothane .",
]


def build_tiny_bert(directory: Path, texts: Iterable[str] = TEXT) -> Path:
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    wordpiece = BertWordPieceTokenizer(lowercase=False)
    wordpiece.train_from_iterator(list(texts) * 5, vocab_size=300, min_frequency=1)
    wordpiece.save_model(str(directory))
    tokenizer = BertTokenizerFast(vocab_file=str(directory / "vocab.txt"), do_lower_case=False, model_max_length=POSITIONS)
    tokenizer.save_pretrained(str(directory))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=POSITIONS,
    )
    BertModel(config).save_pretrained(str(directory))
    return directory
