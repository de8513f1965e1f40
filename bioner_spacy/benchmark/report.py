"""The results doc of a benchmark matrix: mean ± std over seeds of the cell
records, published anchors in their own labelled rows, reduced-data curves,
speed and memory, and the plots."""
import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .anchors import ANCHORS
from .plan import Curve, Matrix, Run
from .stats import mean_std

PAIRED = ("mean ± std (number of seeds) of the differences, and t = mean / (std / √n), the paired t statistic "
          "(n − 1 degrees of freedom: with 3 seeds, |t| > 4.30 is significant at 5%, two-sided).")


def fmt(values: Sequence[float], scale: float = 100.0, digits: int = 2, signed: bool = False) -> str:
    """"mean ± std (n)" of values; one value has no spread to show: "value (1)";
    "-" when there are none. signed: the mean with its sign, "+1.00"."""
    mean, std = mean_std(values)
    if mean is None:
        return "-"
    shown = f"{scale * mean:{'+' if signed else ''}.{digits}f}"
    if len(values) == 1:
        return f"{shown} (1)"
    return f"{shown} ± {scale * std:.{digits}f} ({len(values)})"


def fmt_paired(differences: Sequence[float]) -> str:
    """Paired differences as "+mean ± std (n), t = T", where t = mean / (std / √n)
    is the paired t statistic (n - 1 degrees of freedom); no t without spread."""
    shown = fmt(differences, signed=True)
    mean, std = mean_std(differences)
    if len(differences) > 1 and std > 0:
        shown += f", t = {mean / (std / math.sqrt(len(differences))):.1f}"
    return shown


def paired(first: Dict[int, float], second: Dict[int, float]) -> List[float]:
    """``second`` minus ``first``, one difference per seed that both have."""
    return [second[seed] - value for seed, value in sorted(first.items()) if seed in second]


def load_cells(results: Path) -> Dict[str, Dict]:
    """Every cell record under results/cells, by run key."""
    return read_cell_files(Path(results) / "cells")


def read_cell_files(folder: Path) -> Dict[str, Dict]:
    """Every cell record in ``folder``, by run key (its file name)."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))}


def cell_f1(cell: Dict, dataset: str, split: str = "test", untyped: bool = False) -> Optional[float]:
    """The F1 on ``dataset`` of the cell's selected model: on the test split,
    or on the whole dev split (``benchmark run`` scores it; ``benchmark
    dev-scores`` adds it to older cells where it can); None when the cell
    has none. Typed figures only, or with ``untyped`` only those on entity
    spans alone (an untyped model on a corpus of several types), which are
    not comparable with typed ones."""
    if (dataset in cell.get("untyped_datasets", ())) != untyped:
        return None
    score = (cell.get("scores" if split == "test" else "dev_scores") or {}).get(dataset)
    return None if score is None else score["f"]


def f1_by_seed(cells: Dict[str, Dict], runs: List[Run], dataset: str, split: str = "test",
               untyped: bool = False) -> Dict[int, float]:
    """F1 on ``dataset``'s ``split`` by seed, of the runs that trained on it and have one."""
    return {r.seed: f for r in runs
            if r.key in cells and (f := cell_f1(cells[r.key], dataset, split, untyped)) is not None}


