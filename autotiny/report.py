"""`autotiny report study=<name>`: one self-contained HTML page that explains a study's choice.

Reads the study's TrialRecords from its Optuna store (as the search wrote them) and draws, each
with where its numbers come from: the Pareto front, the chosen model's figures against the budget,
its per-layer latency and memory, its confusion matrix, its metric against noise (SNR) and the
search history. Images are inline PNGs (base64), so the file opens anywhere: no server, no network.
The same PNGs and the page go to the study's MLflow parent run when its store is reachable.

Knows how to draw and where to find a study; not how figures are measured: every number is read
off a record (autotiny.trial.TrialRecord). The chosen model is the one the search put in `best/`
(its trial.json; else autotiny.results.best_of). Accuracy is the record value the `accuracy`
objective reads (results.OBJECTIVES). Metrics against noise are the record's metrics named
`<metric>_<dB>db` (`m` for minus: `test_accuracy_10db`, `test_accuracy_m5db`) and `<metric>_clean`
(autotiny.noise.snr_name); a record without them says "not recorded".
"""

from __future__ import annotations

import base64
import html
import io
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autotiny import results
from autotiny.errors import ConfigError
from autotiny.trial import LAYER_SOURCES, TrialRecord

SNR_METRIC = re.compile(r"^(?P<metric>.+)_(?P<db>m?\d+(?:\.\d+)?)db$")
# figure name → (label, objective name, unit shown, divisor)
GAUGES = {"ram_bytes": ("RAM", "ram", "KB", 1024), "flash_bytes": ("flash", "flash", "KB", 1024),
          "latency_ms": ("latency", "latency", "ms", 1), "energy_uj": ("energy", "energy", "uJ", 1)}
NOT_RECORDED = "not recorded"
ACCURACY_LABELS = {"val_accuracy": "validation accuracy (int8)",
                   "val_accuracy_field": "validation accuracy at the field SNR (int8)"}


def accuracy_key(records: list[TrialRecord]) -> str:
    """The record value the `accuracy` objective reads; plain val_accuracy for records made before it."""
    key = results.OBJECTIVES["accuracy"][1]
    return key if any(key in r.metrics for r in records) else "val_accuracy"


@dataclass
class StudyView:
    """A study as the report sees it: its records and what it was searched under."""

    name: str
    storage: str
    board: str
    task: str
    objectives: list[str]
    budget: dict[str, float | None]  # figure name → limit (bytes, ms, uJ); None: no limit
    records: list[TrialRecord]  # every trial that left a record, by number
    parent_run_id: str | None = None
    config: object = None  # the RunConfig of its task and board (autotiny.config.RunConfig)
    front: list[TrialRecord] = field(default_factory=list)
    chosen: TrialRecord | None = None
    importances: dict[str, dict[str, float]] = field(default_factory=dict)  # objective → parameter → share
    importance_note: str = ""  # why there are none (autotiny.importance)

    @property
    def feasible(self) -> list[TrialRecord]:
        return [r for r in self.records if r.state == "complete" and r.reused_from is None]


@dataclass
class Chart:
    key: str  # file name stem (MLflow artifact)
    title: str
    source: str  # where its numbers come from
    png: bytes | None = None  # None: nothing to draw (`note` says why)
    note: str = ""


# ---- finding the study ----------------------------------------------------------------------------

