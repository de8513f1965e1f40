"""A benchmark matrix (``configs/benchmark.yml``) as the list of training runs
it needs.

A run is one ``spacy train``: a system, the corpora it trains on, a seed and
the share of each corpus it keeps. Runs are identified by those alone, so a
run that two parts of the matrix need (the whole-data point of a
reduced-data curve and the accuracy table, say) is trained once.
"""
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from .anchors import ANCHORS, DEFAULT_ANCHORS
from .corpora import ALL_DATASETS

CORPORA_KINDS = ("file", "one", "all")
BUDGET_KEYS = ("max_steps", "patience", "eval_frequency", "dev_limit")


@dataclass(frozen=True)
class System:
    name: str
    config: str
    overrides: Tuple[Tuple[str, Any], ...] = ()
    corpora: str = "file"
    gpu: bool = False
    label: str = ""
    # a named budget of the matrix (its `budgets`); "" = the matrix's fixed steps
    budget: str = ""
    # a system that trains nothing: it scores the models of system `model_of` (config, overrides,
    # corpora and budget are that system's) with `evaluate`'s extra arguments to `bioner-spacy evaluate`
    model_of: str = ""
    evaluate: Tuple[str, ...] = ()
    # a system that trains on from another's trained model (fine-tuning): every component of its
    # pipeline is sourced from the kept model of system `starts_from`'s run of the same seed (and
    # shares) that trained on this run's corpora among others, then trained on this run's corpora
    starts_from: str = ""


@dataclass(frozen=True, order=True)
class Run:
    system: str
    train: Tuple[str, ...]
    seed: int
    fractions: Tuple[Tuple[str, float], ...] = ()

    @property
    def key(self) -> str:
        """A file-name-safe identifier of the run."""
        corpora = "+".join(self.train)
        reduced = "".join(f"_{name}@{fraction:g}" for name, fraction in self.fractions)
        return f"{self.system}__{corpora}{reduced}__seed{self.seed}"

    def fraction_of(self, dataset: str) -> float:
        return dict(self.fractions).get(dataset, 1.0)


class WithAuxiliaries:
    """What a group and a reduced-data curve share: target corpora
    (``datasets``), each with its auxiliary corpora (``aux``)."""
    datasets: List[str]
    aux: Dict[str, List[str]]

    def corpora(self) -> List[str]:
        """The targets and their auxiliaries."""
        return list(self.datasets) + [a for aux in self.aux.values() for a in aux]

    def trained_with(self, target: str) -> Tuple[str, ...]:
        """The corpora a multi-task system trains on for ``target``."""
        return tuple(sorted({target, *self.aux.get(target, [])}))


@dataclass
class Group(WithAuxiliaries):
    name: str
    systems: List[str]
    datasets: List[str]
    # the system the others are compared with, seed by seed (optional)
    baseline: Optional[str] = None
    # auxiliary corpora per corpus of the group (seed 001's pairs): a multi-task
    # system ("all") trains each corpus with its own auxiliaries, one run per
    # corpus, instead of one run over all the group's corpora
    aux: Dict[str, List[str]] = field(default_factory=dict)
    # the published rows shown beside ours (labels of anchors.ANCHORS)
    anchors: Tuple[str, ...] = DEFAULT_ANCHORS


@dataclass
class Curve(WithAuxiliaries):
    """A reduced-data comparison: each system trained on a share of each
    target corpus's training sentences. A multi-task system ("all") trains the
    target (reduced) with the whole of the target's auxiliary corpora."""
    name: str
    systems: List[str]
    datasets: List[str]
    fractions: List[float]
    # auxiliary corpora per target corpus
    aux: Dict[str, List[str]] = field(default_factory=dict)