def accuracy_table(matrix: Matrix, cells: Dict[str, Dict], group) -> Tuple[List[str], Dict, List[str]]:
    """The group's F1 table, F1 by seed per (system, corpus), and where the
    table shows a figure on entity spans alone ("SYSTEM on CORPUS", marked †)."""
    runs = matrix.group_runs(group, gpu=True)
    by_seeds, spans_only = {}, []
    header = "| system | " + " | ".join(group.datasets) + " |"
    lines = [header, "|---|" + "---|" * len(group.datasets)]
    for name in group.systems:
        system = matrix.systems[name]
        own = [r for r in runs if r.system == name]
        if system.gpu and not any(r.key in cells for r in own):
            lines.append(f"| {system.label} | " + " | ".join("no GPU run" for _ in group.datasets) + " |")
            continue
        row = []
        for dataset in group.datasets:
            trained = [r for r in own if dataset in r.train]
            by_seeds[(name, dataset)] = f1_by_seed(cells, trained, dataset)
            spans_alone = f1_by_seed(cells, trained, dataset, untyped=True)
            if spans_alone and not by_seeds[(name, dataset)]:
                row.append(fmt(list(spans_alone.values())) + " †")
                spans_only.append(f"{system.label} on {dataset}")
            else:
                row.append(fmt(list(by_seeds[(name, dataset)].values())))
        lines.append(f"| {system.label} | " + " | ".join(row) + " |")
    for source in group.anchors:
        figures = ANCHORS[source]
        if any(d in figures for d in group.datasets):
            lines.append(f"| *{source}* | " + " | ".join(f"*{figures[d]:.2f}*" if d in figures else "" for d in group.datasets) + " |")
    return lines, by_seeds, spans_only


def untyped_line(where: List[str]) -> List[str]:
    """What a † in a group's table means, and where it is (``accuracy_table``), if anywhere."""
    if not where:
        return []
    return ["", "† Entity spans alone, types not compared: the system's output is untyped and the corpus has several "
            "types, so the figure is not set against typed ones (left out of the choice, the paired differences and "
            f"the plot): {'; '.join(where)}."]


def dev_by_seeds(matrix: Matrix, cells: Dict[str, Dict], group) -> Dict:
    """Dev F1 by seed per (system, corpus) of the group's runs that have one."""
    runs = matrix.group_runs(group, gpu=True)
    return {(name, dataset): f1_by_seed(cells, [r for r in runs if r.system == name and dataset in r.train], dataset,
                                        "dev")
            for name in group.systems for dataset in group.datasets}


def anchor_lines(matrix: Matrix, group, by_seeds: Dict, dev_seeds: Dict) -> List[str]:
    """For each corpus with a published anchor: our system chosen by its
    mean dev F1 (test scores play no part in the choice), its mean test F1
    against the best published figure, and whether it is above or below.
    A system without a dev score for every seed is left out of the choice,
    and named."""
    lines = []
    for dataset in group.datasets:
        published = [(ANCHORS[source][dataset], source) for source in group.anchors if dataset in ANCHORS[source]]
        candidates, left_out = [], []
        for (name, d), f1 in by_seeds.items():
            if d != dataset or not f1:
                continue
            dev = dev_seeds.get((name, dataset), {})
            if any(seed not in dev for seed in f1):
                left_out.append(matrix.systems[name].label)
                continue
            candidates.append((mean_std([dev[seed] for seed in f1])[0], mean_std(list(f1.values()))[0], name, len(f1)))
        if not published or not (candidates or left_out):
            continue
        if not candidates:
            lines.append(f"- {dataset}: no system to choose (none has a dev score for every seed): "
                         f"{'; '.join(left_out)}.")
            continue
        anchor, source = max(published)
        # the choice is the mean dev F1 alone (a tie goes to the first system listed)
        mean_dev, mean, name, n = max(candidates, key=lambda candidate: candidate[0])
        side = "above" if 100 * mean > anchor else "below"
        line = (f"- {dataset}: chosen by dev F1, {matrix.systems[name].label} (dev {100 * mean_dev:.2f}), test "
                f"{100 * mean:.2f} ({n} seed{'s' * (n > 1)}) is {side} the best published figure, {anchor:.2f} "
                f"({source}), by {abs(100 * mean - anchor):.2f}.")
        if left_out:
            line += f" Not in the choice (no dev score): {'; '.join(left_out)}."
        lines.append(line)
    if not lines:
        return []
    return ["", "Against the published figures: on each corpus, our system with the highest mean dev F1 over its "
                "seeds (the selected models on the whole dev split; test scores play no part in the choice), and its "
                "mean test F1:", ""] + lines