def _sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def load_study(name: str, storage: str, studies_dir: Path, compose_for, best_json: Path | None = None,
               command: str = "report") -> StudyView:
    """The study `name` in `storage`; ConfigError (one line, starting with `command`) when unknown or
    without a completed trial.

    compose_for(task, board) → RunConfig of the study's task and board (the budget's reference);
    best_json: the search's best/trial.json (the chosen model, when it belongs to this study)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    path = _sqlite_path(storage)
    if path is not None and not path.is_file():  # opening would create an empty database
        known = sorted(p.stem for p in studies_dir.glob("*.db")) if path.parent == studies_dir.resolve() else []
        has = f"; studies in {studies_dir}: {', '.join(known)}" if known else f"; no study in {path.parent}"
        raise ConfigError(f"{command}: unknown study={name}: no {path}{has} (or point search.studies_dir / "
                          f"search.storage at the store the search used)")
    try:
        names = optuna.get_all_study_names(storage)
    except Exception as e:
        raise ConfigError(f"{command}: cannot read the study store {storage}: "
                          f"{str(e).strip().splitlines()[0]}") from None
    if name not in names:
        raise ConfigError(f"{command}: unknown study={name} in {storage}; it holds: {', '.join(sorted(names)) or 'none'}")
    study = optuna.load_study(study_name=name, storage=storage)
    records = [r for t in study.get_trials(deepcopy=False) if (r := results.record_of(t)) is not None]
    from autotiny import repeats

    repeats.summarise(records, study.user_attrs.get(repeats.ATTR))  # mean ± sd over seeds (search.repeats)
    if not any(r.state in ("complete", "infeasible") for r in records):
        raise ConfigError(f"{command}: study={name} has no completed trial yet ({len(study.trials)} trials, none "
                          f"complete); run autotiny search on it first")
    identity = study.user_attrs.get("identity") or {}
    first = records[0].study
    task, board = identity.get("task", first.get("task")), identity.get("board", first.get("board"))
    cfg = compose_for(task, board)
    from autotiny.config import Budget

    budget = Budget.model_validate(identity["budget"]) if identity.get("budget") else cfg.budget
    view = StudyView(name=name, storage=storage, board=board, task=task,
                     objectives=list(identity.get("objectives") or cfg.search.objectives),
                     budget={"ram_bytes": budget.ram_bytes(cfg.board), "flash_bytes": budget.flash_bytes(cfg.board),
                             "latency_ms": budget.latency_ms, "energy_uj": budget.energy_uj},
                     records=sorted(records, key=lambda r: r.number),
                     parent_run_id=study.user_attrs.get("mlflow_parent_run_id"), config=cfg)
    view.front = results.pareto_front(view.feasible, view.objectives)
    from autotiny.importance import param_importances

    view.importances, view.importance_note = param_importances(study, view.objectives)
    view.chosen = _chosen_by_search(view, best_json) or results.best_of(view.front, view.objectives)
    return view


def _chosen_by_search(v: StudyView, best_json: Path | None) -> TrialRecord | None:
    import json

    try:
        best = json.loads(best_json.read_text()) if best_json else None
    except (OSError, ValueError):
        return None
    if not isinstance(best, dict) or (best.get("study") or {}).get("name") != v.name:
        return None
    return next((r for r in v.feasible if r.number == best.get("number")), None)


# ---- charts -----------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    _plt().close(fig)
    return buf.getvalue()


def _sources(recs: list[TrialRecord], key: str) -> str:
    labels = sorted({results.source_label(r.figures[key]) for r in recs if key in r.figures})
    return " / ".join(labels) or "?"


def pareto_chart(v: StudyView) -> Chart:
    plt = _plt()
    axes_keys = [results.OBJECTIVES[o][1] for o in v.objectives if o != "accuracy"] or ["flash_bytes"]
    trained = [r for r in v.records if r.trained and r.state == "complete" and r.reused_from is None]
    over = [r for r in v.records if r.state == "infeasible"]
    acc = accuracy_key(trained)
    fig, axes = plt.subplots(1, len(axes_keys), figsize=(5 * len(axes_keys), 4), squeeze=False)
    for ax, key in zip(axes[0], axes_keys):
        label, _, unit, div = GAUGES.get(key, (key, key, "", 1))
        def xs(rs): return [r.value(key) / div for r in rs]  # noqa: E306
        ax.scatter(xs(trained), [r.metrics.get(acc, 0) for r in trained], c="#9ab", label="feasible")
        finite_over = [r for r in over if r.value(key) not in (None, float("inf"))]
        ax.scatter(xs(finite_over), [0] * len(finite_over), marker="x", c="#c33", label="over budget (not trained)")
        front = sorted(v.front, key=lambda r: r.value(key))
        ax.plot(xs(front), [r.metrics.get(acc, 0) for r in front], "o-", c="#e80", label="Pareto front")
        for r in front:
            ax.annotate(str(r.number), (r.value(key) / div, r.metrics.get(acc, 0)), fontsize=8,
                        xytext=(3, 3), textcoords="offset points")
        if v.chosen:
            ax.scatter([v.chosen.value(key) / div], [v.chosen.metrics.get(acc, 0)], marker="*", s=250,
                       c="#d22", zorder=5, label=f"chosen (trial {v.chosen.number})")
        shown = [x for x in xs(trained + finite_over) if x is not None]
        limit = v.budget.get(key)
        if limit and shown and limit / div > 1.5 * max(shown):  # far off: a line there would squash the points
            ax.set_title(f"budget {limit / div:,.0f} {unit}: far right of every candidate", fontsize=8)
        elif limit:
            ax.axvline(limit / div, ls="--", c="#c33", lw=1, label="budget")
        ax.set_xlabel(f"{label} ({unit})" if unit else label)
        ax.set_ylabel(ACCURACY_LABELS.get(acc, acc))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    src = "; ".join(f"{GAUGES.get(k, (k,))[0]}: {_sources(trained + over, k)}" for k in axes_keys)
    return Chart("pareto_front", "Pareto front", f"accuracy: the int8 model on the validation split ({acc}); {src}",
                 _png(fig))


def budget_chart(v: StudyView) -> Chart:
    rec = v.chosen
    if rec is None:
        return Chart("budget", "Budget", "", note="no feasible candidate: nothing chosen")
    plt = _plt()
    keys = [k for k in GAUGES if k in rec.figures]
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(keys) + 0.8))
    for i, key in enumerate(keys):
        label, _, unit, div = GAUGES[key]
        value, limit = rec.figures[key].value, v.budget.get(key)
        share = value / limit if limit else None
        colour = "#9ab" if share is None else "#3a3" if share < 0.8 else "#e80" if share <= 1 else "#c33"
        ax.barh(i, min(share, 1.2) * 100 if share is not None else 0, color=colour)
        text = (f"{value / div:,.1f} of {limit / div:,.1f} {unit} ({share:.0%})" if share is not None
                else f"{value / div:,.2f} {unit} (no limit)")
        ax.text(1, i, text, va="center", fontsize=9)
    ax.axvline(100, c="#c33", ls="--", lw=1)
    ax.set_yticks(range(len(keys)), [GAUGES[k][0] for k in keys])
    ax.set_xlim(0, 120)
    ax.set_xlabel("% of budget")
    ax.invert_yaxis()
    fig.tight_layout()
    src = "; ".join(f"{GAUGES[k][0]}: {results.source_label(rec.figures[k])}" for k in keys)
    return Chart("budget", f"Budget: trial {rec.number} against the study's budget", src, _png(fig))


def layers_chart(v: StudyView) -> Chart:
    rec = v.chosen
    title = "Per layer: latency and memory of the chosen model"
    if rec is None or not rec.layers:
        why = "no feasible candidate" if rec is None else f"{NOT_RECORDED} (the emulated run measures layers; " \
                                                          f"emulator=estimate does not)"
        return Chart("layers", title, "", note=why)
    plt = _plt()
    rows = rec.layers
    names = [f"{r['index']} {r['op']}" for r in rows]
    has_memory = any(r.get("arena_bytes") is not None for r in rows)
    fig, axes = plt.subplots(1, 2 if has_memory else 1, figsize=(11 if has_memory else 6, 0.3 * len(rows) + 1.2),
                             sharey=True, squeeze=False)
    y = range(len(rows))
    axes[0][0].barh(y, [r["latency_ms"] for r in rows], color="#48a")
    axes[0][0].set_xlabel("latency (ms)")
    axes[0][0].set_yticks(list(y), names, fontsize=8)
    axes[0][0].invert_yaxis()
    if has_memory:
        ax = axes[0][1]
        arena = [(r.get("arena_bytes") or 0) / 1024 for r in rows]
        const = [(r.get("const_bytes") or 0) / 1024 for r in rows]
        ax.barh([i - 0.2 for i in y], arena, height=0.4, color="#e80", label="RAM: activations it reads/writes")
        ax.barh([i + 0.2 for i in y], const, height=0.4, color="#888", label="flash: its weights and tables")
        ax.set_xlabel("KB")
        ax.legend(fontsize=7)
    fig.tight_layout()
    src = (f"latency: {LAYER_SOURCES['latency_ms']} (cycles / board clock)"
           + (f"; RAM: {LAYER_SOURCES['arena_bytes']}; flash: {LAYER_SOURCES['const_bytes']}" if has_memory else ""))
    return Chart("layers", title + f" (trial {rec.number})", src, _png(fig))


def confusion_chart(v: StudyView) -> Chart:
    rec = v.chosen
    path = Path(rec.artifacts.get("confusion_matrix.png", "")) if rec else None
    title = "Confusion matrix"
    if rec is None or not path or not path.is_file():
        return Chart("confusion_matrix", title, "", note=NOT_RECORDED + (f" (trial {rec.number} has no confusion "
                                                                         f"matrix file)" if rec else ""))
    return Chart("confusion_matrix", f"{title} (trial {rec.number})",
                 f"the int8 model's decisions on the test split at the task's field SNR, by the decision "
                 f"rule tuned on validation data under the task's costs (the trial's artifact {path})",
                 path.read_bytes())


def snr_chart(v: StudyView) -> Chart:
    rec = v.chosen
    series: dict[str, list[tuple[float, float]]] = {}
    for key, value in (rec.metrics.items() if rec else ()):
        if m := SNR_METRIC.match(key):
            series.setdefault(m["metric"], []).append((float(m["db"].replace("m", "-")), value))
    if not series:
        return Chart("metric_vs_snr", "Metric against noise (SNR)", "", note=NOT_RECORDED)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for metric, points in sorted(series.items()):
        points.sort()
        line, = ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=metric)
        if f"{metric}_clean" in rec.metrics:  # no noise: a level, not a point on the SNR axis
            ax.axhline(rec.metrics[f"{metric}_clean"], ls="--", lw=1, c=line.get_color(), label=f"{metric}, clean")
    ax.set_xlabel("SNR (dB)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return Chart("metric_vs_snr", f"Metric against noise (trial {rec.number})",
                 "the record's metrics at each SNR: the int8 model with the task's noise (that split's own "
                 "recordings) mixed in", _png(fig))


def history_chart(v: StudyView) -> Chart:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    trained = [r for r in v.records if r.state == "complete"]
    acc = accuracy_key(trained)
    ax.scatter([r.number for r in trained], [r.metrics.get(acc, 0) for r in trained], c="#9ab",
               label="feasible trial")
    best, xs, ys = None, [], []
    for r in v.records:
        if r.state == "complete":
            best = max(best or 0.0, r.metrics.get(acc, 0))
        if best is not None:
            xs.append(r.number)
            ys.append(best)
    ax.step(xs, ys, where="post", c="#e80", label="best so far")
    for state, marker, colour in (("infeasible", "x", "#c33"), ("failed", "v", "#555")):
        rs = [r.number for r in v.records if r.state == state]
        if rs:
            ax.scatter(rs, [0] * len(rs), marker=marker, c=colour, label=f"{state} (not trained, at 0)"
                       if state == "infeasible" else state)
    ax.set_xlabel("trial")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(ACCURACY_LABELS.get(acc, acc))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return Chart("search_history", "Search history: best so far", f"the trial records' {acc} (the int8 model "
                 "on the validation split), in trial order", _png(fig))


def importance_chart(v: StudyView) -> Chart:
    from autotiny.importance import SOURCE

    title = "Parameter importances"
    if not v.importances:
        return Chart("param_importances", title, "", note=v.importance_note)
    plt = _plt()
    params = sorted({p for imp in v.importances.values() for p in imp})
    fig, axes = plt.subplots(1, len(v.importances), figsize=(3.6 * len(v.importances) + 2, 0.35 * len(params) + 1.4),
                             sharey=True, squeeze=False)
    for ax, (objective, imp) in zip(axes[0], v.importances.items()):
        ax.barh(params, [imp.get(p, 0.0) for p in params], color="#58a")
        ax.set_title(objective, fontsize=9)
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].tick_params(axis="y", labelsize=7)
    fig.supxlabel("share of importance", fontsize=8)
    fig.tight_layout()
    return Chart("param_importances", title + " (per objective)", SOURCE, _png(fig))


def charts(v: StudyView) -> list[Chart]:
    return [pareto_chart(v), budget_chart(v), layers_chart(v), confusion_chart(v), snr_chart(v), history_chart(v),
            importance_chart(v)]


# ---- the page ---------------------------------------------------------------------------------------

CSS = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
img{max-width:100%}table{border-collapse:collapse;font-size:.9em}td,th{padding:2px 8px;border-bottom:1px solid #eee;
text-align:left}.source{color:#555;font-size:.85em}.note{color:#a60}"""


