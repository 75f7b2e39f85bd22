"""Measure an int8 .tflite without firmware: size from the file, RAM from TFLM's arena,
latency and energy estimated from MACs and the board's cycles-per-MAC figure."""

from __future__ import annotations

import re

import numpy as np

from autotiny.blob import from_tflite
from autotiny.config import Board
from autotiny.errors import ModelError
from autotiny.measure import Figure, Measurement
from autotiny.tflite_model import read_tflite

ARENA_PROBE_BYTES = 8 << 20  # large enough for anything a microcontroller could hold


def _allocation_total(interp) -> int | None:
    """TFLM's own arena total, parsed from print_allocations() (written from C++ to fd 2)."""
    from autotiny.compress import quiet_stderr

    with quiet_stderr() as err:
        interp.print_allocations()
    m = re.search(r"Arena allocation total (\d+) bytes", err["text"])
    return int(m.group(1)) if m else None


def _invoke(model: bytes, arena: int, n_inputs: int) -> tuple[object | None, str]:
    """TFLM interpreter after one invoke on zero inputs, or None when `arena` is too small;
    plus what TFLM printed (failed allocations go to fd 2)."""
    from tflite_micro import runtime

    from autotiny.compress import quiet_stderr

    interp = None
    with quiet_stderr() as err:
        try:
            interp = runtime.Interpreter.from_bytes(model, arena_size=arena)
            for i in range(n_inputs):
                d = interp.get_input_details(i)
                interp.set_input(np.zeros(d["shape"], dtype=d["dtype"]), i)
            interp.invoke()
        except RuntimeError:
            interp = None
    return interp, err["text"]


def tflm_arena_bytes(model: bytes, n_inputs: int = 1, resolution: int = 16) -> int:
    """Smallest arena (host, 64-bit pointers) TFLM runs the model in, to `resolution` bytes.

    The allocation total TFLM reports omits alignment slack (hundreds of bytes on small
    models), so it only seeds a bisection over arena sizes that really work.
    """
    interp, text = _invoke(model, ARENA_PROBE_BYTES, n_inputs)
    if interp is None:
        last = text.strip().splitlines()[-1] if text.strip() else "no message"
        raise ModelError(f"TFLite Micro cannot run the model: {last}")

    def runs(arena: int) -> bool:
        return _invoke(model, arena, n_inputs)[0] is not None

    seed = _allocation_total(interp) or ARENA_PROBE_BYTES // 2
    lo, hi = seed // 2, seed  # invariant: hi runs, lo does not
    while not runs(hi):
        lo, hi = hi, min(hi * 2, ARENA_PROBE_BYTES)
    while runs(lo) and lo > resolution:
        lo //= 2
    while hi - lo > resolution:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if runs(mid) else (mid, hi)
    return hi


def measure(model: bytes, board: Board) -> Measurement:
    parsed = read_tflite(model)
    from_tflite(parsed)  # as the built-in backend does first: both refuse the same models, same ModelError
    macs = parsed.macs()
    cycles = macs * board.cycles_per_mac
    latency_ms = cycles / board.clock_hz * 1e3
    return Measurement(
        flash_bytes=Figure(len(model), "B", "file"),
        ram_bytes=Figure(tflm_arena_bytes(model, len(parsed.inputs)), "B", "tflm"),
        macs=Figure(macs, "MAC", "file"),
        latency_ms=Figure(latency_ms, "ms", "estimated"),
        energy_uj=Figure(latency_ms * board.active_power_mw, "uJ", "estimated",  # ms × mW = µJ
                         assumption=board.assumption("active_power")),
        ops=parsed.op_counts(),
        notes=("flash = .tflite size only (no firmware); RAM = TFLM arena on a 64-bit host",
               f"latency = {macs:,} MACs x {board.cycles_per_mac} cycles/MAC / {board.clock_hz / 1e6:g} MHz "
               f"({board.cycles_per_mac_source})",
               f"energy = latency x {board.active_power_mw} mW ({board.active_power_source})"),
    )