def baseline_table(matrix: Matrix, group, by_seeds: Dict) -> List[str]:
    """Each other system's F1 minus the group's baseline's, paired by seed."""
    base = group.baseline
    lines = [f"| system − {matrix.systems[base].label} | " + " | ".join(group.datasets) + " |",
             "|---|" + "---|" * len(group.datasets)]
    for name in group.systems:
        if name != base:
            row = [fmt_paired(paired(by_seeds.get((base, d), {}), by_seeds.get((name, d), {}))) for d in group.datasets]
            lines.append(f"| {matrix.systems[name].label} | " + " | ".join(row) + " |")
    return lines


def cell_table(matrix: Matrix, cells: Dict[str, Dict], group, key: str = "seconds_per_epoch",
               digits: int = 0) -> List[str]:
    """mean ± std over seeds of one field of the cells (seconds per epoch,
    epochs trained), system by corpus."""
    runs = [r for r in matrix.group_runs(group, gpu=True) if r.key in cells]
    lines = ["| system | " + " | ".join(group.datasets) + " |", "|---|" + "---|" * len(group.datasets)]
    for name in group.systems:
        row = []
        for dataset in group.datasets:
            values = [cells[r.key][key] for r in runs if r.system == name and dataset in r.train
                      and cells[r.key].get(key)]
            row.append(fmt(values, scale=1.0, digits=digits))
        lines.append(f"| {matrix.systems[name].label} | " + " | ".join(row) + " |")
    return lines


def reduced_data(matrix: Matrix, curve: Curve, cells: Dict[str, Dict]) -> Dict[Tuple[str, str, float], Dict[int, float]]:
    """F1 by seed per (system, target corpus, fraction) of a reduced-data
    curve; a point with no finished run has an empty dict."""
    out = {}
    for system, target, fraction, run in matrix.reduced_points(curve, gpu=True):
        by_seed = out.setdefault((system, target, fraction), {})
        if run.key in cells and target in cells[run.key]["scores"]:
            by_seed[run.seed] = cells[run.key]["scores"][target]["f"]
    return out


def paired_differences(data: Dict[Tuple[str, str, float], Dict[int, float]], first: str,
                       second: str) -> Dict[Tuple[str, float], List[float]]:
    """F1 of ``second`` minus F1 of ``first`` per (target corpus, fraction) of
    ``reduced_data``, one difference per seed that both have run."""
    return {(target, fraction): paired(ours, data.get((second, target, fraction), {}))
            for (system, target, fraction), ours in data.items() if system == first and ours}


def reduced_table(matrix: Matrix, curve: Curve, data, differences=None) -> List[str]:
    """One row per (corpus, fraction); with ``differences`` (two systems), a
    last column of the second's F1 minus the first's, paired by seed."""
    header = [matrix.systems[s].label for s in curve.systems]
    if differences is not None:
        header.append(f"{curve.systems[1]} − {curve.systems[0]}, same seed")
    lines = ["| corpus | share of training sentences | " + " | ".join(header) + " |",
             "|---|---|" + "---|" * len(header)]
    for dataset in curve.datasets:
        for fraction in sorted(set(curve.fractions), reverse=True):
            row = [fmt(list(data.get((s, dataset, fraction), {}).values())) for s in curve.systems]
            if differences is not None:
                row.append(fmt_paired(differences.get((dataset, fraction), [])))
            lines.append(f"| {dataset} | {100 * fraction:g}% | " + " | ".join(row) + " |")
    return lines


