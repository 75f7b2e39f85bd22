"""Pick the measurement backend the config names (`emulator=`) and judge figures against the budget."""

from __future__ import annotations

import shutil

from autotiny.config import Board, Budget, RunConfig
from autotiny.errors import ConfigError
from autotiny.measure import BudgetCheck, Figure, Measurement


def ensure_available(cfg: RunConfig) -> None:
    """Fail before the study starts, not in every trial, when the backend cannot run here."""
    if cfg.emulator.name != "builtin":
        return
    from autotiny.targets import target

    cc = target(cfg.board.core).compiler
    if shutil.which(cc) is None:
        raise ConfigError(f"emulator=builtin needs {cc} to build the firmware (make setup installs it: "
                          "apt-get install --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi); "
                          "or choose emulator=estimate")


def measure(model: bytes, cfg: RunConfig, seed: int = 0, spec=None) -> Measurement:
    """The model's figures on the board; with the candidate `spec`, the emulator also runs its
    front-end on the device where one exists (autotiny.frontends.device) on the task's raw input
    (Task.raw_shape: a picture's source size) and adds its cost."""
    if cfg.emulator.name == "estimate":
        from autotiny.measure.tflite import measure as estimate

        return estimate(model, cfg.board)
    from autotiny.measure.emulator import instruction_cap, measure_emulated

    cap = cfg.emulator.max_instructions
    if cap is None and cfg.budget.latency_ms:
        cap = instruction_cap(cfg.board, cfg.budget.latency_ms, blob_bytes=len(model))
    m = measure_emulated(model, cfg.board, max_instructions=cap, seed=seed,
                         sparse=spec is not None and spec.sparsity > 0)
    if spec is None:
        return m
    from autotiny.frontends.device import with_frontend
    from autotiny.tasks import get_task

    return with_frontend(m, cfg.board, spec.frontend, spec.frontend_params, model=model,
                         raw_shape=get_task(cfg.task).raw_shape(cfg))


def check_budget(m: Measurement, budget: Budget, board: Board) -> BudgetCheck:
    """Constraint values are relative overshoots (> 0 violated), so figures of any unit weigh alike.
    RAM is judged by `m.ram_bytes`: what a device must reserve (with the stack reservation), not
    the bytes one run touched (`m.ram_used_bytes`)."""
    limits = {"ram_bytes": budget.ram_bytes(board), "flash_bytes": budget.flash_bytes(board),
              "latency_ms": budget.latency_ms, "energy_uj": budget.energy_uj}
    violations, reasons = {}, []
    if m.status != "ok":  # fault, unmapped access, instruction cap: it cannot run on the board
        violations["runs"] = 1.0
        reasons.append(f"does not run on {board.name}: {m.fault}")
    else:
        violations["runs"] = 0.0
    for key, limit in limits.items():
        fig: Figure = getattr(m, key)
        if limit is None:
            violations[key] = 0.0
            continue
        over = fig.value - limit
        violations[key] = min(over / limit, 1e6)  # finite: an emulation that never finished is inf
        if over > 0 and m.status == "ok":
            what = "ram reserved" if key == "ram_bytes" and m.ram else key.rsplit('_', 1)[0]
            reasons.append(f"{what} {fig} > budget {limit:,.6g} {fig.unit}")
    return BudgetCheck(feasible=not reasons, violations=violations, reason="; ".join(reasons))