@dataclass
class Matrix:
    name: str
    systems: Dict[str, System]
    steps: int
    eval_frequency: int
    seeds: List[int]
    dev_limit: int = 0
    dev_limit_per_corpus: int = 300
    convert_limit: int = 0
    groups: List[Group] = field(default_factory=list)
    reduced: List[Curve] = field(default_factory=list)
    speed: Optional[Dict[str, Any]] = None
    # named budgets a system may train with instead of the fixed steps:
    # {name: {max_steps, patience, eval_frequency, dev_limit}} (see BUDGET_KEYS);
    # dev_limit applies to single-corpus systems (multi-corpus ones keep dev_limit_per_corpus)
    budgets: Dict[str, Dict[str, int]] = field(default_factory=dict)

    def budget(self, system: str) -> Dict[str, int]:
        """The system's training budget: max_steps (a cap when patience > 0),
        patience (steps without a better dev score before stopping; 0 =
        train all max_steps), eval_frequency, and dev_limit (dev docs
        scored for model selection; 0 = the whole dev set)."""
        fixed = {"max_steps": self.steps, "patience": 0, "eval_frequency": self.eval_frequency,
                 "dev_limit": self.dev_limit}
        name = self.systems[system].budget
        return {**fixed, **self.budgets[name]} if name else fixed

    def datasets(self) -> List[str]:
        """Every corpus the matrix reads, in a stable order."""
        names = {d for g in self.groups for d in g.corpora()} | {d for c in self.reduced for d in c.corpora()}
        if self.speed:
            names.add(self.speed["dataset"])
        return [d for d in ALL_DATASETS if d in names]

    def group_runs(self, group: Group, gpu: bool) -> List[Run]:
        runs = []
        for name in group.systems:
            system = self.systems[name]
            if system.gpu and not gpu:
                continue
            for seed in self.seeds:
                if system.corpora == "all" and group.aux:
                    runs.extend(Run(name, group.trained_with(d), seed) for d in group.datasets)
                elif system.corpora == "all":
                    runs.append(Run(name, tuple(sorted(group.datasets)), seed))
                else:
                    runs.extend(Run(name, (d,), seed) for d in group.datasets)
        return runs

    def reduced_points(self, curve: Curve, gpu: bool) -> List[Tuple[str, str, float, Run]]:
        """(system, target corpus, share of its training sentences, run) of
        every point of a reduced-data curve."""
        points = []
        for name in curve.systems:
            system = self.systems[name]
            if system.gpu and not gpu:
                continue
            for target in curve.datasets:
                train = curve.trained_with(target) if system.corpora == "all" else (target,)
                for fraction in curve.fractions:
                    fractions = ((target, fraction),) if fraction < 1 else ()
                    points.extend((name, target, fraction, Run(name, train, seed, fractions)) for seed in self.seeds)
        return points

    @cached_property
    def every_run(self) -> Tuple[Run, ...]:
        """Every run, GPU-only systems' too, listed once (the matrix is not
        changed after it loads)."""
        return tuple(self.runs(gpu=True))

    def start_run(self, run: Run) -> Run:
        """The run whose trained model ``run`` starts from (its system's
        ``starts_from``): the matrix's one run of that system with the same
        seed and shares whose corpora include all of ``run``'s. A ValueError
        when there is none, or more than one to choose from."""
        source = self.systems[run.system].starts_from
        found = sorted({r for r in self.every_run if r.system == source and r.seed == run.seed
                        and r.fractions == run.fractions and set(run.train) <= set(r.train)})
        if len(found) != 1:
            which = "no run" if not found else f"{len(found)} runs ({', '.join(r.key for r in found)})"
            raise ValueError(f"{run.key} starts from the model of system {source} trained on {', '.join(run.train)} "
                             f"with seed {run.seed}: matrix {self.name!r} has {which} of it; a group must run {source} "
                             "on those corpora, once")
        return found[0]

    def runs(self, gpu: bool = False) -> List[Run]:
        """Every run, each once, in matrix order."""
        seen, out = set(), []
        reduced = [run for c in self.reduced for *_, run in self.reduced_points(c, gpu)]
        for run in [r for g in self.groups for r in self.group_runs(g, gpu)] + reduced:
            if run not in seen:
                seen.add(run)
                out.append(run)
        return out


def fail(path: Path, message: str):
    raise ValueError(f"{path}: {message}")


def check_budgets(path: Path, matrix: str, budgets: Dict[str, Dict], eval_frequency: int) -> Dict[str, Dict[str, int]]:
    """The matrix's named budgets, checked: known keys, whole numbers >= 0,
    max_steps a positive multiple of a positive eval_frequency."""
    checked = {}
    for name, budget in budgets.items():
        unknown = set(budget) - set(BUDGET_KEYS)
        if unknown or "max_steps" not in budget:
            fail(path, f"matrix {matrix!r}, budget {name!r}: needs max_steps, may have {', '.join(BUDGET_KEYS)}; "
                       f"got {', '.join(sorted(budget))}")
        if not all(isinstance(v, int) and v >= 0 for v in budget.values()):
            fail(path, f"matrix {matrix!r}, budget {name!r}: values must be whole numbers >= 0, got {budget}")
        checked[name] = dict(budget)
        every = budget.get("eval_frequency", eval_frequency)
        if every <= 0 or budget["max_steps"] <= 0 or budget["max_steps"] % every:
            fail(path, f"matrix {matrix!r}, budget {name!r}: max_steps ({budget['max_steps']}) must be a positive "
                       f"multiple of eval_frequency ({every})")
    return checked