def reduced_section(matrix: Matrix, curve: Curve, cells: Dict[str, Dict], png: Optional[Path]) -> List[str]:
    """A reduced-data curve's heading, table and (with ``png``) plot."""
    data = reduced_data(matrix, curve, cells)
    auxiliaries = {tuple(a) for a in curve.aux.values() if a}
    if not auxiliaries:
        aux = "no auxiliary corpora"
    elif len(auxiliaries) == 1 and set(curve.aux) == set(curve.datasets):
        aux = f"the multi-task model also trains on the whole of: {', '.join(next(iter(auxiliaries)))}"
    else:
        aux = ("the multi-task model trains each target with the whole of its auxiliary corpus ("
               + "; ".join(f"{d} with {', '.join(a)}" for d, a in curve.aux.items() if a) + ")")
    lines = [f"## {curve.name}", "",
             "Share of the target corpus's training sentences kept (drawn once with seed 0, the same "
             f"for every training seed); {aux}. Test F1 on the target corpus:", ""]
    systems = curve.systems
    differences = paired_differences(data, *systems) if len(systems) == 2 else None
    lines += reduced_table(matrix, curve, data, differences) + [""]
    if differences is not None:
        lines += [f"The last column is {systems[1]}'s F1 minus {systems[0]}'s, each seed's pair trained on the "
                  f"same sentences: {PAIRED}", ""]
    if png is not None and any(data.values()):
        from .plots import reduced_plot

        reduced_plot(png, curve.datasets, [(s, matrix.systems[s].label) for s in systems],
                     sorted(set(curve.fractions)), data)
        lines += [f"![{curve.name}]({png.name})", ""]
    return lines


def vectors_builds(cells: Dict[str, Dict]) -> List[str]:
    """A sentence naming the vectors tables the cells read, build by build
    (width x rows, the words of text it was trained on, its sha256 where the
    cell recorded one), with how many cells read each; none without vectors."""
    builds: Dict[Tuple, int] = {}
    for cell in cells.values():
        vectors = (cell.get("settings") or {}).get("vectors")
        if isinstance(vectors, dict):
            trained = vectors.get("settings", {})
            key = (trained.get("dim"), trained.get("bucket"), vectors.get("words"), vectors.get("sha256"))
            builds[key] = builds.get(key, 0) + 1
    if not builds:
        return []

    def build(key, count):
        dim, rows, words, sha = key
        digest = f", sha256 {sha[:12]}" if sha else ""
        return f"{dim} x {rows:,} from {words:,} words of text{digest}: {count} cell{'s' if count > 1 else ''}"

    ordered = sorted(builds.items(), key=lambda item: (-item[1], str(item[0])))
    return [
        "Vectors tables read (floret, as each cell recorded it; a floret build has no seed, so two builds of "
        "the same settings differ, and cells of different builds are compared as they are): "
        + "; ".join(build(key, count) for key, count in ordered) + ".",
        "",
    ]


