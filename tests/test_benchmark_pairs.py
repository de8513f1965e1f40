"""`benchmark pairs`: the seed-by-seed differences behind results.md's means,
on hand-made cells."""
import json

from typer.testing import CliRunner

from bioner_spacy.benchmark.pairs import format_pairs, seed_pairs
from bioner_spacy.cli import app


def cell(system, seed, scores, dev=None, fractions=None, curve=None, seconds=100.0, train=None):
    return {"system": system, "seed": seed, "fractions": fractions or {}, "train": train or sorted(scores),
            "scores": {corpus: {"f": f} for corpus, f in scores.items()},
            "dev_scores": None if dev is None else {corpus: {"f": f} for corpus, f in dev.items()},
            "dev_curve": curve, "train_seconds": seconds}


CELLS = [
    # a multi-corpus baseline counts for each corpus it scored
    cell("mtm", 0, {"A": 0.80, "B": 0.70}, dev={"A": 0.82, "B": 0.71}),
    cell("mtm", 1, {"A": 0.79, "B": 0.72}),
    cell("mtm", 0, {"A": 0.60}, fractions={"A": 0.5}),
    cell("ft", 0, {"A": 0.81}, dev={"A": 0.83}, curve=[{"step": 0, "score": 0.5}, {"step": 250, "score": 0.9},
                                                        {"step": 500, "score": 0.8}], seconds=61.4),
    cell("ft", 0, {"B": 0.69}, dev={"B": 0.72}, curve=[{"step": 0, "score": 0.7}]),
    # no dev scores in the baseline's seed-1 cell: a test difference only
    cell("ft", 1, {"A": 0.80}, dev={"A": 0.9}),
    # its share has a baseline cell of the same share only
    cell("ft", 0, {"A": 0.65}, fractions={"A": 0.5}),
    # no baseline cell of seed 2
    cell("ft", 2, {"A": 0.99}),
]


def test_each_cell_meets_the_baseline_of_its_seed_share_and_corpus():
    pairs, ambiguous = seed_pairs(CELLS, "ft", "mtm")
    assert ambiguous == 0
    assert [(p.corpus, p.seed) for p in pairs] == [("A", 0), ("B", 0), ("A", 1), ("A", 0)]
    assert [round(p.test, 6) for p in pairs] == [1.0, -1.0, 1.0, 5.0]
    assert [None if p.dev is None else round(p.dev, 6) for p in pairs] == [1.0, 1.0, None, None]
    assert [p.best_step for p in pairs] == [250, 0, None, None]
    assert pairs[0].seconds == 61.4


def test_the_summary_counts_pairs_ahead_on_test_and_on_dev():
    text = format_pairs(seed_pairs(CELLS, "ft", "mtm")[0], "ft", "mtm")
    assert text.splitlines()[0] == "A               seed 0: test +1.00, dev +1.00; best dev at step 250, 61 s"
    assert text.splitlines()[2] == "A               seed 1: test +1.00, no dev scores; best dev at step None, 100 s"
    assert text.splitlines()[-1] == ("4 pairs (ft - mtm): ahead on test in 3, on dev in 2 (of 2 with dev scores); "
                                     "best dev step: {0: 1, 250: 1, None: 2}")


def test_no_common_cell_says_so():
    assert format_pairs(seed_pairs(CELLS, "ft", "absent")[0], "ft", "absent") == \
        "no pairs: no corpus and seed has a cell of both ft and absent"


def test_the_command_reads_a_cells_folder(tmp_path):
    for i, c in enumerate(CELLS):
        (tmp_path / f"{i}.json").write_text(json.dumps(c))
    result = CliRunner().invoke(app, ["benchmark", "pairs", "ft", "mtm", "--cells", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("4 pairs (ft - mtm): ahead on test in 3")


def test_a_missing_cells_folder_is_named(tmp_path):
    result = CliRunner().invoke(app, ["benchmark", "pairs", "ft", "mtm", "--cells", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert f"no cells folder: {tmp_path / 'missing'}" in result.output


def test_of_several_baseline_cells_on_a_corpus_the_one_trained_alike_is_the_pair():
    cells = [cell("mtm", 0, {"A": 0.70, "B": 0.60}, train=["A", "B"]),
             cell("mtm", 0, {"A": 0.75, "C": 0.50}, train=["A", "C"]),
             cell("ft", 0, {"A": 0.80, "C": 0.55}, train=["A", "C"]),
             cell("ft", 0, {"A": 0.90}, train=["A"])]
    pairs, ambiguous = seed_pairs(cells, "ft", "mtm")
    assert [(p.corpus, p.train, round(p.test, 6)) for p in pairs] == [("A", ("A", "C"), 5.0), ("C", ("A", "C"), 5.0)]
    assert ambiguous == 1  # ft on A alone: either mtm cell could be meant
    text = format_pairs(pairs, "ft", "mtm", ambiguous)
    assert text.splitlines()[0].startswith("A               seed 0 (trained on A+C): test +5.00")
    assert text.endswith("; 1 score(s) of ft left unpaired: several mtm cells trained on other corpora score "
                         "the same corpus and seed")
