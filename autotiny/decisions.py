"""Cost-weighted decisions: what a wrong answer costs, and the decision rule that minimises it.

Owns the cost matrix a task declares (`task.costs`: per-class miss and false-alarm costs, or a
full matrix), the decision rule tuned on validation data, and the figures a decision is judged
by (expected cost per 1,000 decisions, accuracy, macro-F1, per-class recall and false-alarm
rate).  Knows nothing about models or training: it works on class probabilities and labels.

The rule: predict argmin_p sum_t w_t P(t|x) C[t, p] — the Bayes decision under cost C with the
model's probabilities reweighted per true class by w.  w = 1 is the plain Bayes rule; tuning
w on validation data corrects for a model whose probabilities are not calibrated (int8 softmax
outputs are, at best, roughly so) and for class priors that differ from training.  With the
default cost (every error costs 1) the Bayes rule is argmax, the usual classifier.

Tuned weights are kept only where they pay on clips they were not tuned on (k-fold cross-validation
over the validation clips): a descent that keeps every improvement fits the noise of a few hundred
clips, and in bench/vs_reference.py run 4 it cost the found models 2-3 points of test accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autotiny.errors import ConfigError

# log2 weight steps tried per class and round of coordinate descent (x1/16 ... x16)
_STEPS = np.array([-4.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 4.0])
_ROUNDS = 3
_FOLDS = 5  # cross-validation folds over validation clips that judge whether tuning pays
_Z = 2.0  # ... and how sure that must be: the held-out saving per clip, in standard errors (one-sided ~98 %)


def cost_matrix(costs, classes: list[str]) -> np.ndarray:
    """C[true, predicted] from a task's `costs` settings (None: every error costs 1).

    miss[t] is what not recognising a true t costs; false_alarm[p] what predicting p wrongly
    costs; a confusion t -> p costs miss[t] + false_alarm[p].  Classes not named cost 1 to
    miss and 0 to raise falsely, so the default is the error count.  `matrix` replaces both."""
    n = len(classes)
    if costs is None:
        return 1.0 - np.eye(n)
    if costs.matrix is not None:
        c = np.asarray(costs.matrix, dtype=float)
        if c.shape != (n, n):
            raise ConfigError(f"task.costs.matrix is {c.shape[0]}x{c.shape[1] if c.ndim == 2 else '?'}: it must be "
                              f"{n}x{n}, rows = true class, columns = predicted, in task.classes order")
        if (c < 0).any() or not np.isfinite(c).all():
            raise ConfigError("task.costs.matrix: costs must be finite and >= 0")
        if np.diag(c).any():
            raise ConfigError("task.costs.matrix: the diagonal (a correct decision) must be 0")
        return c
    miss, false_alarm = np.ones(n), np.zeros(n)
    for what, given, into in (("miss", costs.miss, miss), ("false_alarm", costs.false_alarm, false_alarm)):
        for name, value in given.items():
            if name not in classes:
                raise ConfigError(f"task.costs.{what}.{name}: unknown class; classes are {', '.join(classes)}")
            if not np.isfinite(value) or value < 0:
                raise ConfigError(f"task.costs.{what}.{name}={value}: a cost must be finite and >= 0")
            into[classes.index(name)] = value
    c = miss[:, None] + false_alarm[None, :]
    np.fill_diagonal(c, 0.0)
    if not c.any():
        raise ConfigError("task.costs: every error costs 0; give some miss or false_alarm cost > 0")
    return c


@dataclass(frozen=True)
class DecisionRule:
    weights: np.ndarray  # per true class
    cost: np.ndarray  # C[true, predicted]
    # mean cost per decision on held-out folds: {"tuned": .., "bayes": ..}; None when not cross-validated
    held_out: dict[str, float] | None = None

    def decide(self, probs: np.ndarray) -> np.ndarray:
        return np.argmin((probs * self.weights) @ self.cost, axis=1)

    def to_dict(self, classes: list[str]) -> dict:
        out = {"rule": "argmin_p sum_t w_t P(t|x) C[t,p]",
               "weights": {c: round(float(w), 6) for c, w in zip(classes, self.weights)}}
        if self.held_out is not None:
            out["tuned"] = bool((self.weights != 1.0).any())
            out["held_out_cost_per_1000"] = {k: round(1000 * v, 3) for k, v in self.held_out.items()}
        return out


def expected_cost(cost: np.ndarray, labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean cost per decision."""
    return float(cost[labels, predicted].mean()) if len(labels) else 0.0


