"""Where a pipeline's time goes: seconds per component over the same texts,
and for its NER component (``cfa_ner`` or ``grid_ner``) its own parts
(encoder, context table, the rest of the forward pass, decoding), in one
process with a fixed thread count.

    python -m bioner_spacy.benchmark.profile pipelines/BC5CDR-chem/cfa_bilstm_vectors-dep \
        --data corpus/BC5CDR-chem/test.spacy --limit 1500 --threads 1

Each figure is the best of ``--repeats`` passes, after a warm-up batch.
``--torch-ops N`` adds the N torch operations that take the NER's predict
longest (cProfile, one pass, own time of each).
"""
import argparse
import cProfile
import json
import pstats
import time
from typing import Callable, Dict, List

NER_COMPONENTS = ("cfa_ner", "grid_ner")


def best_of(repeats: int, work: Callable[[object], object], setup: Callable[[], object] = lambda: None) -> float:
    """The fastest of ``repeats`` calls of ``work(setup())``; setup is not timed."""
    times = []
    for _ in range(repeats):
        prepared = setup()
        start = time.perf_counter()
        work(prepared)
        times.append(time.perf_counter() - start)
    return min(times)


def profile(pipeline: str, data: str, limit: int, batch_size: int, repeats: int, threads: int,
            torch_ops: int = 0) -> Dict:
    import spacy
    from spacy.tokens import DocBin

    from ..collection.worker import set_threads

    set_threads(threads)
    nlp = spacy.load(pipeline)
    texts = [d.text for d in DocBin().from_disk(data).get_docs(nlp.vocab)]
    texts = texts[:limit] if limit else texts
    list(nlp.pipe(texts[:batch_size]))  # warm-up
    words = sum(len(doc) for doc in nlp.tokenizer.pipe(texts))
    seconds: Dict[str, float] = {}
    docs = [nlp.make_doc(t) for t in texts]
    for name, proc in nlp.pipeline:
        seconds[name] = best_of(repeats, lambda fresh: list(proc.pipe(fresh, batch_size=batch_size)),
                                lambda: [d.copy() for d in docs])
        docs = list(proc.pipe(docs, batch_size=batch_size))
    parts: Dict[str, float] = {}
    ops: List = []
    ner_name = next((n for n in NER_COMPONENTS if n in nlp.pipe_names), None)
    if ner_name is not None:
        parts = ner_parts(nlp.get_pipe(ner_name), docs, batch_size, repeats)
        if torch_ops:
            ops = slowest_torch_ops(nlp.get_pipe(ner_name), docs, batch_size, torch_ops)
    return {"pipeline": pipeline, "data": data, "texts": len(texts), "words": words, "threads": threads,
            "batch_size": batch_size, "seconds": seconds, "ner": ner_name, "ner_parts": parts, "torch_ops": ops}


def slowest_torch_ops(ner, docs: List, batch_size: int, n: int) -> List:
    """[(torch operation, seconds)] of one pass of the NER's predict, the
    ``n`` with the largest own time."""
    batches = [docs[i:i + batch_size] for i in range(0, len(docs), batch_size)]
    profiler = cProfile.Profile()
    profiler.enable()
    for batch in batches:
        ner.predict(batch)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    ops = [(name, row[2]) for (_, _, name), row in stats.items() if "torch" in name and name.startswith("<")]
    return sorted(ops, key=lambda op: -op[1])[:n]


def ner_parts(ner, docs: List, batch_size: int, repeats: int) -> Dict[str, float]:
    """The NER's predict split into its encoder (for spaCy's Tok2Vec: the
    embedding of each batch's distinct tokens, and the contextual encoder),
    its context table and the rest (attention and output layer), and
    decoding with set_annotations. Batch by batch, as ``predict`` runs: no
    embedding rows kept between batches (``pipe`` keeps them)."""
    from ..ml.attention.cfa import context_arrays
    from ..ml.encoders.distinct_tokens import embed_distinct_tokens, predict_tok2vec

    batches = [docs[i:i + batch_size] for i in range(0, len(docs), batch_size)]
    model = ner.model
    parts = {"predict": best_of(repeats, lambda _: [ner.predict(b) for b in batches])}
    if model.has_ref("tok2vec"):
        tok2vec = model.get_ref("tok2vec")
        parts["encoder (tok2vec)"] = best_of(repeats, lambda _: [predict_tok2vec(tok2vec, b) for b in batches])
        if tok2vec.has_ref("embed") and tok2vec.has_ref("encode"):
            embed, encode = tok2vec.get_ref("embed"), tok2vec.get_ref("encode")
            parts["encoder: embedding"] = best_of(repeats, lambda _: [embed_distinct_tokens(embed, b) for b in batches])
            embedded = [embed_distinct_tokens(embed, b) for b in batches]
            parts["encoder: encode"] = best_of(repeats, lambda _: [encode.predict(x) for x in embedded])
    attention = model.get_ref("attention") if model.has_ref("attention") else None
    if attention is not None and attention.name == "cfa_attention":
        parts["context table"] = best_of(repeats, lambda _: [context_arrays(attention, b) for b in batches])
    scores = [ner.predict(b) for b in batches]
    parts["decoding + set_annotations"] = best_of(
        repeats, lambda _: [ner.set_annotations(b, s) for b, s in zip(batches, scores)])
    return parts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline")
    parser.add_argument("--data", required=True)
    parser.add_argument("--limit", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--torch-ops", type=int, default=0, help="also list the N slowest torch operations")
    args = parser.parse_args(argv)
    result = profile(args.pipeline, args.data, args.limit, args.batch_size, args.repeats, args.threads,
                     args.torch_ops)
    print(json.dumps(result, indent=2))
    total = sum(result["seconds"].values())
    for name, s in result["seconds"].items():
        print(f"{name:>20s} {s:6.2f} s  {100 * s / total:4.0f}%")
    for name, s in result["ner_parts"].items():
        print(f"{result['ner'] + ': ' + name:>36s} {s:6.2f} s")
    for name, s in result["torch_ops"]:
        print(f"{name[:60]:>60s} {s:6.2f} s")


if __name__ == "__main__":
    main()
