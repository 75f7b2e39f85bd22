"""Measure an int8 .tflite without firmware: size from the file, RAM from TFLM's arena,
latency and energy estimated from MACs and the board's cycles-per-MAC figure."""

from __future__ import annotations

import os
import re
import tempfile

import numpy as np

from autotiny.config import Board, Budget
from autotiny.errors import ModelError
from autotiny.measure import BudgetCheck, Figure, Measurement
from autotiny.tflite_model import read_tflite

ARENA_PROBE_BYTES = 8 << 20  # large enough for anything a microcontroller could hold


def tflm_arena_bytes(model: bytes, n_inputs: int = 1) -> int:
    """Arena TFLM actually allocated (host, 64-bit pointers), parsed from print_allocations()."""
    from tflite_micro import runtime

    try:
        interp = runtime.Interpreter.from_bytes(model, arena_size=ARENA_PROBE_BYTES)
    except RuntimeError as e:
        raise ModelError(f"TFLite Micro cannot load the model: {e}") from None
    for i in range(n_inputs):
        d = interp.get_input_details(i)
        interp.set_input(np.zeros(d["shape"], dtype=d["dtype"]), i)
    interp.invoke()
    # print_allocations writes from C++ to fd 2: capture the descriptor, not sys.stderr.
    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode(errors="replace")
    m = re.search(r"Arena allocation total (\d+) bytes", text)
    if not m:
        raise ModelError("could not read TFLite Micro's arena size from print_allocations()")
    return int(m.group(1))


def measure(model: bytes, board: Board) -> Measurement:
    parsed = read_tflite(model)
    macs = parsed.macs()
    cycles = macs * board.cycles_per_mac
    latency_ms = cycles / board.clock_hz * 1e3
    return Measurement(
        flash_bytes=Figure(len(model), "B", "file"),
        ram_bytes=Figure(tflm_arena_bytes(model, len(parsed.inputs)), "B", "tflm"),
        macs=Figure(macs, "MAC", "file"),
        latency_ms=Figure(latency_ms, "ms", "estimated"),
        energy_uj=Figure(latency_ms * board.active_power_mw, "uJ", "estimated"),  # ms × mW = µJ
        ops=parsed.op_counts(),
        notes=(f"flash = .tflite size only (no runtime code yet); RAM = TFLM arena on a 64-bit host",
               f"latency = {macs:,} MACs x {board.cycles_per_mac} cycles/MAC / {board.clock_hz / 1e6:g} MHz "
               f"({board.cycles_per_mac_source})",
               f"energy = latency x {board.active_power_mw} mW ({board.active_power_source})"),
    )


def check_budget(m: Measurement, budget: Budget, board: Board) -> BudgetCheck:
    limits = {"ram_bytes": budget.ram_bytes(board), "flash_bytes": budget.flash_bytes(board),
              "latency_ms": budget.latency_ms, "energy_uj": budget.energy_uj}
    violations, reasons = {}, []
    for key, limit in limits.items():
        fig: Figure = getattr(m, key)
        if limit is None:
            violations[key] = 0.0
            continue
        over = fig.value - limit
        violations[key] = over / limit  # relative, so constraints of different units weigh alike
        if over > 0:
            reasons.append(f"{key.rsplit('_', 1)[0]} {fig} > budget {limit:,.6g} {fig.unit}")
    return BudgetCheck(feasible=not reasons, violations=violations, reason="; ".join(reasons))
