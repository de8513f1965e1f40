"""annotate-collection: shards planned from every input kind, each record in
the output exactly once, resuming, atomic shards, failures reported and
skipped; the Ray engine on a local two-worker cluster with a worker killed
mid-run."""
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bioner_spacy.collection.shards import read_shard_rows, write_shard
from bioner_spacy.collection.sources import (
    InputError,
    Shard,
    article_offsets,
    medline_text,
    plan_shards,
    read_shard,
)

from .conftest import TOY_TEXT
from .test_cli import cli

MEDLINE = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2024//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_240101.dtd">
<PubmedArticleSet>
<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">101</PMID>
<Article PubModel="Print"><ArticleTitle>Cisplatin <i>nephrotoxicity</i> in rats.</ArticleTitle>
<Abstract><AbstractText Label="BACKGROUND">Cisplatin caused renal failure.</AbstractText>
<AbstractText Label="RESULTS">Magnesium protected the kidney.</AbstractText></Abstract></Article>
</MedlineCitation></PubmedArticle>
<PubmedArticle><MedlineCitation><PMID Version="1">102</PMID>
<Article><ArticleTitle>A title alone.</ArticleTitle></Article></MedlineCitation></PubmedArticle>
<DeleteCitation><PMID Version="1">99</PMID></DeleteCitation>
<PubmedArticle><MedlineCitation><PMID Version="1">103</PMID>
<Article><ArticleTitle>Third.</ArticleTitle><Abstract><AbstractText>Aspirin.</AbstractText></Abstract></Article>
</MedlineCitation></PubmedArticle>
</PubmedArticleSet>
"""


def write_jsonl(path: Path, rows, extra_lines=()):
    with path.open("w", encoding="utf8") as f:
        for k, row in enumerate(rows):
            f.write(json.dumps(row) + "\n")
            for at, line in extra_lines:
                if at == k:
                    f.write(line + "\n")
    return path


def ids_of(shards):
    return [r.id for s in shards for r in read_shard(s)]


def test_medline_text_and_ids(tmp_path):
    path = tmp_path / "pubmed24n0001.xml.gz"
    path.write_bytes(gzip.compress(MEDLINE.encode("utf8")))
    shards = plan_shards([path], 2)
    assert [(s.kind, s.start, s.count) for s in shards] == [("medline", 0, 2), ("medline", 2, 1)]
    records = [r for s in shards for r in read_shard(s)]
    assert [r.id for r in records] == ["101", "102", "103"]
    assert records[0].text == ("Cisplatin nephrotoxicity in rats.\n\n"
                               "Cisplatin caused renal failure.\nMagnesium protected the kidney.")
    assert records[1].text == "A title alone."
    import xml.etree.ElementTree as ET

    article = ET.fromstring(MEDLINE.split("\n", 2)[2]).find("PubmedArticle")
    assert medline_text(article) == records[0].text


def test_medline_shards_start_at_their_first_article_bytes(tmp_path):
    path = tmp_path / "pubmed24n0002.xml.gz"
    path.write_bytes(gzip.compress(MEDLINE.encode("utf8")))
    starts = [m.start() for m in re.finditer(rb"<PubmedArticle>", MEDLINE.encode("utf8"))]
    assert article_offsets(path) == starts
    for chunk_size in (1, 7, 15, 16, 40):  # a start tag cut by every kind of chunk boundary
        assert article_offsets(path, chunk_size) == starts
    shards = plan_shards([path], 1)
    assert [(s.offset, s.end) for s in shards] == [(starts[0], starts[1]), (starts[1], starts[2]), (starts[2], 0)]
    # in any order, each shard reads exactly its own articles
    assert [r.id for s in reversed(shards) for r in read_shard(s)] == ["103", "102", "101"]
    assert [r.id for s in shards + shards[1:] for r in read_shard(s)] == ["101", "102", "103", "102", "103"]
    # reading starts at the offset: a shard that says "article 0 at the third article's bytes" reads the third
    third = Shard(index=0, kind="medline", count=1, path=str(path), start=0, offset=starts[2])
    assert [r.id for r in read_shard(third)] == ["103"]
    # and stops at its end: a range that holds fewer articles than planned means the file changed
    short = Shard(index=0, kind="medline", count=2, path=str(path), start=0, offset=starts[0], end=starts[1])
    with pytest.raises(InputError, match=r"pubmed24n0002.xml.gz: 1 of the 2 articles planned from article 0 on"):
        list(read_shard(short))
    # a start tag the parser does not see (in a comment) would shift every shard after it: refused
    commented = tmp_path / "commented.xml"
    commented.write_text(MEDLINE.replace("<PubmedArticleSet>", "<PubmedArticleSet><!-- <PubmedArticle> -->"))
    with pytest.raises(InputError, match=r"commented.xml: 4 <PubmedArticle> start tags in its bytes but 3 articles"):
        plan_shards([commented], 1)


def test_every_input_kind_is_planned_and_read_back_in_order(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = write_jsonl(tmp_path / "a.jsonl", [{"id": f"j{k}", "text": f"text {k}"} for k in range(5)],
                        extra_lines=[(1, ""), (2, "{broken"), (2, "   ")])
    pq.write_table(pa.table({"id": [f"p{k}" for k in range(7)], "text": [f"row {k}" for k in range(7)]}),
                   str(tmp_path / "b.parquet"), row_group_size=4)
    folder = tmp_path / "brat"
    folder.mkdir()
    for name in ("d2", "d1", "d3"):
        (folder / f"{name}.txt").write_text(name)
        (folder / f"{name}.ann").write_text("")
    (tmp_path / "c.txt").write_text("plain")
    shards = plan_shards([jsonl, tmp_path / "b.parquet", folder, tmp_path / "c.txt"], 2)
    assert [(s.kind, s.count) for s in shards] == [
        ("jsonl", 2), ("jsonl", 2), ("jsonl", 2),  # 6 non-empty lines, one of them broken
        ("parquet", 2), ("parquet", 2), ("parquet", 2), ("parquet", 1),  # row groups of 4 and 3
        ("files", 2), ("files", 2),  # the folder's three texts, then c.txt
    ]
    records = [r for s in shards for r in read_shard(s)]
    assert [r.id for r in records] == (
        ["j0", "j1", "j2", f"{jsonl}:5", "j3", "j4"] + [f"p{k}" for k in range(7)] + ["d1", "d2", "d3", "c.txt"]
    )
    assert records[3].error.startswith("not JSON") and records[3].text == ""
    assert [r.text for r in records[13:]] == ["d1", "d2", "d3", "plain"]
    # each shard read alone gives exactly its own records
    assert all(len(list(read_shard(s))) == s.count for s in shards)


def test_bad_inputs_are_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pytest.raises(InputError, match="does not exist: .*missing.jsonl"):
        plan_shards([tmp_path / "missing.jsonl"], 10)
    pq.write_table(pa.table({"body": ["x"]}), str(tmp_path / "x.parquet"))
    with pytest.raises(InputError, match="x.parquet: a Parquet input needs a 'text' column; its columns are body"):
        plan_shards([tmp_path / "x.parquet"], 10)
    (tmp_path / "bad.xml.gz").write_bytes(gzip.compress(b"<PubmedArticleSet><PubmedArticle>"))
    with pytest.raises(InputError, match="bad.xml.gz: not a readable PubMed XML file"):
        plan_shards([tmp_path / "bad.xml.gz"], 10)
    with pytest.raises(InputError, match="at least 1"):
        plan_shards([], 0)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import bioner_spacy.collection.shards as shards

    def broken(path, rows):
        Path(path).write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(shards, "write_parquet", broken)
    with pytest.raises(OSError):
        write_shard(tmp_path, 3, "parquet", [{"id": "a", "entities": []}])
    assert list(tmp_path.iterdir()) == []
    # parquet and jsonl hold the same rows
    monkeypatch.undo()
    rows = [{"id": "a", "dataset": "x", "entities": [{"start": 0, "end": 3, "label": "Chemical", "text": "abc"}]},
            {"id": "b", "error": "not JSON"}]
    assert read_shard_rows(write_shard(tmp_path, 0, "parquet", rows)) == rows
    assert read_shard_rows(write_shard(tmp_path, 0, "jsonl", rows)) == rows


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """40 records (TOY_TEXT among them), a broken line and a record longer
    than nlp.max_length."""
    root = tmp_path_factory.mktemp("collection")
    rows = [{"id": f"r{k}", "text": TOY_TEXT if k % 3 == 0 else f"Patient {k} took aspirin and ibuprofen ."}
            for k in range(40)]
    rows.insert(7, {"id": "huge", "text": "word " * 210_000})
    return write_jsonl(root / "in.jsonl", rows, extra_lines=[(3, "{broken")])


def expected_ids(collection):
    ids = []
    for line_no, line in enumerate(collection.read_text().splitlines(), start=1):
        try:
            ids.append(json.loads(line)["id"])
        except json.JSONDecodeError:
            ids.append(f"{collection}:{line_no}")
    return ids


def output_rows(out: Path):
    return [row for path in sorted(out.glob("shard-*")) for row in read_shard_rows(path)]


def test_local_engine_writes_each_record_once_and_matches_annotate(pipeline_dir, collection, tmp_path):
    out = tmp_path / "out"
    result = cli("annotate-collection", pipeline_dir, collection, "-o", out, "--shard-size", "8", check=True)
    assert "42 records in 6 shards" in result.stdout and "2 records failed" in result.stdout
    assert f"failed {collection}:5: not JSON" in result.stderr and "failed huge: ValueError: [E088]" in result.stderr
    rows = output_rows(out)
    assert [r["id"] for r in rows] == expected_ids(collection)
    errors = {r["id"]: r["error"] for r in rows if "error" in r}
    assert set(errors) == {f"{collection}:5", "huge"}
    # the good records' rows are what the one-file `annotate` writes for them
    plain = tmp_path / "plain.jsonl"
    result = cli("annotate", pipeline_dir, collection, "-o", plain, check=True)
    assert "skipped huge: [E088]" in result.stderr
    assert [r for r in rows if "error" not in r] == [json.loads(line) for line in plain.read_text().splitlines()]


def test_rerun_resumes_and_refuses_another_plan(pipeline_dir, collection, tmp_path):
    out = tmp_path / "out"
    cli("annotate-collection", pipeline_dir, collection, "-o", out, "--shard-size", "8", "--format", "parquet",
        check=True)
    first = output_rows(out)
    shard_files = sorted(out.glob("shard-*.parquet"))
    assert len(shard_files) == 6
    kept = {p: p.stat().st_mtime_ns for p in shard_files if p.name != "shard-000002.parquet"}
    (out / "shard-000002.parquet").unlink()
    (out / ".shard-000004.parquet.deadbeef").write_text("half-written by a killed run")
    result = cli("annotate-collection", pipeline_dir, collection, "-o", out, "--shard-size", "8", "--format",
                 "parquet", check=True)
    assert "resuming: 5 of 6 shards already" in result.stderr
    assert "1 written now, 5 already there" in result.stdout
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # the finished shards were not touched
    assert not list(out.glob(".shard-*"))
    assert output_rows(out) == first
    result = cli("annotate-collection", pipeline_dir, collection, "-o", out, "--shard-size", "5")
    assert result.returncode == 1 and f"{out} holds a run with other shard size" in result.stderr


def worker_pids(marker: str):
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf8", "replace")
            except OSError:
                continue
            if marker in cmdline:
                pids.append(int(proc.name))
    return pids


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the Ray workers through /proc")
def test_ray_engine_survives_a_killed_worker(pipeline_dir, collection, tmp_path):
    pytest.importorskip("ray")
    big = tmp_path / "big.jsonl"
    # a few hundred records, long enough that the run is still going when a worker dies
    lines = collection.read_text().splitlines()
    big.write_text("\n".join(line for _ in range(8) for line in lines if '"huge"' not in line) + "\n")
    out = tmp_path / "out"
    killed = []

    def kill_a_worker_mid_run():
        deadline = time.time() + 240
        while time.time() < deadline and not killed:
            if list(out.glob("shard-*")):  # the run is under way
                pids = worker_pids("RayShardAnnotator")
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_worker_mid_run, daemon=True)
    killer.start()
    args = ("annotate-collection", pipeline_dir, big, "-o", out, "--shard-size", "4", "--engine", "ray",
            "--workers", "2")
    result = cli(*args)
    killer.join(timeout=5)
    assert result.returncode == 0, result.stderr[-3000:]
    assert killed, "the run ended before a worker could be killed"
    assert len(list(out.glob("shard-*.jsonl"))) == -(-8 * (len(lines) - 1) // 4)
    rows = output_rows(out)
    assert [r["id"] for r in rows] == expected_ids(big)  # every record, once, in input order
    local = tmp_path / "local"
    cli("annotate-collection", pipeline_dir, big, "-o", local, "--shard-size", "4", check=True)
    assert rows == output_rows(local)
    # resume is tested with the local engine above: the shards a rerun skips are
    # chosen before either engine starts (annotate_collection's `pending`)


@pytest.fixture
def ray_head(monkeypatch):
    """A running one-node Ray cluster (`ray start --head`) for the engine to
    join by address; stopped afterwards. Token authentication, as `ray start`
    sets it up, for the cluster and for the commands that join it."""
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_cli = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]
    subprocess.run([*ray_cli, "start", "--head", "--port", str(port),
                    "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"],
                   check=True, capture_output=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([*ray_cli, "stop", "--force"], capture_output=True)


def test_ray_engine_joins_a_cluster_by_address_and_resumes(pipeline_dir, collection, tmp_path, ray_head):
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(line for line in collection.read_text().splitlines() if '"huge"' not in line) + "\n")
    out = tmp_path / "out"
    cli("annotate-collection", pipeline_dir, good, "-o", out, "--shard-size", "2", check=True)
    rows = output_rows(out)
    shards = sorted(out.glob("shard-*.jsonl"))
    for gone in (shards[0], shards[-1]):
        gone.unlink()
    untouched = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.jsonl")}
    result = cli("annotate-collection", pipeline_dir, good, "-o", out, "--shard-size", "2", "--engine", "ray",
                 "--workers", "2", "--address", ray_head)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"2 written now, {len(shards) - 2} already there" in result.stdout
    assert output_rows(out) == rows
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.jsonl") if p.name in untouched} == untouched


def test_a_shard_is_annotated_in_a_memory_zone(pipeline_dir, tmp_path):
    """The worker frees the strings a shard's texts brought once its rows are
    written; without the zone the vocabulary keeps them. The rows are the same."""
    import spacy

    from bioner_spacy.collection.worker import ShardAnnotator

    src = write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{k}", "text": f"Patient {k} took zorblamycin{k} with {TOY_TEXT}"}
                                               for k in range(6)])
    [shard] = plan_shards([src], 10)
    rows = {}
    for zone in (True, False):
        nlp = spacy.load(pipeline_dir)
        before = len(nlp.vocab.strings)
        out = tmp_path / f"out-{zone}"
        out.mkdir()
        ShardAnnotator(str(pipeline_dir), str(out), "jsonl", nlp=nlp, memory_zone=zone).annotate(shard)
        assert ("zorblamycin5" in nlp.vocab.strings) is not zone
        assert (len(nlp.vocab.strings) == before) is zone
        rows[zone] = output_rows(out)
    assert rows[True] == rows[False] and len(rows[True]) == 6 and all(r["entities"] for r in rows[True])


def test_memory_benchmark_input_and_running_peaks(tmp_path):
    from bioner_spacy.benchmark.collection_memory import running_peaks, write_text_input

    text = tmp_path / "text.txt"
    text.write_text("alpha beta\n\ngamma\n")  # records of 35 and 30 bytes ({"id": "r0", "text": "alpha beta"} + newline)
    written = write_text_input(text, 140 / 2**20, tmp_path / "in.jsonl")  # 130 bytes after four records: a fifth
    rows = [json.loads(line) for line in (tmp_path / "in.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == ["alpha beta", "gamma", "alpha beta", "gamma", "alpha beta"]
    assert [r["id"] for r in rows] == ["r0", "r1", "r2", "r3", "r4"]
    assert {k: written[k] for k in ("records", "words", "passes", "distinct_records")} == \
        {"records": 5, "words": 8, "passes": 3, "distinct_records": 2}
    samples = [(1.0, 300.0), (4.0, 500.0), (6.0, 450.0), (9.5, 520.0)]
    assert running_peaks(10.0, samples) == {"0.1": 300.0, "0.25": 300.0, "0.5": 500.0, "1": 520.0}


def test_the_engine_passes_the_memory_zone_setting_to_its_worker(pipeline_dir, tmp_path):
    import spacy

    from bioner_spacy.collection.engines import annotate_collection

    src = write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{k}", "text": f"Patient {k} took quuxamide{k} ."}
                                               for k in range(4)])
    for zone in (True, False):
        nlp = spacy.load(pipeline_dir)
        annotate_collection(str(pipeline_dir), [src], tmp_path / f"out-{zone}", shard_size=2, nlp=nlp,
                            memory_zone=zone, report=lambda message: None)
        assert ("quuxamide3" in nlp.vocab.strings) is not zone


def test_a_record_names_the_arguments_its_main_was_given(monkeypatch, tmp_path):
    from bioner_spacy.benchmark import collection_memory
    from bioner_spacy.provenance import command_line

    monkeypatch.setattr(sys, "argv", ["pytest", "-q"])
    # quoted as a shell reads it; the process's own arguments when main was given none
    assert command_line("m", ["--data", "my corpus.spacy"]) == "python -m m --data 'my corpus.spacy'"
    assert command_line("m") == "python -m m -q"
    seen = []
    monkeypatch.setattr(collection_memory, "measure", lambda args: seen.append(args.command))
    monkeypatch.setattr(collection_memory, "markdown", lambda records: "")
    text = tmp_path / "text.txt"
    text.write_text("alpha\n")
    collection_memory.main(["--pipeline", "blank:en", "--text", str(text), "--output", str(tmp_path / "m.json")])
    assert seen == [f"python -m bioner_spacy.benchmark.collection_memory --pipeline blank:en --text {text} "
                    f"--output {tmp_path / 'm.json'}"]
