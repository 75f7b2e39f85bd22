"""Cost-weighted decisions (autotiny.decisions): the cost matrix a task declares, the rule tuned on
validation data, the figures it is judged by, and one-line errors for bad cost settings."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from autotiny.config import Costs, compose
from autotiny.decisions import DecisionRule, cost_matrix, decision_metrics, expected_cost, tune
from autotiny.errors import ConfigError

CLASSES = ["stop", "go", "_unknown_"]


def test_default_cost_is_the_error_count():
    c = cost_matrix(Costs(), CLASSES)
    assert np.array_equal(c, 1 - np.eye(3))
    rule = DecisionRule(np.ones(3), c)
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    assert list(rule.decide(probs)) == [0, 2]  # plain argmax


def test_miss_and_false_alarm_costs_add_up_per_confusion():
    c = cost_matrix(Costs(miss={"stop": 20}, false_alarm={"go": 3}), CLASSES)
    assert c[0, 1] == 20 + 3  # a missed stop heard as go: both
    assert c[0, 2] == 20  # a missed stop filed as unknown
    assert c[2, 1] == 1 + 3  # unknown heard as go: a false go
    assert c[1, 2] == 1 and np.diag(c).sum() == 0


@pytest.mark.parametrize("costs, message", [
    (Costs(miss={"stp": 20}), "task.costs.miss.stp: unknown class; classes are stop, go, _unknown_"),
    (Costs(false_alarm={"go": -1}), r"task.costs.false_alarm.go=-1.0: a cost must be finite and >= 0"),
    (Costs(matrix=[[0, 1], [1, 0]]), "task.costs.matrix is 2x2: it must be 3x3"),
    (Costs(matrix=[[0, 1, 1], [1, 0, -2], [1, 1, 0]]), "costs must be finite and >= 0"),
    (Costs(matrix=[[1, 1, 1], [1, 0, 1], [1, 1, 0]]), "the diagonal .* must be 0"),
    (Costs(miss={"stop": 0, "go": 0, "_unknown_": 0}), "every error costs 0"),
])
def test_bad_costs_are_one_line_errors(costs, message):
    with pytest.raises(ConfigError, match=message) as e:
        cost_matrix(costs, CLASSES)
    assert "\n" not in str(e.value)


def test_bad_costs_are_refused_by_the_config_and_the_cli():
    with pytest.raises(ConfigError, match="task.costs.miss.stp: unknown class"):
        compose(["task.costs.miss={stp:20}"])
    cfg = compose(["task.costs.miss={stop:20}", "search.objectives=[cost,latency]"])
    assert cfg.task.costs.miss == {"stop": 20.0}
    p = subprocess.run([sys.executable, "-m", "autotiny.cli", "search", "task.costs.matrix=[[0,1],[1,0]]"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "task.costs.matrix is 2x2: it must be 12x12" in lines[0], p.stderr


def _draw(rng, n):
    """Three classes whose scores overlap: a weak model, so the decision rule matters."""
    labels = rng.integers(0, 3, n)
    logits = rng.normal(0, 1.0, (n, 3))
    logits[np.arange(n), labels] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probs, labels


def test_tuned_rule_lowers_the_cost_on_held_out_data_when_misses_are_dear():
    rng = np.random.default_rng(0)
    cost = cost_matrix(Costs(miss={"stop": 50}), CLASSES)
    (pv, yv), (pt, yt) = _draw(rng, 3000), _draw(rng, 3000)
    argmax = DecisionRule(np.ones(3), 1 - np.eye(3))
    tuned = tune(pv, yv, cost)
    assert expected_cost(cost, yv, tuned.decide(pv)) <= expected_cost(cost, yv, DecisionRule(np.ones(3), cost).decide(pv))
    before = decision_metrics(yt, argmax.decide(pt), cost, CLASSES, "test")
    after = decision_metrics(yt, tuned.decide(pt), cost, CLASSES, "test")
    assert after["test_cost_per_1000"] < 0.7 * before["test_cost_per_1000"]
    assert after["test_recall.stop"] > before["test_recall.stop"] + 0.2  # misses of stop are what cost
    assert after["test_false_alarm.stop"] > before["test_false_alarm.stop"]  # paid for with false stops
    assert after["test_decision_accuracy"] < before["test_decision_accuracy"]  # accuracy is not the goal


def test_decision_metrics_by_hand():
    cost = cost_matrix(Costs(miss={"stop": 10}), CLASSES)
    labels = np.array([0, 0, 1, 2])
    predicted = np.array([0, 2, 0, 2])  # stop ok, stop missed (->unknown), go heard as stop, unknown ok
    m = decision_metrics(labels, predicted, cost, CLASSES, "val")
    assert m["val_cost_per_1000"] == pytest.approx(1000 * (10 + 1) / 4)
    assert m["val_decision_accuracy"] == 0.5
    assert m["val_recall.stop"] == 0.5 and m["val_recall.go"] == 0.0 and m["val_recall._unknown_"] == 1.0
    assert m["val_false_alarm.stop"] == pytest.approx(1 / 2)  # one false stop among the 2 non-stop decisions
    assert m["val_false_alarm._unknown_"] == pytest.approx(1 / 3)
    f1_stop, f1_unknown = 2 * 0.5 * 0.5 / 1.0, 2 * 0.5 * 1.0 / 1.5
    assert m["val_macro_f1"] == pytest.approx((f1_stop + 0.0 + f1_unknown) / 3)


def test_the_chosen_candidate_follows_the_objective():
    from autotiny.measure import Figure
    from autotiny.results import best_of, pareto_front
    from autotiny.trial import TrialRecord

    def rec(n, acc, cost, latency):
        r = TrialRecord(number=n, metrics={"val_accuracy": acc, "val_cost_per_1000": cost})
        r.figures = {k: Figure(v, "", "emulated") for k, v in
                     (("flash_bytes", 1000), ("ram_bytes", 1000), ("latency_ms", latency))}
        return r

    accurate, cheap = rec(0, 0.90, 300.0, 10.0), rec(1, 0.85, 120.0, 10.0)
    assert best_of([accurate, cheap], ["accuracy", "flash"]) is accurate
    front = pareto_front([accurate, cheap], ["cost", "latency"])
    assert front == [cheap] and best_of(front, ["cost", "latency"]) is cheap
    assert best_of([accurate, cheap], ["cost", "latency"]) is cheap
