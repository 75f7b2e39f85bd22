"""Cost-weighted decisions (autotiny.decisions): the cost matrix a task declares, the rule tuned on
validation data, the figures it is judged by, and one-line errors for bad cost settings."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from autotiny.config import Costs, compose
from autotiny.decisions import DecisionRule, cost_matrix, decision_metrics, descend, expected_cost, folds_of, tune
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


def _draw(rng, n, bias=(0.0, 0.0, 0.0)):
    """Three classes whose scores overlap: a weak model, so the decision rule matters. Its softmax is
    the true posterior (unit-variance logits, true class +1) unless `bias` shifts the logits."""
    labels = rng.integers(0, len(bias), n)
    logits = rng.normal(0, 1.0, (n, len(bias))) + np.asarray(bias)
    logits[np.arange(n), labels] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probs, labels


def test_calibrated_model_keeps_the_bayes_rule_although_descent_would_fit_validation_noise():
    cost = cost_matrix(Costs(), CLASSES)
    moved = kept = 0
    for seed in range(10):
        pv, yv = _draw(np.random.default_rng(seed), 300)
        moved += bool((descend(pv, yv, cost) != 1).any())
        rule = tune(pv, yv, cost)
        kept += bool((rule.weights != 1).any())
        assert rule.held_out is not None and set(rule.to_dict(CLASSES)["held_out_cost_per_1000"]) == {"tuned", "bayes"}
    assert moved >= 8  # on 300 clips the descent always finds some "improvement" ...
    assert kept == 0  # ... that cross-validation does not believe: argmax is already the best rule here


def test_miscalibrated_model_gets_weights_that_pay_on_held_out_data():
    cost = cost_matrix(Costs(), CLASSES)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        (pv, yv), (pt, yt) = _draw(rng, 1000, bias=(-1.5, 0, 0)), _draw(rng, 3000, bias=(-1.5, 0, 0))  # "stop" too shy
        rule = tune(pv, yv, cost)
        assert rule.weights[0] > 1 and rule.to_dict(CLASSES)["tuned"] is True
        assert expected_cost(cost, yt, rule.decide(pt)) < expected_cost(cost, yt, pt.argmax(axis=1)) - 0.02


def test_a_clips_noise_draws_never_judge_weights_tuned_on_that_clip():
    """Validation at the field SNR is each clip heard with several noise draws (here: 4 identical
    ones, the extreme). Folds over rows would tune on a clip's copy and judge on another, so tuning
    would look like it pays; folds over clips (what the pipeline passes) see through it."""
    from autotiny.config import compose
    from autotiny.evaluate import Scores
    from autotiny.pipeline import decide

    cost = cost_matrix(Costs(), CLASSES)
    leaky = grouped = 0
    for seed in range(10):
        p, y = _draw(np.random.default_rng(seed), 200)
        probs, labels = np.tile(p, (4, 1)), np.tile(y, 4)
        by_row = tune(probs, labels, cost).held_out
        by_clip = tune(probs, labels, cost, groups=np.arange(800) % 200).held_out
        leaky += by_row["tuned"] < by_row["bayes"]
        grouped += by_clip["tuned"] < by_clip["bayes"]
    assert leaky >= 8 and grouped <= 3

    cfg = compose([])
    p, y = _draw(np.random.default_rng(0), 150, bias=np.zeros(len(cfg.task.classes)))
    val = Scores(accuracy=0.0, n=600, confusion=np.zeros((12, 12)), probs=np.tile(p, (4, 1)), labels=np.tile(y, 4))
    rule, _, _ = decide(val, val, cfg, clips=150)
    expected = tune(val.probs, val.labels, cost_matrix(cfg.task.costs, list(cfg.task.classes)),
                    groups=np.arange(600) % 150)
    assert rule["held_out_cost_per_1000"] == expected.to_dict(list(cfg.task.classes))["held_out_cost_per_1000"]
    assert rule["held_out_cost_per_1000"] != decide(val, val, cfg)[0]["held_out_cost_per_1000"]


def test_folds_keep_a_clips_noise_draws_together_and_every_class_in_each_fold():
    labels_per_clip = np.repeat([0, 1, 2], [40, 25, 10])
    clips, draws = len(labels_per_clip), 4
    groups, labels = np.tile(np.arange(clips), draws), np.tile(labels_per_clip, draws)
    fold = folds_of(groups, labels, 5)
    for g in range(clips):
        assert len(set(fold[groups == g])) == 1
    for f in range(5):
        counts = np.bincount(labels_per_clip[fold[:clips] == f], minlength=3)  # one row per clip: the first draw
        assert list(counts) == [8, 5, 2]
    assert np.array_equal(fold, folds_of(groups, labels, 5))  # fixed: a candidate's rule is repeatable


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
