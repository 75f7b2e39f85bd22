"""Stopping unpromising trials between epochs (`search.pruner`).

After each float-training epoch the trial worker measures the model's validation accuracy (at the
task's field SNR where the task has noise, as selection does) and asks the search whether to go on
(`autotiny.stages.epoch_end`, over the worker's pipe). The search answers here, where the study is:

- single-objective studies: Optuna's pruner (`median`: below the median of earlier trials at that
  epoch; `hyperband`), fed with `trial.report`;
- multi-objective studies, where Optuna does not support `trial.report`: the trial's accuracy at
  epoch e against the same-epoch accuracy of the study's completed trials; it is stopped when it lies
  in their bottom `search.prune_fraction`.

First fidelity (`search.first_fidelity` > 0): before full training, a copy of the untrained model
trains `first_fidelity_epochs` on that share of the training data; its validation accuracy is asked as
"epoch 0" and judged against the completed trials' first-fidelity values by the multi-objective rule
(any number of objectives), kept in the `first_fidelity` user attribute.

Either way nothing is judged before `search.prune_startup` completed trials and `prune_warmup_epochs`
epochs, each epoch's value goes to the trial's `curve` user attribute (its learning curve: what later
trials compare with), and a stopped trial is recorded as `pruned` (Optuna state PRUNED): a finished
answer that counts toward `search.n_trials`, never a Pareto candidate, never re-run.
"""

from __future__ import annotations

from autotiny.config import SearchSettings

CURVE = "curve"  # trial user attribute: validation accuracy after each epoch (1-based index = position + 1)
FIRST_FIDELITY = "first_fidelity"  # trial user attribute: validation accuracy of the first-fidelity run


class Pruned(Exception):
    """Raised by the training loop when the search said stop after `epoch` (value: the accuracy then)."""

    def __init__(self, epoch: int, value: float, reason: str):
        super().__init__(reason)
        self.epoch, self.value, self.reason = epoch, value, reason


def optuna_pruner(s: SearchSettings, n_objectives: int):
    """The study's Optuna pruner (single-objective studies only; multi-objective ones judge here)."""
    import optuna

    if s.pruner == "none" or n_objectives > 1:
        return optuna.pruners.NopPruner()
    if s.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, s.prune_warmup_epochs))
    return optuna.pruners.MedianPruner(n_startup_trials=s.prune_startup, n_warmup_steps=s.prune_warmup_epochs)


def bottom_fraction(value: float, others: list[float], fraction: float) -> bool:
    """Is `value` in the bottom `fraction` of the completed trials' values `others` (higher is better):
    behind more than (1 - fraction) of them? 0.5: below their median; 1: behind any of them."""
    behind = sum(1 for o in others if o > value)
    return behind > (1.0 - fraction) * len(others) + 1e-9


def same_epoch_verdict(value: float, epoch: int, curves: list[list[float]], s: SearchSettings) -> str | None:
    """Multi-objective rule: the reason to stop, or None. `curves`: completed trials' curves."""
    if epoch <= s.prune_warmup_epochs:
        return None
    at = [c[epoch - 1] for c in curves if len(c) >= epoch]
    if len(at) < s.prune_startup:
        return None
    if bottom_fraction(value, at, s.prune_fraction):
        behind = sum(1 for o in at if o > value)
        return (f"after epoch {epoch}: validation accuracy {value:.3f} behind {behind} of {len(at)} "
                f"completed trials at that epoch (bottom {s.prune_fraction:g})")
    return None


class Judge:
    """Answers one running trial's per-epoch question in the search process (runner.judge)."""

    def __init__(self, study, trial, s: SearchSettings):
        self.study, self.trial, self.s = study, trial, s
        self.curve: list[float] = []
        self.reason = ""
        self.multi = len(study.directions) > 1

    def __call__(self, epoch: int, value: float) -> bool:
        if epoch == 0:  # the first-fidelity run, before full training
            return self._first_fidelity(float(value))
        self.curve.append(float(value))
        self.trial.set_user_attr(CURVE, list(self.curve))
        if self.s.pruner == "none":
            return False
        if not self.multi:
            self.trial.report(float(value), epoch)
            if self.trial.should_prune():
                self.reason = f"after epoch {epoch}: validation accuracy {value:.3f} ({self.s.pruner} pruner)"
                return True
            return False
        from optuna.trial import TrialState

        curves = [t.user_attrs.get(CURVE) or [] for t in
                  self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        self.reason = same_epoch_verdict(float(value), epoch, [c for c in curves if c], self.s) or ""
        return bool(self.reason)

    def _first_fidelity(self, value: float) -> bool:
        from optuna.trial import TrialState

        self.trial.set_user_attr(FIRST_FIDELITY, value)
        earlier = [t.user_attrs[FIRST_FIDELITY] for t in self.study.get_trials(deepcopy=False,
                                                                              states=(TrialState.COMPLETE,))
                   if FIRST_FIDELITY in t.user_attrs]
        self.reason = first_fidelity_verdict(value, earlier, self.s) or ""
        return bool(self.reason)


def first_fidelity_verdict(value: float, earlier: list[float], s: SearchSettings) -> str | None:
    """The reason to stop after the first-fidelity run, or None: in the bottom `prune_fraction` of the
    completed trials' first-fidelity values, once `prune_startup` of them exist (any number of objectives)."""
    if len(earlier) < s.prune_startup or not bottom_fraction(value, earlier, s.prune_fraction):
        return None
    behind = sum(1 for o in earlier if o > value)
    return (f"first fidelity ({s.first_fidelity:g} of the training data, {s.first_fidelity_epochs} epoch(s)): "
            f"validation accuracy {value:.3f} behind {behind} of {len(earlier)} completed trials "
            f"(bottom {s.prune_fraction:g})")


def epoch_callback(keras, x_val, y_val, on_stop):
    """A Keras callback that, after each epoch, scores the float model on (x_val, y_val) and asks the
    search (autotiny.stages.epoch_end) whether to go on; `on_stop((epoch, value))` when told to stop."""
    from autotiny import stages

    class EpochJudge(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if self.model.stop_training:  # the NaN guard stopped it: a failure, not a pruning
                return
            scores = self.model.evaluate(x_val[..., None], y_val, verbose=0, batch_size=256, return_dict=True)
            value = float(next(v for k, v in scores.items() if k != "loss"))
            if stages.epoch_end(epoch + 1, value):
                on_stop((epoch + 1, value))
                self.model.stop_training = True

    return EpochJudge()