def render(matrix: Matrix, results: Path, command: str, plots: bool = True,
           cells: Dict[str, Dict] = None) -> str:
    """The markdown results doc; PNG plots are written beside the cells.
    cells: the records to report (default: every one under results/cells)."""
    from .speed import markdown as speed_markdown

    results = Path(results)
    cells = load_cells(results) if cells is None else cells
    if not cells:
        return f"# Benchmark `{matrix.name}`\n\nNo finished runs under {results}/cells yet.\n"
    any_cell = next(iter(cells.values()))
    dates = sorted({c["date"] for c in cells.values()})
    devices = sorted({c["device"] for c in cells.values()})
    machines = sorted({c["machine"] for c in cells.values()})
    v = any_cell["versions"]
    lines = [
        f"# Benchmark results: matrix `{matrix.name}`",
        "",
        "Generated by the benchmark harness; to rerun from scratch, delete the cells and run:",
        "",
        f"    {command}",
        "",
        f"Each run trains for {matrix.steps} steps (`spacy train`, the system's config from `configs/`, "
        f"seeds {', '.join(map(str, matrix.seeds))}) and is scored on the test sets of the corpora it "
        "was trained on: seqeval strict entity-level F1 (IOB2, micro), shown as mean ± sample std "
        "(number of seeds). Rows in *italics* are published figures of other systems, not ours. "
        f"Per-run records (scores per type, dev curve, seconds, versions): `{results}/cells/`.",
        "",
        f"Runs dated {' to '.join([dates[0], dates[-1]] if len(dates) > 1 else dates)}; machine: "
        f"{'; '.join(machines)}; device: {', '.join(devices)}; Python {v.get('python')}, spaCy {v.get('spacy')}, "
        f"Thinc {v.get('thinc')}, torch {v.get('torch')}.",
        "",
    ] + vectors_builds(cells)
    for name in matrix.budgets:
        users = [s for s in matrix.systems.values() if s.budget == name]
        if users:
            budget = matrix.budget(users[0].name)
            length = (f"at most {budget['max_steps']} steps, stopping when dev F1 has not improved for "
                      f"{budget['patience']} steps" if budget["patience"] else f"{budget['max_steps']} steps")
            lines += [f"Budget `{name}` ({'; '.join(s.label for s in users)}): {length} (dev scored every "
                      f"{budget['eval_frequency']} steps on {budget['dev_limit'] or 'all'} dev docs); the model "
                      "with the best dev F1 is scored.", ""]
    figures = []
    for i, group in enumerate(matrix.groups):
        table, by_seeds, spans_only = accuracy_table(matrix, cells, group)
        lines += [f"## {group.name}", ""]
        if group.aux:
            pairs = "; ".join(f"{d} with {', '.join(aux)}" for d, aux in group.aux.items())
            lines += [f"Multi-task systems train each corpus with its auxiliary corpora ({pairs}) and are scored on "
                      "the corpus's own test set.", ""]
        dev_seeds = dev_by_seeds(matrix, cells, group)
        lines += ["Test F1:", ""] + table + untyped_line(spans_only)
        lines += anchor_lines(matrix, group, by_seeds, dev_seeds)
        if group.baseline:
            lines += ["", f"Test F1 minus {matrix.systems[group.baseline].label}'s, paired by seed (the two runs of a "
                      f"pair share the seed and the training data): {PAIRED}", ""]
            lines += baseline_table(matrix, group, by_seeds)
            lines += ["", f"Dev F1 minus {matrix.systems[group.baseline].label}'s, paired by seed, the same way: what a "
                      "choice between them rests on (the selected models on the whole dev split; cells made before "
                      "the harness scored dev have none unless `benchmark dev-scores` could add it).", ""]
            lines += baseline_table(matrix, group, dev_seeds)
        lines += ["", "Training seconds per epoch (mean ± std (number of seeds)): the training loop's whole seconds, dev "
                  "evaluations included, over the epochs its words make:", ""]
        lines += cell_table(matrix, cells, group) + [""]
        if any(matrix.systems[name].budget for name in group.systems):
            lines += ["Epochs trained (to the last dev evaluation; a system with a patience budget stops when "
                      "its dev F1 has not improved for that many steps):", ""]
            lines += cell_table(matrix, cells, group, "epochs", digits=1) + [""]
        if plots and any(by_seeds.values()):
            from .plots import accuracy_plot

            png = results / f"accuracy-{i + 1}.png"
            accuracy_plot(png, group.name, [matrix.systems[s].label for s in group.systems], group.datasets,
                          [[list(by_seeds.get((s, d), {}).values()) for d in group.datasets] for s in group.systems])
            lines += [f"![{group.name}]({png.name})", ""]
            figures.append(png)
    for i, curve in enumerate(matrix.reduced):
        # the first curve's plot keeps the name it had when a matrix had one curve
        png = results / ("reduced-data.png" if i == 0 else f"reduced-data-{i + 1}.png")
        lines += reduced_section(matrix, curve, cells, png if plots else None)
    speed_file = results / "speed.json"
    if speed_file.exists():
        speed = json.loads(speed_file.read_text())
        body = speed_markdown(speed, None).split("\n")
        lines += ["## Speed and memory", ""] + body[2:]
        if plots:
            from .plots import speed_plot

            png = results / "speed.png"
            speed_plot(png, speed)
            lines += [f"![speed]({png.name})", ""]
    return "\n".join(lines).rstrip() + "\n"
