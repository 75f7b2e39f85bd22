"""Does validation at the field SNR choose better with several noise draws per clip than with one?

    AUTOTINY_DATA=/work/shared/data .venv/bin/python bench/selection_noise.py DIR [DIR ...] [override ...]
        [--draws 8]

DIR is a finished search's output folder (search.output_dir; for bench/vs_reference.py: OUT/search_tpe,
OUT/search_random). Its trained, feasible trials (trials/NNNN/trial.json and model.tflite) are scored
again, int8, at the task's field SNR: on the validation split with --draws fixed noise draws per clip
(draw d is the one `task.noise.val_draws` > d uses, draw 0 the single draw of val_draws=1) and on the
test split with one draw (what bench/vs_reference.py reports) and with --draws draws (a steadier
figure of the same clips). Overrides must be the ones the search ran with (e.g.
'task.noise.train_snr_db=[0,20]'; only task and data settings matter here).

Printed per folder:
- the noise draw's share of the validation variance: mean over clips of the per-clip variance across
  draws, over the variance of one example's correctness (the rest is which clips the split holds);
- Spearman's rank correlation of validation accuracy (one draw: mean over the draws taken alone;
  k draws together) with test accuracy (one draw, and --draws draws);
- the test accuracy of the candidate each rule would choose (the highest validation accuracy, as
  the search's `accuracy` objective chooses): one draw gives --draws choices (mean, min, max).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (ties get their mean rank)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 2 else float("nan")


def correct_per_draw(task, model: bytes, x: np.ndarray, y: np.ndarray, draws: int) -> np.ndarray:
    """[draws, clips] booleans: was each noisy example right (argmax, int8)."""
    s = task.score(model, x, y)
    return (s.probs.argmax(axis=1) == y).reshape(draws, -1)


def study(folder: Path, draws: int, overrides: list[str]) -> None:
    from bench._search import trained_trials
    from autotiny.config import compose
    from autotiny.data.cache import cached_features
    from autotiny.pipeline import TaskData

    cfg = compose(overrides)
    data = TaskData(cfg)
    snr = cfg.task.noise.field_snr_db
    if snr is None:
        raise SystemExit("task.noise.field_snr_db is null: no field SNR to study")
    rows = []
    for rec, spec, model in trained_trials(folder):
        per = {}
        for split in ("val", "test"):
            x, y = cached_features(data.dataset, split, spec.frontend, spec.frontend_params, data.cache_dir,
                                   snr_db=snr, draws=draws)
            per[split] = correct_per_draw(data.task, model, x, y, draws)
        rows.append((rec["number"], per["val"], per["test"]))
    if len(rows) < 3:
        print(f"{folder}: {len(rows)} trained feasible trials, too few to rank")
        return
    val = np.stack([r[1] for r in rows])  # [trials, draws, clips]
    test = np.stack([r[2] for r in rows])
    acc_val_draw = val.mean(axis=2)  # [trials, draws]
    acc_val_all = val.mean(axis=(1, 2))
    test_one, test_all = test[:, 0].mean(axis=1), test.mean(axis=(1, 2))

    p = val.mean(axis=1)  # per trial and clip: share of draws right
    within = (p * (1 - p)).mean(axis=1) * draws / (draws - 1)
    total = acc_val_all * (1 - acc_val_all)
    share = within / np.maximum(total, 1e-12)

    print(f"\n{folder}: {len(rows)} trained feasible trials, field SNR {snr:g} dB, {val.shape[2]} validation "
          f"and {test.shape[2]} test clips, {draws} draws")
    print(f"noise draw's share of the validation variance: {share.mean():.2f} (trials: {share.min():.2f}..{share.max():.2f})")
    print("| validation rule | Spearman vs test (1 draw) | vs test (%d draws) | chosen trial's test acc, 1 draw | "
          "its test acc, %d draws |" % (draws, draws))
    print("|---|---|---|---|---|")
    rho1 = [spearman(acc_val_draw[:, d], test_one) for d in range(draws)]
    rhok = [spearman(acc_val_draw[:, d], test_all) for d in range(draws)]
    chosen = [int(np.argmax(acc_val_draw[:, d])) for d in range(draws)]
    t1, tk = test_one[chosen], test_all[chosen]
    print(f"| one draw per clip (each of the {draws} alone: mean [min, max]) | {np.mean(rho1):.3f} [{min(rho1):.3f}, "
          f"{max(rho1):.3f}] | {np.mean(rhok):.3f} [{min(rhok):.3f}, {max(rhok):.3f}] | {t1.mean():.3f} [{t1.min():.3f}, "
          f"{t1.max():.3f}] | {tk.mean():.3f} [{tk.min():.3f}, {tk.max():.3f}] |")
    for k in sorted({4, draws}):
        if k > draws:
            continue
        acc_k = acc_val_draw[:, :k].mean(axis=1)
        c = int(np.argmax(acc_k))
        print(f"| {k} draws per clip (draws 0..{k - 1}) | {spearman(acc_k, test_one):.3f} | "
              f"{spearman(acc_k, test_all):.3f} | {test_one[c]:.3f} (trial {rows[c][0]}) | {test_all[c]:.3f} |")
    best = int(np.argmax(test_all))
    print(f"best on test ({draws} draws): trial {rows[best][0]}, {test_one[best]:.3f} (1 draw) / {test_all[best]:.3f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("items", nargs="+", metavar="DIR | override", help="search output folders, then overrides (key=value)")
    ap.add_argument("--draws", type=int, default=8)
    args = ap.parse_args()
    if args.draws < 2:
        ap.error("--draws must be at least 2")
    overrides = [i for i in args.items if "=" in i]
    for folder in (Path(i) for i in args.items if "=" not in i):
        study(folder, args.draws, overrides)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