# The page may load nothing from anywhere: images are inline, there is no script.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _table(head: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    return ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
            + "</table>")


def _frontend_split(figs: dict) -> str:
    """The chosen model's figures as front-end (on the device) + network (autotiny.frontends.device)."""
    if "frontend_latency_ms" not in figs:
        return "<p class='note'>not recorded (the chosen model's front-end does not run on the device)</p>"
    rows = [[name, f"{figs['frontend_' + k].value:,.6g}", f"{figs[k].value - figs['frontend_' + k].value:,.6g}",
             f"{figs[k].value:,.6g} {figs[k].unit}"]
            for name, k in (("latency", "latency_ms"), ("energy", "energy_uj"), ("RAM reserved", "ram_bytes"),
                            ("flash", "flash_bytes"))]
    return (_table(["figure", "front-end", "network", "total"], rows) + "<p class='source'>Source: emulated "
            "(front-end: firmware/frontends on the board, run before the network; RAM: the clip buffer, its static "
            "data and the stack beyond the network's)</p>")


def _seeds_section(v: StudyView) -> str:
    """search.repeats: the top candidates trained again with other seeds, mean ± sample sd."""
    from autotiny import repeats

    rows = repeats.table(results.ranked(v.front, v.objectives))
    if not rows:
        return ("<h2>Seeds</h2><p class='note'>Not repeated: each candidate was trained with one seed "
                "(search.repeats=N trains the top search.repeat_top again with N other seeds).</p>")
    return ("<h2>Seeds</h2><p>The top candidates trained again with other seeds (search.repeats); the search "
            "chooses by the mean. Source: the int8 models (LiteRT), the study's <code>repeats</code>.</p>"
            + _table(repeats.TABLE_HEAD, rows))


