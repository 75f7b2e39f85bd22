"""search.repeats' arithmetic: mean and sample sd over the original run and its repeats, and the search
ranking by the mean so that one lucky seed does not win."""

import statistics

import pytest

from autotiny import repeats
from autotiny.measure import Figure
from autotiny.results import best_of, pareto_csv
from autotiny.trial import TrialRecord


def _rec(number: int, acc: float, flash: float = 1000.0) -> TrialRecord:
    return TrialRecord(number=number, state="complete", feasible=True, seed=number,
                       metrics={"val_accuracy": acc, "val_accuracy_field": acc, "test_accuracy_field": acc - 0.1},
                       figures={"flash_bytes": Figure(flash, "B", "file"), "ram_bytes": Figure(500.0, "B", "file"),
                                "latency_ms": Figure(1.0, "ms", "estimated"), "energy_uj": Figure(1.0, "uJ", "estimated")})


def test_a_lucky_seed_does_not_win():
    lucky, steady = _rec(0, 0.90), _rec(1, 0.85)
    assert best_of([lucky, steady], ["accuracy"]) is lucky  # one seed each: the lucky one leads
    stored = {"0": {"100003": {"val_accuracy_field": 0.70, "test_accuracy_field": 0.6},
                    "200003": {"val_accuracy_field": 0.74, "test_accuracy_field": 0.6}},
              "1": {"100004": {"val_accuracy_field": 0.84, "test_accuracy_field": 0.7},
                    "200004": {"error": "WorkerDied: ..."}}}  # a failed repeat is left out of the mean
    repeats.summarise([lucky, steady], stored)
    assert lucky.metrics["n_seeds"] == 3 and steady.metrics["n_seeds"] == 2
    assert lucky.metrics["val_accuracy_field_mean"] == pytest.approx(statistics.fmean([0.90, 0.70, 0.74]))
    assert steady.metrics["val_accuracy_field_std"] == pytest.approx(statistics.stdev([0.85, 0.84]))
    assert best_of([lucky, steady], ["accuracy"]) is steady
    head = pareto_csv([lucky, steady]).splitlines()[0]
    assert "n_seeds,val_accuracy_field_mean,val_accuracy_field_std" in head
    rows = repeats.table([steady, lucky])
    assert rows[0][:2] == ["1", "2"] and rows[0][2] == "0.845 ± 0.007"


def test_seeds_are_fresh_and_summaries_only_where_repeated():
    rec = _rec(4, 0.8)
    assert repeats.repeat_seeds(rec, 2) == [4 + repeats.SEED_STRIDE, 4 + 2 * repeats.SEED_STRIDE]
    repeats.summarise([rec], {})
    assert "n_seeds" not in rec.metrics and "n_seeds" not in pareto_csv([rec])
