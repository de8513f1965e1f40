"""Train and score one run of a benchmark matrix, and the loop over runs.

A run writes ``WORK/runs/KEY/`` (its config, logs and trained model) and,
only when it has finished, ``RESULTS/cells/KEY.json``: the cell record that
the report reads. A run whose cell exists, made with the same config file
content, overrides and step budget, is skipped, so an interrupted benchmark
resumes where it stopped; a cell made with other settings is run again, and
a failed run leaves no cell behind.
"""
import hashlib
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..io import atomic_path
from ..provenance import machine, versions
from ..representations.encoder import package_path
from .plan import Matrix, Run
from .speed import thread_env


def eta_seconds(durations: List[float], left: int, jobs: int) -> float:
    """Time to run ``left`` more runs, ``jobs`` at a time, if each takes the
    mean of the finished runs' ``durations`` (runs in flight count as left)."""
    if not durations or not left:
        return 0.0
    return sum(durations) / len(durations) * left / min(jobs, left)


def device(gpu_id: int) -> str:
    if gpu_id < 0:
        return "cpu"
    try:
        import torch

        return f"cuda:{gpu_id} {torch.cuda.get_device_name(gpu_id)}"
    except Exception:  # noqa: BLE001 - only a label
        return f"cuda:{gpu_id}"


@lru_cache(maxsize=None)
def corpus_size(path: Path) -> Tuple[int, int]:
    """Docs and words in a .spacy corpus (read once per process)."""
    from spacy.tokens import DocBin

    lengths = [len(tokens) for tokens in DocBin().from_disk(path).tokens]
    return len(lengths), sum(lengths)


@lru_cache(maxsize=None)
def config_vectors(config: Path):
    """The config file's own [paths] vectors (None when it has none)."""
    from spacy.util import load_config

    return load_config(config, interpolate=False).get("paths", {}).get("vectors")


def vectors_manifest(path: Path) -> Dict:
    """What a vectors folder was built from (``bioner-spacy vectors`` writes
    it), so a cell made with other vectors is run again; an error naming the
    folder and the command that builds it when it is missing."""
    from ..representations.vectors import MANIFEST

    manifest = Path(path) / MANIFEST
    if not manifest.exists():
        raise FileNotFoundError(f"vectors not found: {manifest} (build them with `spacy project run vectors`, "
                                "or `bioner-spacy prepare-text` then `bioner-spacy vectors`)")
    built = json.loads(manifest.read_text())
    return {k: built[k] for k in ("words", "settings", "attr", "mode", "sha256") if k in built}


def tok2vec_digest(path: Path) -> Dict:
    """Which pretrained tok2vec a run started from (``spacy pretrain``'s
    weights file), so a cell made from other weights is run again; an error
    naming the file and the command that builds it when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained tok2vec not found: {path.resolve()} (build it with `spacy project run "
                                f"pretrain . --vars.pretrain_output {path.parent}`)")
    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def complete_pretraining(section: Dict) -> Dict:
    """A partial [pretraining] block (a run starting from a pretrained tok2vec
    names only its component and layer) completed with spaCy's defaults, as
    ``spacy init fill-config --pretraining`` does: spaCy validates the whole
    block when it loads ``initialize.init_tok2vec``."""
    from spacy.language import DEFAULT_CONFIG_PRETRAIN_PATH
    from spacy.util import load_config
    from thinc.api import Config

    defaults = Config(load_config(DEFAULT_CONFIG_PRETRAIN_PATH, interpolate=False)["pretraining"])
    return dict(defaults.merge(Config(section)))


def training_digest(cell: Dict) -> str:
    """What identifies the training a cell records (its date, seconds and dev
    curve): a cell that scored its model holds it, and is stale once the run
    is trained again."""
    fields = json.dumps([cell.get("date"), cell.get("train_seconds"), cell.get("dev_curve")], sort_keys=True)
    return hashlib.sha256(fields.encode()).hexdigest()[:16]


def per_dataset(scores: Dict, keys: Sequence[str] = ("p", "r", "f")) -> Dict[str, Dict]:
    """P, R and F1 (or other ``keys``) by corpus from ``bioner-spacy evaluate``'s scores."""
    return {d: {k: s[k] for k in keys} for d, s in scores["seqeval_per_dataset"].items()}


