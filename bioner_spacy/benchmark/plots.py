"""PNG figures of the benchmark results (matplotlib, no display needed)."""
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from .stats import mean_std


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def accuracy_plot(path: Path, title: str, systems: Sequence[str], datasets: Sequence[str],
                  values: Sequence[Sequence[List[float]]]) -> None:
    """Grouped bars: test F1 per corpus (groups) per system (bars), mean with
    a ±std error bar; values[s][d] holds the seeds' F1."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(datasets) * max(1, len(systems)) / 2), 4))
    width = 0.8 / max(1, len(systems))
    for s, label in enumerate(systems):
        stats = [mean_std(v) for v in values[s]]
        xs = [d + (s - (len(systems) - 1) / 2) * width for d in range(len(datasets))]
        means = [100 * m if m is not None else 0 for m, _ in stats]
        errs = [100 * e if e is not None else 0 for _, e in stats]
        ax.bar(xs, means, width, yerr=errs, capsize=3, label=label)
    ax.set_xticks(range(len(datasets)))
    ax.set_xticklabels(datasets)
    ax.set_ylabel("test F1 (mean ± std over seeds)")
    ax.set_title(title)
    lows = [100 * mean_std(v)[0] for row in values for v in row if v]
    if lows:
        ax.set_ylim(max(0, min(lows) - 10), min(100, max(lows) + 5))
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def reduced_plot(path: Path, datasets: Sequence[str], systems: Sequence[Tuple[str, str]], fractions: Sequence[float],
                 data: Dict[Tuple[str, str, float], Dict[int, float]]) -> None:
    """One panel per corpus: test F1 against the share of training sentences
    (``data``: F1 by seed per (system, corpus, share), as report.reduced_data)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3.5), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for name, label in systems:
            points = [(f, mean_std(list(data.get((name, dataset, f), {}).values()))) for f in fractions]
            points = [(100 * f, 100 * m, 100 * e) for f, (m, e) in points if m is not None]
            if points:
                xs, ms, es = zip(*points)
                ax.errorbar(xs, ms, yerr=es, marker="o", capsize=3, label=label)
        ax.set_xscale("log")
        ax.set_xticks([100 * f for f in fractions])
        ax.set_xticklabels([f"{100 * f:g}%" for f in fractions])
        ax.set_title(dataset)
        ax.set_xlabel("training sentences kept")
        ax.set_ylabel("test F1")
    # the legend goes on the first panel that has points (a curve may be only partly run)
    drawn = [ax for ax in axes[0] if ax.get_legend_handles_labels()[0]]
    if drawn:
        drawn[0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def speed_plot(path: Path, speed: Dict) -> None:
    """Words/s and peak memory of each pipeline as ratios to the syntax pipeline."""
    plt = _pyplot()
    names = list(speed["speed"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, key, title in ((axes[0], "speed_ratio_to_syntax", "words/s, ratio to syntax only"),
                           (axes[1], "rss_ratio_to_syntax", "peak RSS, ratio to syntax only")):
        ax.barh(names, [speed["speed"][n][key] for n in names])
        ax.axvline(1.0, color="grey", linewidth=0.8)
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
