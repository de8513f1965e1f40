"""A tiny BERT built locally (no download): a WordPiece vocabulary from a few
sentences, and a 2-layer BERT from a config, the same in every run.

The vocabulary is the sentences' words as `tokenizers`' BERT pre-tokenizer
splits them, plus every character alone and as a ``##`` continuation (so
unseen words split into pieces). It is not trained with `tokenizers`'
WordPiece trainer: that breaks ties in a different order in every process,
and a different vocabulary made the tests that train through it flaky."""
from pathlib import Path
from typing import Iterable

# positions the model has; the tokenizer says so, and spacy-transformers cuts longer spans
POSITIONS = 160
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

TEXT = [
    "Aspirin reduced the fever of the patients .",
    "Treatment with cisplatin caused renal failure .",
    "Patients given lithium carbonate developed tremor .",
    "No headache was seen after caffeine .",
    "The rats received high doses of morphine .",
    "Acute hepatitis followed the use of halothane .",
]


def build_tiny_bert(directory: Path, texts: Iterable[str] = TEXT) -> Path:
    import torch
    from tokenizers.pre_tokenizers import BertPreTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    words = sorted({word for text in texts for word, _ in BertPreTokenizer().pre_tokenize_str(text)})
    characters = sorted({c for word in words for c in word})
    vocab = SPECIAL_TOKENS + characters + ["##" + c for c in characters] + [w for w in words if len(w) > 1]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
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
    torch.manual_seed(0)  # the same weights in every test and every run
    BertModel(config).save_pretrained(str(directory))
    return directory