def per_corpus(aux) -> Dict[str, List[str]]:
    """{corpus: [auxiliary, ...]} from YAML's {corpus: name or [names]}."""
    return {d: [a] if isinstance(a, str) else list(a) for d, a in (aux or {}).items()}


def load_curves(path: Path, matrix: str, reduced) -> List[Curve]:
    """The matrix's reduced-data curves: ``reduced`` is one curve (a mapping)
    or a list of named ones. A curve's aux is a list (every target trains with
    the same auxiliaries) or a mapping from target to its own."""
    specs = [] if reduced is None else [reduced] if isinstance(reduced, dict) else reduced
    if not isinstance(specs, list) or not all(isinstance(c, dict) for c in specs):
        fail(path, f"matrix {matrix!r}: reduced must be a curve (a mapping) or a list of curves, got {reduced!r}")
    curves = []
    for i, c in enumerate(specs):
        missing = [k for k in ("systems", "datasets", "fractions") if k not in c]
        if missing:
            fail(path, f"matrix {matrix!r}, reduced-data curve {i + 1}: needs {', '.join(missing)}")
        aux = c.get("aux") or []
        aux = per_corpus(aux) if isinstance(aux, dict) else {d: list(aux) for d in c["datasets"]}
        curve = Curve(c.get("name", "Reduced training data"), list(c["systems"]), list(c["datasets"]),
                      [float(f) for f in c["fractions"]], aux)
        for d in curve.aux:
            if d not in curve.datasets:
                fail(path, f"matrix {matrix!r}, reduced-data curve {curve.name!r}: aux names {d!r}, which is not one "
                           f"of its datasets ({', '.join(curve.datasets)})")
        for f in curve.fractions:
            if not 0 < f <= 1:
                fail(path, f"matrix {matrix!r}: fractions must be in (0, 1], got {f:g}")
        curves.append(curve)
    return curves


def scoring_system(path: Path, name: str, spec: Dict, specs: Dict) -> System:
    """A system that scores another's trained models in another way (its
    ``evaluate`` arguments): everything that makes the model is the other's."""
    source = spec["model_of"]
    if source not in specs:
        fail(path, f"system {name!r}: model_of names {source!r}, which is not defined")
    if specs[source].get("model_of") is not None:
        fail(path, f"system {name!r}: model_of names {source!r}, which trains nothing itself (it scores {specs[source]['model_of']!r}'s models)")
    extra = set(spec) - {"model_of", "evaluate", "label"}
    if extra:
        fail(path, f"system {name!r} scores {source!r}'s models: it cannot set {', '.join(sorted(extra))} (they are {source!r}'s)")
    evaluate = spec.get("evaluate") or []
    if not isinstance(evaluate, list) or not evaluate or not all(isinstance(a, (str, int)) for a in evaluate):
        fail(path, f"system {name!r}: evaluate must be a non-empty list of `bioner-spacy evaluate` arguments, got {evaluate!r}")
    s = specs[source]
    if "config" not in s:
        fail(path, f"system {source!r} has no config")
    return System(name, s["config"], tuple(sorted((s.get("overrides") or {}).items())), s.get("corpora", "file"),
                  bool(s.get("gpu", False)), spec.get("label", name), s.get("budget", ""), source,
                  tuple(str(a) for a in evaluate))