def score_fields(scores: Dict, dev_scores: Dict) -> Dict:
    """A cell's scores from ``bioner-spacy evaluate``'s on test and on dev:
    by corpus (with the test split's per-type figures), micro over the test
    corpora, and the corpora scored on entity spans alone (an untyped model
    on a corpus of several types: its figures are not comparable with typed
    ones)."""
    untyped = set(scores.get("seqeval_untyped_datasets", [])) | set(dev_scores.get("seqeval_untyped_datasets", []))
    return {"scores": per_dataset(scores, ("p", "r", "f", "per_type")),
            "micro": {k: scores[f"seqeval_{k}"] for k in ("p", "r", "f")},
            "dev_scores": per_dataset(dev_scores),
            "untyped_datasets": sorted(untyped)}


class Bench:
    """Where a matrix reads corpora and writes runs and cells."""

    def __init__(self, matrix: Matrix, corpus_dir: Path, work: Path, results: Path, configs: Path,
                 gpu_id: int = -1, threads: int = 1):
        self.matrix, self.corpus_dir, self.work, self.results = matrix, Path(corpus_dir), Path(work), Path(results)
        self.configs, self.gpu_id, self.threads = Path(configs), gpu_id, threads

    def cell_path(self, run: Run) -> Path:
        return self.results / "cells" / f"{run.key}.json"

    def run_dir(self, run: Run) -> Path:
        return self.work / "runs" / run.key

    def write_cell(self, run: Run, cell: Dict) -> None:
        with atomic_path(self.cell_path(run)) as tmp:
            tmp.write_text(json.dumps(cell, indent=2))

    def scores_of_model(self, run: Run, env: Dict) -> Dict:
        """The cell fields of the run's selected model scored on test and on dev."""
        return score_fields(self.evaluate(run, "test", env), self.evaluate(run, "dev", env))

    def source_run(self, run: Run) -> Run:
        """The run whose model ``run`` scores: itself, or the same run of the
        system it scores the models of (``model_of``)."""
        source = self.matrix.systems[run.system].model_of
        return Run(source, run.train, run.seed, run.fractions) if source else run

    def model_dir(self, run: Run) -> Path:
        return self.run_dir(self.source_run(run)) / "model"

    def corpus(self, dataset: str, split: str) -> Path:
        return self.corpus_dir / dataset / f"{split}.spacy"

    def overrides(self, run: Run) -> Dict:
        """The run's settings on top of the system's config."""
        system = self.matrix.systems[run.system]
        budget = self.matrix.budget(run.system)
        o = dict(system.overrides)
        o.update({
            "training.max_steps": budget["max_steps"],
            "training.max_epochs": 0,
            "training.eval_frequency": budget["eval_frequency"],
            "system.seed": run.seed,
        })
        if budget["patience"]:
            o["training.patience"] = budget["patience"]
        if system.corpora == "file":
            (dataset,) = run.train
            o.update({"paths.train": str(self.corpus(dataset, "train")), "paths.dev": str(self.corpus(dataset, "dev")),
                      "corpora.dev.limit": budget["dev_limit"]})
            if run.fractions:
                o["corpora.train.fraction"] = run.fraction_of(dataset)
        else:
            # a one-corpus system whose named budget sets dev_limit scores that many dev docs
            named = self.matrix.budgets.get(system.budget, {})
            dev_limit = named["dev_limit"] if system.corpora == "one" and "dev_limit" in named else \
                self.matrix.dev_limit_per_corpus
            o.update({"bioner.corpus_dir": str(self.corpus_dir), "bioner.datasets": list(run.train),
                      "bioner.dev_limit": dev_limit})
            if run.fractions:
                o["corpora.train.fractions"] = dict(run.fractions)
        return o

    def settings(self, run: Run, strict: bool = True, check_vectors: bool = True) -> Dict:
        """What a cell must have been made with to count for this matrix: the
        config file's content, the overrides, the step budget, and the
        vectors and pretrained tok2vec it read (the builds). strict=False: a
        build that is not here reads as None (reporting needs none) instead
        of raising."""
        config = self.configs / f"{self.matrix.systems[run.system].config}.cfg"
        overrides = json.loads(json.dumps(self.overrides(run)))
        settings = {"config_sha256": hashlib.sha256(config.read_bytes()).hexdigest(),
                    "overrides": overrides, "steps": self.matrix.steps}
        system = self.matrix.systems[run.system]
        if system.model_of:
            settings.update({"model_of": system.model_of, "evaluate": list(system.evaluate)})
        if system.starts_from:
            settings.update(self.start_settings(run, strict, check_vectors))
        builds = {"vectors": (overrides.get("paths.vectors", config_vectors(config)), vectors_manifest),
                  "init_tok2vec": (overrides.get("paths.init_tok2vec"), tok2vec_digest)}
        for name, (path, describe) in builds.items():
            if path:
                try:
                    settings[name] = describe(Path(path))
                except FileNotFoundError:
                    if strict:
                        raise
                    settings[name] = None
        return settings

    def start_settings(self, run: Run, strict: bool = True, check_vectors: bool = True) -> Dict:
        """What a run that starts from another's model (``starts_from``) was
        made from: that run's key and the digest of its cell's training, so a
        fine-tuned cell is stale once its start is trained again (its cell
        read as ``is_current`` reads, with or without the builds). strict: an
        error, naming what to run, when the start has no current cell or kept
        model (else the digest reads None)."""
        start = self.matrix.start_run(run)
        cell = self.current_cells([start], check_vectors).get(start.key)
        if strict:
            if cell is None:
                raise RuntimeError(f"{run.key} starts from the model of {start.key}, which has no current cell: "
                                   f"run it first (--systems {start.system})")
            model, why_not = self.kept_model(start, self.cell_path(start))
            if model is None:
                raise RuntimeError(f"{run.key} starts from the model of {start.key}: {why_not}; to train it again, "
                                   f"delete {self.cell_path(start)} and run --systems {start.system} --seeds {start.seed}")
        return {"starts_from": start.key, "start_digest": training_digest(cell) if cell else None}

    def is_current(self, cell: Dict, run: Run, check_vectors: bool = True) -> bool:
        """Whether the cell was made with today's settings. The builds it read
        (vectors table, pretrained tok2vec) count where ``check_vectors`` and
        the build is here; otherwise (a fresh clone; a report) everything else
        must match: floret and pretraining builds differ from run to run, so a
        report of cells does not depend on which build this machine has (the
        cells record theirs)."""
        settings, recorded = self.settings(run, strict=False, check_vectors=check_vectors), dict(cell.get("settings") or {})
        for build in ("vectors", "init_tok2vec"):
            if not check_vectors or settings.get(build, False) is None:
                settings.pop(build, None)
                recorded.pop(build, None)
        return recorded == settings

    def current_cells(self, runs: List[Run], check_vectors: bool = True) -> Dict[str, Dict]:
        """The cells of ``runs`` made with today's settings (``is_current``);
        a cell that scored another run's model (``model_of``) also needs that
        run's cell current and unchanged since (the same trained model)."""
        cells, scoring = {}, []
        for run in runs:
            path = self.cell_path(run)
            if path.exists():
                cell = json.loads(path.read_text())
                if self.is_current(cell, run, check_vectors):
                    if self.source_run(run) == run:
                        cells[run.key] = cell
                    else:
                        scoring.append((run, cell))
        for run, cell in scoring:
            source = self.source_run(run)
            # the source's cell as read above where it is among ``runs``, else read now
            source_cell = cells.get(source.key) or self.current_cells([source], check_vectors).get(source.key)
            if source_cell is not None and cell.get("source_digest") == training_digest(source_cell):
                cells[run.key] = cell
        return cells

    def pending(self, runs: List[Run]) -> Tuple[Dict[str, Dict], List[Run], List[str]]:
        """The current cells of ``runs``, the runs still to train, and the keys
        of those among them whose cell was made with other settings."""
        cells = self.current_cells(runs)
        todo = [run for run in runs if run.key not in cells]
        return cells, todo, [run.key for run in todo if self.cell_path(run).exists()]

    def write_config(self, run: Run) -> Path:
        from spacy.util import load_config

        system = self.matrix.systems[run.system]
        path = self.configs / f"{system.config}.cfg"
        try:
            overrides = {k: package_path(v) for k, v in self.overrides(run).items()}
            config = load_config(path, overrides=overrides, interpolate=False)
        except Exception as err:  # noqa: BLE001 - reported with the file
            raise ValueError(f"{path}: cannot apply the benchmark settings of run {run.key}: {err}") from None
        if config.get("pretraining"):
            config["pretraining"] = complete_pretraining(config["pretraining"])
        if system.starts_from:
            # every component trains on from the start's kept model (spaCy resumes a sourced component)
            start = self.model_dir(self.matrix.start_run(run)) / "model-best"
            for name in config["nlp"]["pipeline"]:
                config["components"][name] = {"source": str(start.resolve())}
        config["training"]["logger"] = {"@loggers": "bioner.BenchmarkLogger.v1",
                                        "output_file": str(self.run_dir(run) / "train_log.jsonl")}
        target = self.run_dir(run) / "config.cfg"
        target.parent.mkdir(parents=True, exist_ok=True)
        config.to_disk(target)
        return target

    def train_words(self, run: Run) -> int:
        """Words in one epoch of the run's training data."""
        return sum(round(corpus_size(self.corpus(d, "train"))[1] * run.fraction_of(d)) for d in run.train)

    def execute(self, run: Run) -> Dict:
        """Train and score the run; write and return its cell."""
        if self.matrix.systems[run.system].model_of:
            return self.score_other(run)
        run_dir = self.run_dir(run)
        settings = self.settings(run)  # before training: the builds it reads now, not after
        config = self.write_config(run)
        env = thread_env(self.threads)
        model = run_dir / "model"
        start = time.time()
        self.call([sys.executable, "-m", "spacy", "train", str(config), "--output", str(model),
                   "--gpu-id", str(self.gpu_id)], run_dir / "train.log", env)
        train_seconds = time.time() - start
        scored = self.scores_of_model(run, env)
        steps = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
        words_per_epoch = self.train_words(run)
        last = steps[-1] if steps else {}
        epochs = (last.get("words") or 0) / words_per_epoch if words_per_epoch else None
        system = self.matrix.systems[run.system]
        cell = {
            "key": run.key, "settings": settings, "matrix": self.matrix.name, "system": run.system, "label": system.label,
            "config": f"configs/{system.config}.cfg", "overrides": self.overrides(run), "train": list(run.train),
            "fractions": dict(run.fractions), "seed": run.seed, "steps": self.matrix.steps,
            "budget": self.matrix.budget(run.system), "steps_trained": last.get("step"),
            **({"starts_from": settings["starts_from"]} if system.starts_from else {}),
            **scored,
            "train_seconds": train_seconds, "train_loop_seconds": last.get("seconds"), "words_per_epoch": words_per_epoch,
            "epochs": epochs, "seconds_per_epoch": (last.get("seconds") or train_seconds) / epochs if epochs else None,
            "dev_curve": [{"step": s["step"], "score": s["score"]} for s in steps],
            "device": device(self.gpu_id), "machine": machine(), "versions": versions(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        }
        self.write_cell(run, cell)
        return cell

    def score_other(self, run: Run) -> Dict:
        """The cell of a system that scores another's models (``model_of``):
        the source run's kept model scored with the system's ``evaluate``
        arguments; what describes training is the source's cell."""
        source = self.source_run(run)
        settings = self.settings(run)
        cell = self.current_cells([source]).get(source.key)
        if cell is None:
            raise RuntimeError(f"{run.key} scores the model of {source.key}, which has no current cell: run it first "
                               f"(--systems {source.system})")
        model, why_not = self.kept_model(source, self.cell_path(source))
        if model is None:
            raise RuntimeError(f"{run.key} scores the model of {source.key}: {why_not}; run {source.key} again")
        system = self.matrix.systems[run.system]
        cell = {**cell, "key": run.key, "settings": settings, "system": run.system, "label": system.label,
                "model_of": source.key, "source_digest": training_digest(cell), "evaluate_args": list(system.evaluate),
                **self.scores_of_model(run, thread_env(self.threads)),
                "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
        cell.pop("rescored", None)
        self.write_cell(run, cell)
        return cell

    def evaluate(self, run: Run, split: str, env: Dict) -> Dict:
        """The run's selected model (model-best) scored on the ``split`` of
        each corpus it trained on, with the syntax stored in the corpora (and
        the system's own ``evaluate`` arguments, if any)."""
        run_dir = self.run_dir(run)
        suffix = "" if split == "test" else f"-{split}"
        output = run_dir / f"scores{suffix}.json"
        self.call([sys.executable, "-m", "bioner_spacy", "evaluate", str(self.model_dir(run) / "model-best"),
                   *[str(self.corpus(d, split)) for d in run.train], "--stored-syntax",
                   *self.matrix.systems[run.system].evaluate,
                   "--output", str(output)], run_dir / f"evaluate{suffix}.log", env)
        return json.loads(output.read_text())

    def add_dev_scores(self, run: Run, evaluate: bool = True) -> str:
        """Add the selected model's dev F1 per corpus to a cell made before the
        harness scored dev (what the report's choice reads). Exact either way:
        from the training log where the run trained on one corpus and its dev
        evaluations read that corpus's whole dev split (the log's best is the
        selected model's score: F1 only); else, with ``evaluate``, by scoring
        the kept model, unless it is newer than the cell (another run of that
        key since). Returns what it did."""
        path = self.cell_path(run)
        cell = json.loads(path.read_text())
        if "dev_scores" in cell:
            return "has dev scores"
        if len(run.train) == 1 and cell.get("dev_curve") and self.whole_dev_evaluated(run, cell):
            (dataset,) = run.train
            cell["dev_scores"] = {dataset: {"f": max(point["score"] for point in cell["dev_curve"]),
                                            "source": "training log"}}
        else:
            if not evaluate:
                return "not from the training log (its dev evaluations read part of the dev split)"
            model, why_not = self.kept_model(run, path)
            if model is None:
                return why_not
            cell["dev_scores"] = per_dataset(self.evaluate(run, "dev", thread_env(self.threads)))
        self.write_cell(run, cell)
        return "dev " + ", ".join(f"{d} {100 * s['f']:.2f}" for d, s in cell["dev_scores"].items())

    def kept_model(self, run: Run, cell_path: Path) -> Tuple[Optional[Path], str]:
        """The run's kept model-best, or None and why not: none kept, or one
        newer than the cell (another run of that key since)."""
        model = self.model_dir(run) / "model-best"
        if not model.exists():
            return None, f"no model kept in {model.parent}"
        if model.stat().st_mtime > cell_path.stat().st_mtime:
            return None, f"{model} is newer than the cell (trained again since): not scored"
        return model, ""

    def rescore(self, run: Run) -> str:
        """Score the run's kept model again, on test and dev, and rewrite its
        cell's scores (after a change in how a model is scored: an untyped
        model on spans alone). Returns what it did."""
        path = self.cell_path(run)
        model, why_not = self.kept_model(run, path)
        if model is None:
            return why_not
        cell = {**json.loads(path.read_text()), **self.scores_of_model(run, thread_env(self.threads)),
                "rescored": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
        self.write_cell(run, cell)
        return "test " + ", ".join(f"{d} {100 * s['f']:.2f}" for d, s in cell["scores"].items())

    def whole_dev_evaluated(self, run: Run, cell: Dict) -> bool:
        """Whether a one-corpus run's dev evaluations read its corpus's whole
        dev split: no dev limit, or one at least the split's length."""
        overrides = cell.get("overrides") or {}
        # a config's own reader, or the multi-corpus reader's per-corpus limit
        limit = overrides.get("corpora.dev.limit", overrides.get("bioner.dev_limit"))
        if limit is None:
            return False
        return limit == 0 or limit >= corpus_size(self.corpus(run.train[0], "dev"))[0]

    @staticmethod
    def call(cmd: List[str], log_file: Path, env: Dict) -> None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "w") as out:
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        if result.returncode:
            tail = "".join(log_file.read_text().splitlines(keepends=True)[-15:])
            raise RuntimeError(f"command failed ({result.returncode}), log {log_file}:\n$ {' '.join(cmd)}\n{tail}")

    def run_all(self, runs: List[Run], jobs: int = 1, log: Callable[[str], None] = print) -> Dict[str, Dict]:
        """Every run without a cell, ``jobs`` at a time: a line when a run
        starts (what is running) and one when it ends (its F1, what remains and
        an ETA, ``eta_seconds``)."""
        cells, todo, stale = self.pending(runs)
        log(f"{len(runs)} runs in matrix {self.matrix.name!r}: {len(cells)} done, {len(todo)} to run")
        for key in stale:
            log(f"{key}: its cell was made with other settings (config, overrides, steps or builds: vectors, pretrained tok2vec); running it again")
        if not todo:
            return cells
        failures, durations = [], []

        def start(index: int, run: Run) -> Dict:
            log(f"[start {index}/{len(todo)}] {run.key}")
            began = time.time()
            cell = self.execute(run)
            durations.append(time.time() - began)
            return cell

        done = 0

        def run_phase(phase: List[Run], first: int) -> None:
            nonlocal done
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(start, index, run): run for index, run in enumerate(phase, start=first)}
                for future in as_completed(futures):
                    done += 1
                    run = futures[future]
                    try:
                        cell = future.result()
                    except Exception as err:  # noqa: BLE001 - reported, the other runs go on
                        failures.append(f"{run.key}: {err}")
                        log(f"[{done}/{len(todo)}] FAILED {run.key}: {err}")
                        continue
                    cells[run.key] = cell
                    eta = eta_seconds(durations, len(todo) - done, jobs)
                    scores = ", ".join(f"{d} {100 * s['f']:.2f}" for d, s in cell["scores"].items())
                    log(f"[{done}/{len(todo)}] {run.key}: F1 {scores} ({cell['train_seconds']:.0f} s); "
                        f"{len(todo) - done} left, ETA {eta / 60:.0f} min")

        # runs that start from other runs' models once those have trained; runs that score
        # other runs' models once every training run has ended
        systems = self.matrix.systems
        fine_tune = [run for run in todo if systems[run.system].starts_from]
        scoring = [run for run in todo if systems[run.system].model_of]
        first = [run for run in todo if run not in fine_tune and run not in scoring]
        index = 1
        for phase in (first, fine_tune, scoring):
            run_phase(phase, index)
            index += len(phase)
        if failures:
            raise RuntimeError(f"{len(failures)} run(s) failed:\n" + "\n".join(failures))
        return cells