def descend(probs: np.ndarray, labels: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Per-class weights that minimise the mean cost on the data given: coordinate descent over
    log2 steps from the Bayes rule (w = 1); a step is kept only if it lowers the cost."""
    w = np.ones(cost.shape[0])
    best = expected_cost(cost, labels, DecisionRule(w, cost).decide(probs))
    for _ in range(_ROUNDS):
        improved = False
        for k in range(len(w)):
            for step in _STEPS:
                trial = w.copy()
                trial[k] *= 2.0 ** step
                c = expected_cost(cost, labels, DecisionRule(trial, cost).decide(probs))
                if c < best - 1e-12:
                    best, w, improved = c, trial, True
        if not improved:
            break
    return w


def folds_of(groups: np.ndarray, labels: np.ndarray, folds: int) -> np.ndarray:
    """Fold number per row: whole groups (a clip and its noise draws) per fold, dealt out class by
    class so every fold holds each class's share; fixed (seed 0), so a candidate's rule is repeatable."""
    uniq, first = np.unique(groups, return_index=True)
    order = np.random.default_rng(0).permutation(len(uniq))
    order = order[np.argsort(labels[first][order], kind="stable")]
    fold = np.empty(len(uniq), dtype=np.int64)
    fold[order] = np.arange(len(uniq)) % folds
    return fold[np.searchsorted(uniq, groups)]


def tune(probs: np.ndarray, labels: np.ndarray, cost: np.ndarray, groups: np.ndarray | None = None,
         folds: int = _FOLDS, z: float = _Z) -> DecisionRule:
    """The decision rule for (validation) data: weights from `descend` on all of it if, in `folds`-fold
    cross-validation over `groups` (rows of one group — a clip's noise draws — stay in one fold;
    default: every row its own), the weights descended on the other folds save cost on the held-out
    groups: the mean saving per group more than `z` standard errors above 0; else the Bayes rule (w = 1)."""
    n = cost.shape[0]
    bayes = DecisionRule(np.ones(n), cost)
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    folds = min(folds, len(np.unique(groups)))
    if folds < 2:
        return bayes
    fold = folds_of(groups, labels, folds)
    decided = np.empty(len(labels), dtype=np.int64)
    for f in range(folds):
        fit, held = fold != f, fold == f
        decided[held] = DecisionRule(descend(probs[fit], labels[fit], cost), cost).decide(probs[held])
    tuned_cost, bayes_cost = cost[labels, decided], cost[labels, bayes.decide(probs)]
    held_out = {"tuned": float(tuned_cost.mean()), "bayes": float(bayes_cost.mean())}
    # per clip: what tuning saved on it (all its draws); kept if the mean saving is z standard errors above 0
    _, g = np.unique(groups, return_inverse=True)
    saved = np.bincount(g, weights=bayes_cost - tuned_cost)
    se = saved.std(ddof=1) / np.sqrt(len(saved)) if len(saved) > 1 else np.inf
    pays = saved.mean() > max(z * se, 1e-12)
    return DecisionRule(descend(probs, labels, cost) if pays else np.ones(n), cost, held_out)


def decision_metrics(labels: np.ndarray, predicted: np.ndarray, cost: np.ndarray, classes: list[str],
                     prefix: str) -> dict[str, float]:
    """Flat metrics of one set of decisions: `<prefix>_cost_per_1000`, `_decision_accuracy`,
    `_macro_f1`, and per class `_recall.<class>` and `_false_alarm.<class>` (false alarms of that
    class / decisions on other classes)."""
    n = len(classes)
    conf = np.zeros((n, n), dtype=np.int64)
    np.add.at(conf, (labels, predicted), 1)
    true_n, pred_n, hit = conf.sum(axis=1), conf.sum(axis=0), np.diag(conf)
    recall = np.divide(hit, true_n, out=np.zeros(n), where=true_n > 0)
    precision = np.divide(hit, pred_n, out=np.zeros(n), where=pred_n > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n), where=precision + recall > 0)
    others = len(labels) - true_n
    false_alarm = np.divide(pred_n - hit, others, out=np.zeros(n), where=others > 0)
    present = true_n > 0
    out = {f"{prefix}_cost_per_1000": 1000.0 * expected_cost(cost, labels, predicted),
           f"{prefix}_decision_accuracy": float((labels == predicted).mean()) if len(labels) else 0.0,
           f"{prefix}_macro_f1": float(f1[present].mean()) if present.any() else 0.0}
    for i, c in enumerate(classes):
        out[f"{prefix}_recall.{c}"] = float(recall[i])
        out[f"{prefix}_false_alarm.{c}"] = float(false_alarm[i])
    return out