def load_matrix(path: Path, name: str) -> Matrix:
    """The matrix ``name`` of a benchmark YAML file, checked: unknown systems,
    datasets, corpora kinds or fractions raise a ValueError naming the file."""
    path = Path(path)
    spec = yaml.safe_load(path.read_text())
    systems = {}
    specs = spec.get("systems") or {}
    for sys_name, s in specs.items():
        if s.get("model_of") is not None:
            systems[sys_name] = scoring_system(path, sys_name, s, specs)
            continue
        if "config" not in s:
            fail(path, f"system {sys_name!r} has no config")
        if s.get("corpora", "file") not in CORPORA_KINDS:
            fail(path, f"system {sys_name!r}: corpora must be one of {CORPORA_KINDS}, got {s.get('corpora')!r}")
        systems[sys_name] = System(sys_name, s["config"], tuple(sorted((s.get("overrides") or {}).items())),
                                   s.get("corpora", "file"), bool(s.get("gpu", False)), s.get("label", sys_name),
                                   s.get("budget", ""), starts_from=s.get("starts_from") or "")
    for sys_name, system in systems.items():
        start = system.starts_from
        if not start:
            continue
        if start not in systems or systems[start].model_of or systems[start].starts_from:
            why = ("which is not defined" if start not in systems else
                   "which trains nothing itself" if systems[start].model_of else "which starts from another itself")
            fail(path, f"system {sys_name!r}: starts_from names {start!r}, {why}")
        if systems[start].gpu and not system.gpu:
            fail(path, f"system {sys_name!r}: starts_from names {start!r}, which trains on a GPU only: mark "
                       f"{sys_name!r} gpu: true too")
        sourced = [key for key, _ in system.overrides if key.startswith("components.")]
        if sourced:
            fail(path, f"system {sys_name!r} starts from the model of {start!r}, whose components it takes whole: it cannot "
                       f"set {', '.join(sourced)}")
    matrices = spec.get("matrices") or {}
    if name not in matrices:
        fail(path, f"no matrix {name!r} (it has: {', '.join(matrices)})")
    m = matrices[name]
    groups = [Group(g["name"], list(g["systems"]), list(g["datasets"]), g.get("baseline"), per_corpus(g.get("aux")),
                    tuple(DEFAULT_ANCHORS if g.get("anchors") is None else g["anchors"]))
              for g in m.get("groups", [])]
    for g in groups:
        unknown = [a for a in g.anchors if a not in ANCHORS]
        if unknown:
            fail(path, f"group {g.name!r}: no published figures named {', '.join(map(repr, unknown))} "
                       f"(known: {'; '.join(ANCHORS)})")
        if g.baseline is not None and g.baseline not in g.systems:
            fail(path, f"group {g.name!r}: baseline {g.baseline!r} is not one of its systems ({', '.join(g.systems)})")
        for d in g.aux:
            if d not in g.datasets:
                fail(path, f"group {g.name!r}: aux names {d!r}, which is not one of its datasets ({', '.join(g.datasets)})")
    eval_frequency = int(m.get("eval_frequency", m["steps"]))
    matrix = Matrix(name, systems, int(m["steps"]), eval_frequency, list(m["seeds"]),
                    int(m.get("dev_limit", 0)), int(m.get("dev_limit_per_corpus", 300)), int(m.get("convert_limit", 0)),
                    groups, load_curves(path, name, m.get("reduced")), m.get("speed"),
                    check_budgets(path, name, m.get("budgets") or {}, eval_frequency))
    used = [s for g in groups for s in g.systems] + [s for c in matrix.reduced for s in c.systems]
    used += list((matrix.speed or {}).get("systems", []))
    for s in used:
        if s not in systems:
            fail(path, f"matrix {name!r} uses system {s!r}, which is not defined (systems: {', '.join(systems)})")
        # budgets belong to a matrix: only the systems it runs must find theirs in it
        if systems[s].budget and systems[s].budget not in matrix.budgets:
            fail(path, f"system {s!r} uses budget {systems[s].budget!r}, which matrix {name!r} does not define "
                       f"(budgets: {', '.join(matrix.budgets) or 'none'})")
    for d in matrix.datasets():
        if d not in ALL_DATASETS:
            fail(path, f"unknown dataset {d!r}")
    for d in [d for g in groups for d in g.corpora()] + [d for c in matrix.reduced for d in c.corpora()]:
        if d not in ALL_DATASETS:
            fail(path, f"matrix {name!r}: unknown dataset {d!r} (known: {', '.join(ALL_DATASETS)})")
    for run in matrix.every_run:
        if systems[run.system].starts_from:
            try:
                matrix.start_run(run)
            except ValueError as err:
                fail(path, str(err))
    if matrix.steps % matrix.eval_frequency:
        fail(path, f"matrix {name!r}: steps ({matrix.steps}) must be a multiple of eval_frequency ({matrix.eval_frequency})")
    return matrix
