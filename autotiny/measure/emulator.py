"""The built-in board emulator: run the firmware + a model blob on an emulated board and
turn the run into a Measurement.

    from autotiny.config import compose
    from autotiny.measure.emulator import emulate, measure_emulated
    board = compose(["board=stm32f746"]).board
    r = emulate(blob_bytes, board)               # EmulationResult: status, cycles, layers, output, ...
    m = measure_emulated(tflite_bytes, board)    # Measurement, every figure source 'emulated'

Three modules, one job each (details and every assumption: emulation/README.md):

* autotiny.measure.machine: Unicorn as the board's core, its real memory map (from the
  board record), the Private Peripheral Bus, fault hooks, the native cycle-counting hook;
* autotiny.measure.protocol: the firmware protocol: blob to its flash region, input at
  `__arena_start`, stack painted, run from reset to `autotiny_done`, mailbox status,
  output, stack high-water mark and per-layer cycles read back (`emulate`); one Machine
  per board record and process;
* this module: accounting and reporting: RAM used/reserved and flash
  (autotiny.firmware.account), latency from the board clock, energy from its active
  power (marked when that power is an assumption), the `autotiny measure` table.

This module re-exports the names other code imports (`emulate`, `machine`, `release`,
`Machine`, `MemoryMap`, ...).
"""

from __future__ import annotations

import numpy as np

from autotiny.errors import ModelError
from autotiny.measure.machine import (  # noqa: F401  (re-exported)
    CPACR, CPUID, DWT_CTRL, DWT_CYCCNT, PPB_BASE, PPB_SIZE, Machine, MemoryMap, build_native, memory_map,
)
from autotiny.measure.protocol import (  # noqa: F401  (re-exported)
    DEFAULT_MAX_INSTRUCTIONS, STACK_PAINT, EmulationResult, Layer, device_blob, discard, emulate, firmware_image,
    image_for, machine, release, status_name,
)
from autotiny.targets import target


def instruction_cap(board, latency_ms: float, blob_bytes: int = 0, margin: float = 2.0) -> int:
    """Instruction cap for a latency budget: a run that needs more instructions than
    budget x clock x (the core's issue width: 2 on the dual-issue M7) x margin cannot meet
    the budget, so it is stopped as runaway; plus the start-up's blob CRC check (~16 instr/byte)."""
    per_cycle = target(board.core).issue_width
    return int(latency_ms / 1e3 * board.clock_hz * per_cycle * margin) + 16 * blob_bytes + 100_000


def energy_figure(latency_ms: float, board, source: str):
    """latency x the board's active power (ms x mW = uJ), marked when that power is an assumption."""
    from autotiny.measure import Figure

    return Figure(latency_ms * board.active_power_mw, "uJ", source, assumption=board.assumption("active_power"))


def _ram_figures(acct):
    from autotiny.measure import Figure

    return {"ram_bytes": Figure(acct.ram_reserved, "B", "emulated"),
            "ram_used_bytes": Figure(acct.ram_used, "B", "emulated"), "ram": acct.ram_split()}


