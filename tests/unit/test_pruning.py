"""Stopping unpromising trials between epochs: the rules the search answers a trial's per-epoch question
with (autotiny.pruning), on in-memory Optuna studies; the whole path through a real search is
tests/e2e/test_pruning.py."""

import optuna
import pytest
from optuna.distributions import FloatDistribution

from autotiny.config import SearchSettings, compose
from autotiny.errors import ConfigError
from autotiny.pruning import CURVE, Judge, bottom_fraction, optuna_pruner, same_epoch_verdict

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _settings(**kw) -> SearchSettings:
    return compose([f"search.{k}={v}" for k, v in kw.items()]).search


def test_bottom_fraction_is_the_share_of_completed_trials_ahead():
    others = [0.9, 0.8, 0.7, 0.6]
    assert bottom_fraction(0.5, others, 0.5)  # behind all four
    assert bottom_fraction(0.65, others, 0.5)  # behind three of four: in the bottom half
    assert not bottom_fraction(0.75, others, 0.5)  # behind two of four: at the median, not below it
    assert not bottom_fraction(0.85, others, 0.5)
    assert not bottom_fraction(0.65, others, 0.2)  # bottom fifth: behind three of four is not enough
    assert bottom_fraction(0.85, others, 1.0) and not bottom_fraction(0.95, others, 1.0)  # 1: behind any


def test_same_epoch_rule_waits_for_warmup_and_startup():
    s = _settings(pruner="median", prune_startup=2, prune_warmup_epochs=1, prune_fraction=0.5)
    curves = [[0.5, 0.8, 0.9], [0.4, 0.7], [0.3]]  # completed trials' curves (some ran fewer epochs)
    assert same_epoch_verdict(0.0, 1, curves, s) is None  # warm-up epoch
    assert "behind 2 of 2" in same_epoch_verdict(0.1, 2, curves, s)  # two trials reached epoch 2
    assert same_epoch_verdict(0.75, 2, curves, s) is None  # ahead of one of them: not the bottom half
    assert same_epoch_verdict(0.1, 3, curves, s) is None  # only one reached epoch 3: under prune_startup


def _completed(study, value: float, curve: list[float]):
    study.add_trial(optuna.trial.create_trial(
        params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
        values=[value] * len(study.directions), user_attrs={CURVE: curve},
        intermediate_values={i + 1: v for i, v in enumerate(curve)} if len(study.directions) == 1 else None))


def test_multi_objective_judge_compares_the_same_epoch_and_keeps_the_curve():
    s = _settings(pruner="median", prune_startup=2, prune_warmup_epochs=0, prune_fraction=0.5)
    study = optuna.create_study(directions=["maximize", "minimize"])
    for curve in ([0.6, 0.8], [0.5, 0.7], [0.4, 0.6]):
        _completed(study, 0.5, curve)
    weak, strong = Judge(study, study.ask(), s), Judge(study, study.ask(), s)
    assert not strong(1, 0.65) and not strong(2, 0.9)
    assert not weak(1, 0.55)  # ahead of one of three at epoch 1
    assert weak(2, 0.3) and "behind 3 of 3" in weak.reason
    assert weak.trial.user_attrs[CURVE] == [0.55, 0.3] and strong.trial.user_attrs[CURVE] == [0.65, 0.9]


def test_single_objective_judge_uses_optunas_pruner():
    s = _settings(pruner="median", prune_startup=2, prune_warmup_epochs=0)
    study = optuna.create_study(direction="maximize", pruner=optuna_pruner(s, 1))
    assert isinstance(study.pruner, optuna.pruners.MedianPruner)
    for curve in ([0.6, 0.8], [0.5, 0.7]):
        _completed(study, curve[-1], curve)
    weak, strong = Judge(study, study.ask(), s), Judge(study, study.ask(), s)
    assert not strong(1, 0.9)
    assert weak(1, 0.1) and "median pruner" in weak.reason
    assert isinstance(optuna_pruner(_settings(pruner="hyperband"), 1), optuna.pruners.HyperbandPruner)
    assert isinstance(optuna_pruner(_settings(pruner="median"), 2), optuna.pruners.NopPruner)  # judged by autotiny


def test_nothing_is_judged_without_a_pruner():
    s = _settings()
    assert s.pruner == "none"
    study = optuna.create_study(directions=["maximize", "minimize"])
    _completed(study, 0.5, [0.9])
    _completed(study, 0.5, [0.9])
    j = Judge(study, study.ask(), s)
    assert not j(1, 0.0) and j.trial.user_attrs[CURVE] == [0.0]  # the curve is kept for later trials


@pytest.mark.parametrize("override", ["search.objectives=[flash,ram]", "search.objectives=[cost]"])
def test_a_pruner_needs_accuracy_among_the_objectives(override):
    with pytest.raises(ConfigError, match=r"search.pruner=median .* needs accuracy among search.objectives"):
        compose(["search.pruner=median", override])


def test_first_fidelity_stops_the_bottom_share_once_enough_trials_completed():
    from autotiny.config import compose
    from autotiny.pruning import first_fidelity_verdict

    s = compose(["search.first_fidelity=0.25", "search.prune_startup=3", "search.prune_fraction=0.5"]).search
    assert first_fidelity_verdict(0.1, [0.5, 0.6], s) is None  # fewer than prune_startup completed trials
    assert first_fidelity_verdict(0.65, [0.5, 0.6, 0.7], s) is None  # behind 1 of 3: not behind more than half
    why = first_fidelity_verdict(0.45, [0.5, 0.6, 0.7], s)
    assert why.startswith("first fidelity (0.25 of the training data, 1 epoch(s)): validation accuracy 0.450 "
                          "behind 3 of 3")


def test_first_fidelity_needs_accuracy_among_the_objectives():
    from autotiny.config import compose
    from autotiny.errors import ConfigError

    with pytest.raises(ConfigError, match=r"search.first_fidelity=0.3 compares validation accuracy: it needs "
                                          r"accuracy among search.objectives \(now \['flash'\]\)"):
        compose(["search.first_fidelity=0.3", "search.objectives=[flash]"])
