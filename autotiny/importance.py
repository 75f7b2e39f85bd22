"""Which searched parameters mattered, per objective: Optuna's parameter importances.

Computed over the study's feasible, trained trials (an over-budget candidate is never trained, so its
accuracy says nothing about the parameters; a reused answer would count one candidate twice) with
Optuna's PED-ANOVA evaluator (`PedAnovaImportanceEvaluator`: no dependency beyond Optuna): how much
each parameter's distribution differs between the best trials (top 10 % by that objective) and all.
Parameters a candidate does not always have (conditional ones) are left out by Optuna's intersection
of search spaces. Fewer than `MIN_TRIALS` such trials give no figures, only the line saying so.
"""

from __future__ import annotations

MIN_TRIALS = 10
SOURCE = ("optuna.importance.PedAnovaImportanceEvaluator over the feasible trained trials' parameters and "
          "objective values (the study store)")


def param_importances(study, objectives: list[str]) -> tuple[dict[str, dict[str, float]], str]:
    """({objective: {parameter: importance (sums to 1)}}, "") or ({}, why there are none)."""
    import warnings

    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.user_attrs.get("feasible") and t.params and t.values
              and not (t.user_attrs.get("record") or {}).get("reused_from") is not None]
    if len(trials) < MIN_TRIALS:
        return {}, (f"needs ≥ {MIN_TRIALS} completed feasible trials with parameters; the study has "
                    f"{len(trials)}")
    view = optuna.create_study(directions=study.directions)  # in memory: only the trials that count
    view.add_trials(trials)
    out: dict[str, dict[str, float]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PED-ANOVA is marked experimental
        for i, name in enumerate(objectives):
            try:
                found = get_param_importances(view, evaluator=PedAnovaImportanceEvaluator(),
                                              target=lambda t, i=i: t.values[i])
            except (RuntimeError, ValueError) as e:  # e.g. no parameter every trial has
                return {}, f"not computed: {str(e).splitlines()[0]}"
            out[name] = {k: float(v) for k, v in found.items()}
    if not any(out.values()):
        return {}, "not computed: no parameter that every feasible trial has"
    return out, ""