def measure_emulated(tflite_bytes: bytes, board, max_instructions: int | None = None,
                     input: np.ndarray | None = None, seed: int | None = None, sparse: bool = False):
    """Measure an int8 .tflite on the emulated board -> Measurement (figures 'emulated',
    MACs 'file').  `ram_bytes` is the RAM a device must reserve (static + arena + the
    stack reservation, firmware.STACK_RULE); `ram_used_bytes` what the run used (static +
    arena + painted peak stack); `ram` the split.  An infeasible run (fault, cap) gives a
    Measurement with `status` != 'ok', the reason in `fault` and in the notes, and inf
    latency/energy."""
    from autotiny import firmware
    from autotiny.measure import Figure, Measurement
    from autotiny.tflite_model import read_tflite

    parsed = read_tflite(bytes(tflite_bytes))
    b = device_blob(parsed, board, sparse)  # `sparse`: a pruned candidate, filters encoded where flash shrinks
    img = image_for(b, board)
    power_note = f"energy = latency x {board.active_power_mw:g} mW ({board.active_power_source})"
    if input is None and seed is not None:
        rng = np.random.default_rng(seed)
        if b.input_dtype in (np.int8, np.int16):
            info = np.iinfo(b.input_dtype)
            input = rng.integers(info.min, info.max + 1, size=b.input_shape, dtype=b.input_dtype)
        else:
            input = rng.standard_normal(b.input_shape).astype(b.input_dtype)
    try:
        firmware.check_fits(b, board, image=img)
    except ModelError as e:  # does not fit: infeasible without running
        acct = firmware.account(b, board, image=img)
        return Measurement(
            flash_bytes=Figure(acct.flash, "B", "emulated"), **_ram_figures(acct),
            macs=Figure(parsed.macs(), "MAC", "file"), latency_ms=Figure(float("inf"), "ms", "emulated"),
            energy_uj=energy_figure(float("inf"), board, "emulated"), ops=parsed.op_counts(),
            notes=(f"infeasible: {e}", "not run: " + acct.describe_ram(), power_note),
            status="infeasible", fault=str(e))
    r = emulate(b.data, board, input=input, max_instructions=max_instructions)
    acct = firmware.account(b, board, image=img, peak_stack=r.peak_stack_bytes)
    feasible = r.fault is None and r.status == 0
    latency = r.latency_ms if feasible else float("inf")
    t = target(board.core)
    notes = [
        f"emulated on {board.name} ({t.display_name(board.fpu)} @ {board.clock_hz / 1e6:g} MHz, Unicorn + cycle "
        f"model emulation/cycles/{board.core}.yaml): inference {r.cycles:,} cycles, {r.instructions:,} "
        f"instructions (whole run from reset incl. blob CRC check: {r.total_cycles:,} cycles); "
        f"{r.wall_s * 1e3:.0f} ms wall",
        acct.describe_ram() + "; " + acct.describe_flash(),
        power_note,
    ]
    if firmware.needs_sparse(b):
        notes.append(f"weights: pruned filters stored sparse (blob {b.sparse_saved:,} B smaller than dense; decoded "
                     "into the arena just before their layer, firmware with the decoder)")
    elif sparse:
        notes.append("weights: stored dense (the sparse encoding would not make flash smaller)")
    if acct.stack_reserved > acct.stack_region:
        notes.append(f"the stack reservation {acct.stack_reserved:,} B exceeds the {acct.stack_region:,} B stack "
                     f"region the measurement firmware links (board.stack_kb)")
    if not feasible:
        notes.append(f"infeasible: {r.fault or 'firmware status ' + str(r.status) + ' (' + r.status_name + ')'}")
    return Measurement(
        flash_bytes=Figure(acct.flash, "B", "emulated"),
        **_ram_figures(acct),
        macs=Figure(parsed.macs(), "MAC", "file"),
        latency_ms=Figure(latency, "ms", "emulated"),
        energy_uj=energy_figure(latency, board, "emulated"),
        ops=parsed.op_counts(),
        notes=tuple(notes),
        cycles=Figure(r.cycles, "cycles", "emulated"),
        instructions=Figure(r.instructions, "instr", "emulated"),
        peak_stack_bytes=Figure(r.peak_stack_bytes, "B", "emulated"),
        layers=tuple((ly.index, ly.op, ly.cycles, ly.instructions) for ly in r.layers),
        status="ok" if feasible else "infeasible",
        status_code=r.status,
        fault=r.fault if r.fault else (None if feasible else f"firmware status {r.status}: {r.status_name}"),
    )


def format_layers(layers, clock_hz: int) -> str:
    """Per-layer table (op index, op, cycles, instructions, ms, share)."""
    total = sum(ly[2] for ly in layers) or 1
    rows = [f"{'#':>3}  {'op':<20} {'cycles':>12} {'instr':>12} {'ms':>9} {'share':>6}"]
    for idx, op, cyc, ins in layers:
        rows.append(f"{idx:>3}  {op:<20} {cyc:>12,} {ins:>12,} {cyc / clock_hz * 1e3:>9.3f} {cyc / total:>6.1%}")
    return "\n".join(rows)




def format_ram(m) -> str:
    """'reserved R B (used U B): static + io + arena + stack reserved (peak P)', from Measurement.ram."""
    s = m.ram
    if not s:
        return ""
    return (f"reserved {s['reserved']:,} B = static {s['static']:,} + io {s['io']:,} + arena {s['arena']:,} + "
            f"stack {s['stack_reserved']:,} (peak {s['stack_peak']:,} + margin); used {s['used']:,} B")


def format_measurement(m, board, path: str = "") -> str:
    """The `autotiny measure ... emulator=builtin` table: figures, counters, RAM split, status, per-layer cycles."""
    t = target(board.core)
    lines = [f"{path} on {board.name} ({t.display_name(board.fpu)}, {board.clock_hz / 1e6:g} MHz, emulated)".lstrip()]
    for name, fig in m.figures().items():
        lines.append(f"  {name:16s} {fig}")
    for name in ("ram_used_bytes", "cycles", "instructions", "peak_stack_bytes"):
        fig = getattr(m, name)
        if fig is not None:
            lines.append(f"  {name:16s} {fig}")
    if m.ram:
        lines.append(f"  {'ram split':16s} {format_ram(m)}")
    lines.append(f"  {'status':16s} {m.status}" + (f" ({m.fault})" if m.fault else "")
                 + (f", firmware status {m.status_code}" if m.status_code is not None else ""))
    if m.ops:
        lines.append("  ops              " + ", ".join(f"{k}x{v}" for k, v in m.ops.items()))
    if m.layers:
        lines.append("  per layer:")
        lines.extend("    " + row for row in format_layers(m.layers, board.clock_hz).splitlines())
    lines.extend(f"  note: {n}" for n in m.notes)
    return "\n".join(lines)