def render(v: StudyView, drawn: list[Chart]) -> str:
    e = html.escape
    counts = {s: sum(r.state == s for r in v.records) for s in ("complete", "infeasible", "pruned", "failed")}
    budget = ", ".join(f"{GAUGES[k][0]} {lim / GAUGES[k][3]:g} {GAUGES[k][2]}" if lim else f"{GAUGES[k][0]} no limit"
                       for k, lim in v.budget.items())
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
             f"<title>autotiny report: {e(v.name)}</title><style>{CSS}</style></head><body>",
             f"<h1>Study {e(v.name)}: task {e(v.task)} on {e(v.board)}</h1>",
             f"<p>{len(v.records)} trials: {counts['complete']} feasible, {counts['infeasible']} over budget, "
             f"{counts['failed']} failed" + (f", {counts['pruned']} pruned between epochs" if counts['pruned'] else "")
             + f". Objectives: {e(', '.join(v.objectives))}. Budget: {e(budget)}. "
             f"Store: <code>{e(v.storage)}</code></p>"]
    if v.chosen:
        c = v.chosen
        parts.append(f"<h2>Chosen model: trial {c.number}</h2><p>{e(c.description)} (seed {c.seed}"
                     + (f", MLflow run <code>{e(c.mlflow_run_id)}</code>" if c.mlflow_run_id else "") + ")</p>")
        rows = [[k, f"{v_:.4f}", "the int8 model (LiteRT)"] for k, v_ in c.metrics.items()
                if k in ("val_accuracy", "test_accuracy", "val_accuracy_field", "test_accuracy_field")]
        rows += [[k, f"{f.value:,.6g} {f.unit}", results.source_label(f)] for k, f in c.figures.items()]
        parts.append(_table(["figure", "value", "source"], rows))
    else:
        parts.append("<p class='note'>No feasible candidate: every completed trial is over budget.</p>")
    for ch in drawn:
        parts.append(f"<h2>{e(ch.title)}</h2>")
        if ch.png:
            parts.append(f"<img alt='{e(ch.title)}' src='data:image/png;base64,{base64.b64encode(ch.png).decode()}'>")
            parts.append(f"<p class='source'>Source: {e(ch.source)}</p>")
        else:
            parts.append(f"<p class='note'>{e(ch.note)}</p>")
    parts.append(_seeds_section(v))
    parts.append("<h2>Front-end vs network cost</h2>" + _frontend_split(v.chosen.figures if v.chosen else {}))
    if v.front:
        parts.append("<h2>Pareto table</h2>")
        acc = accuracy_key(v.front)
        extra = [acc] if acc != "val_accuracy" else []  # what the search ranks by, where it is not plain val
        parts.append(_table(["trial", "val acc", *extra, "test acc", "flash B", "RAM B", "latency ms", "energy uJ",
                             "candidate"],
                            [[r.number, f"{r.metrics.get('val_accuracy', 0):.3f}",
                              *(f"{r.metrics.get(k, 0):.3f}" for k in extra),
                              f"{r.metrics.get('test_accuracy', 0):.3f}", f"{r.value('flash_bytes'):,.0f}",
                              f"{r.value('ram_bytes'):,.0f}", f"{r.value('latency_ms'):.2f}",
                              f"{r.value('energy_uj'):.1f}", r.description] for r in v.front]))
        sources = results.format_table(v.front).splitlines()[-1]  # "sources: flash: ..., RAM: ..."
        parts.append(f"<p class='source'>{e(sources[:1].upper() + sources[1:])}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ---- MLflow -----------------------------------------------------------------------------------------

def log_to_mlflow(v: StudyView, drawn: list[Chart], page: Path, tracking_uri: str) -> str:
    """The charts and the page as artifacts of the study's parent run, under report/; says what happened."""
    if not v.parent_run_id:
        return "MLflow: not logged (the study has no MLflow run: tracking was off)"
    from autotiny.ui import local_store, store_uri

    uri = store_uri(tracking_uri)
    store = local_store(uri)
    if store is not None and not store.exists():
        return f"MLflow: not logged (no tracking store at {store})"
    try:
        import logging
        import os

        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        client.get_run(v.parent_run_id)
        with tempfile.TemporaryDirectory() as tmp:
            for ch in drawn:
                if ch.png:
                    (Path(tmp) / f"{ch.key}.png").write_bytes(ch.png)
            (Path(tmp) / "report.html").write_bytes(page.read_bytes())
            client.log_artifacts(v.parent_run_id, tmp, artifact_path="report")
    except Exception as e:  # an unreachable or foreign store: the file is the report; MLflow is a copy
        return f"MLflow: not logged ({type(e).__name__}: {str(e).strip().splitlines()[0][:200]})"
    return f"MLflow: charts and page logged to the study's run {v.parent_run_id} (artifacts report/)"


# ---- command ----------------------------------------------------------------------------------------

def find_study(name: str, overrides: list[str], cfg, command: str = "report") -> StudyView:
    """The study as the command line names it: the same overrides as the search find its store and
    outputs; its own task and board unless the overrides name others (`cfg`: compose(overrides))."""
    from autotiny.config import compose

    given = {a.split("=", 1)[0] for a in overrides}

    def compose_for(task: str, board: str):
        if (task == cfg.task.name or "task" in given) and (board == cfg.board.name or "board" in given):
            return cfg
        return compose([*(f"{g}={v}" for g, v in (("task", task), ("board", board)) if g not in given), *overrides,
                        f"search.study_name={name}"])

    return load_study(name, cfg.search.storage_url(), Path(cfg.search.studies_dir), compose_for,
                      Path(cfg.search.output_dir) / "best" / "trial.json", command)


OPTIONS = ("study", "out", "overwrite")


def main(args: list[str]) -> int:
    from autotiny.config import compose, split_options

    opts, rest = split_options(args, OPTIONS, "report")
    if not opts.get("study"):
        raise ConfigError("report needs study=<name> (a search.study_name, e.g. study=kws-stm32f746)")
    overwrite = opts.get("overwrite", "false").lower()
    if overwrite not in ("true", "false"):
        raise ConfigError(f"report: overwrite={opts['overwrite']}: must be true or false")
    name = opts["study"]
    cfg = compose([*rest, f"search.study_name={name}"])
    out = Path(opts.get("out") or Path(cfg.search.output_dir) / "report.html")
    if out.is_dir():
        raise ConfigError(f"report: out={out} is a folder; give the path of the .html file to write")
    if out.exists() and overwrite != "true":
        raise ConfigError(f"report: out={out} already exists; pass overwrite=true to replace it, or another out=")
    view = find_study(name, rest, cfg)
    drawn = charts(view)
    results.atomic_write(out, render(view, drawn))
    out.chmod(0o644)  # a page to share (the atomic write's temporary file is private)
    chosen = f"chosen: trial {view.chosen.number}" if view.chosen else "no feasible candidate"
    print(f"report: {out.resolve()} ({sum(1 for c in drawn if c.png)} charts, {chosen})")
    if cfg.tracking.enabled:
        print(log_to_mlflow(view, drawn, out, cfg.tracking.uri))
    return 0
