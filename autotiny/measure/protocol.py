"""The firmware protocol: load a model blob and an input into an emulated board, run the
firmware from reset, read back the mailbox status, the output tensor, the painted stack's
high-water mark and the per-layer cycle marks.

    from autotiny.config import compose
    from autotiny.measure.protocol import emulate
    r = emulate(blob_bytes, compose(["board=stm32f746"]).board)   # EmulationResult

Owns: the firmware's fixed addresses as its ELF names them (`__blob_start`,
`__slot_size`, `__slot_count`, `__arena_start`, `at_mb`, `at_output`, `__stack_top`), stack
painting, the mailbox layout (model slots: words 16-27), and one Machine per board record and process (keyed by the whole record, so an
override such as board.ram_kb=128 gets its own firmware and memory map).  The machine
itself is autotiny.measure.machine; figures and reports are autotiny.measure.emulator.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from autotiny.errors import ModelError
from autotiny.measure.machine import Machine, memory_map

STACK_PAINT = 0xC5C5C5C5
DEFAULT_MAX_INSTRUCTIONS = 2_000_000_000  # ~5 s of emulation; the search passes its latency budget

STATUS_RUNNING = 0x52554E00
STATUS_FAULT = 0x46415400
MAILBOX_WORDS = 64
MAILBOX_MAGIC = 0x424D5441  # "ATMB"

# ---------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class Layer:
    index: int  # op index in the blob
    op: str  # op name (CONV_2D, ...)
    cycles: int
    instructions: int


@dataclass
class EmulationResult:
    status: int  # the firmware's status code (mailbox word 1); -1 when the run never set one
    status_name: str
    fault: str | None  # reason the run is infeasible (fault, unmapped access, cap hit), None when it ran
    fault_address: int | None  # the offending data/fetch address, when there is one
    fault_pc: int | None
    cycles: int  # inference: from the first layer's start to the last layer's end
    instructions: int  # same span
    layers: list[Layer] = field(default_factory=list)
    total_cycles: int = 0  # the whole run from reset: start-up, blob validation (CRC), inference, output copy
    total_instructions: int = 0
    peak_stack_bytes: int = 0
    output: np.ndarray | None = None
    wall_s: float = 0.0
    board: str = ""
    core: str = ""
    clock_hz: int = 0
    active_slot: int = -1  # the model slot that ran; -1: a bare blob (no slot header in flash)
    slot_status: list[int] = field(default_factory=list)  # per slot: autotiny.slots.slot_status_names()
    version: tuple[int, int, int] | None = None  # the running slot's model version

    @property
    def ok(self) -> bool:
        return self.fault is None and self.status == 0

    @property
    def latency_ms(self) -> float:
        return self.cycles / self.clock_hz * 1e3 if self.clock_hz else 0.0


def status_name(code: int) -> str:
    from autotiny.blob import STATUS_NAMES

    if code == STATUS_RUNNING:
        return "still running"
    if code == STATUS_FAULT:
        return "fault handler entered"
    if code == -1:
        return "no status (firmware never started)"
    from autotiny import slots

    if code == slots.no_slot_status():
        return "no model slot holds a model this firmware can run"
    return STATUS_NAMES.get(code, f"unknown status {code:#x}")


# ---------------------------------------------------------------------------
# one Machine per board record and process


_machines: dict[tuple, Machine] = {}
_machines_lock = threading.Lock()
_images: dict[object, object] = {}


def firmware_image(board, int16: bool = False, sparse: bool = False):
    """autotiny.firmware.build for a board record (`int16`: with the 16x8 op rows, `sparse`: with the
    sparse-filter decoder), memoized per process by the whole record (the build hashes all sources on
    each call)."""
    from autotiny import firmware

    with _machines_lock:
        img = _images.get((board, int16, sparse))
    if img is None:
        img = firmware.build(board, int16=int16, sparse=sparse)
        with _machines_lock:
            _images[board, int16, sparse] = img
    return img


def image_for(blob, board):
    """The firmware a blob runs on: with the 16x8 rows and the sparse decoder only where it needs them."""
    from autotiny import firmware

    return firmware_image(board, *firmware.needs(blob))


def device_blob(tflite, board, sparse: bool = False, source: str | None = None):
    """The model blob the device gets: dense, or for a pruned candidate (`sparse`) its filters in the
    sparse encoding (autotiny.blob.sparse) where that makes the board's flash (firmware with the
    decoder + model slots) smaller than the dense blob on the firmware without it; else dense.
    Measurement, layer figures and export all take it from here, so they agree."""
    from autotiny import blob as blobmod
    from autotiny import firmware
    from autotiny.tflite_model import TfliteModel, read_tflite

    parsed = tflite if isinstance(tflite, TfliteModel) else read_tflite(bytes(tflite))
    dense = blobmod.from_tflite(parsed, source)
    if not sparse:
        return dense
    packed = blobmod.from_tflite(parsed, source, sparse=True)
    if not firmware.needs_sparse(packed):
        return dense

    def flash(b) -> int:
        return firmware.account(b, board, image=image_for(b, board)).flash

    return packed if flash(packed) < flash(dense) else dense


def machine(board, cycle_model: bool = True, int16: bool = False, sparse: bool = False) -> Machine:
    """The per-process Machine for a board record (built on first use); `int16`: the firmware
    with the 16x8 op rows (what a model that autotiny.firmware.needs_int16 runs on); `sparse`: with
    the sparse-filter decoder (autotiny.firmware.needs_sparse)."""
    img = firmware_image(board, int16, sparse)
    key = (board, str(img.elf), cycle_model)
    with _machines_lock:
        m = _machines.get(key)
        if m is None:
            m = _machines[key] = Machine(board.core, memory_map(board), elf=img.elf, cycle_model=cycle_model)
        return m


def release() -> None:
    """Drop every cached Machine (Unicorn instances, block tables) of this process."""
    import gc

    with _machines_lock:
        _machines.clear()
    gc.collect()


def discard(m: Machine) -> None:
    """Forget one Machine (after a fault: the next run sets up a clean one)."""
    with _machines_lock:
        for k, v in list(_machines.items()):
            if v is m:
                del _machines[k]


# ---------------------------------------------------------------------------
# public API


def emulate(blob_bytes: bytes, board, input: np.ndarray | None = None,
            max_instructions: int | None = None, cycle_model: bool = True,
            on: Machine | None = None, slots: list[bytes | None] | None = None) -> EmulationResult:
    """Run one inference of a model blob on the emulated board.

    `board` is the board record (autotiny.config.Board); `input` an array of the
    model's input shape/dtype (None: zeros); `on` a Machine to use instead of the
    board's own (tests: firmware and memory map deliberately mismatched).  A fault,
    an unmapped access or the instruction cap gives a result with `fault` set (and
    `ok` False) instead of raising; ModelError only for a blob that cannot even be
    loaded (too large for a model slot, bad header).

    `slots`: what flash holds in each model slot (autotiny.slots.slot_image bytes, None for an
    erased slot); the firmware picks the model, and `blob_bytes` is the model whose input is given
    and whose output is read.  Without it the bare blob sits in slot 0 and the other slots'
    headers are erased: the firmware runs it as a factory image."""
    from autotiny import firmware
    from autotiny.blob import load_blob

    t0 = time.perf_counter()
    blob = load_blob(bytes(blob_bytes))
    m = on if on is not None else machine(board, cycle_model, *firmware.needs(blob))
    syms = m.symbols
    blob_start, slot_size = syms["__blob_start"], syms["__slot_size"]
    if slots is None and blob.size > slot_size:
        raise ModelError(f"blob {blob.size:,} B does not fit a {board.name} model slot "
                         f"({slot_size:,} B at {blob_start:#010x})")
    with m.lock:
        return _emulate_locked(m, blob, board, input, max_instructions, t0, slots)


def _write_slots(m: Machine, blob, slots) -> None:
    syms = m.symbols
    start, size, count = syms["__blob_start"], syms["__slot_size"], syms["__slot_count"]
    if slots is None:  # the bare blob in slot 0; every other slot's header erased
        m.write(start, blob.data)
        for i in range(1, count):
            m.write(start + i * size, b"\xff" * 128)
        return
    if len(slots) > count:
        raise ValueError(f"{len(slots)} slot images for a firmware with {count} model slots")
    for i in range(count):
        image = slots[i] if i < len(slots) and slots[i] is not None else b""
        m.write(start + i * size, bytes(image[:size]) + b"\xff" * (size - min(len(image), size)))


def _emulate_locked(m: Machine, blob, board, input, max_instructions, t0, slots=None) -> EmulationResult:
    from autotiny.blob import OPCODE_NAMES

    syms = m.symbols
    arena = syms["__arena_start"]
    out_addr = syms["at_output"]
    mb = syms["at_mb"]
    # inputs
    _write_slots(m, blob, slots)
    if input is None:
        x = np.zeros(blob.input_shape, dtype=blob.input_dtype)
    else:
        x = np.ascontiguousarray(input)
        if x.dtype != blob.input_dtype or x.size != int(np.prod(blob.input_shape)):
            raise ValueError(f"input {x.dtype}{list(x.shape)}; the model expects "
                             f"{blob.input_dtype}{list(blob.input_shape)}")
    arena_room = m.mem.ram_base + m.mem.ram_size - arena
    if x.nbytes > arena_room:
        raise ModelError(f"input of {x.nbytes:,} B does not fit {board.name}'s RAM above the arena start")
    m.write(arena, x.tobytes())
    m.write(mb, bytes(4 * MAILBOX_WORDS))
    out_nbytes = int(np.prod(blob.output_shape)) * blob.output_dtype.itemsize
    m.write(out_addr, bytes(out_nbytes))
    lo, hi = m.stack_lo - m.mem.ram_base, m.stack_hi - m.mem.ram_base
    m.ram[lo:hi].view(np.uint32)[:] = STACK_PAINT
    # run
    info = m.run(max_instructions or DEFAULT_MAX_INSTRUCTIONS)
    # read back
    words = np.frombuffer(m.read(mb, 4 * MAILBOX_WORDS), dtype=np.uint32)
    status = int(words[1]) if words[0] == MAILBOX_MAGIC else -1
    stack = m.ram[lo:hi].view(np.uint32)
    used = np.flatnonzero(stack != STACK_PAINT)
    peak = (hi - lo) - int(used[0]) * 4 if used.size else 0
    output = None
    if info["fault"] is None and status == 0:
        output = np.frombuffer(m.read(out_addr, out_nbytes), dtype=blob.output_dtype).reshape(
            blob.output_shape).copy()
    events = m.events()
    layers = _layers(events, blob.op_names, OPCODE_NAMES)
    starts = [e for e in events if e[2] == 0]
    ends = [e for e in events if e[2] == 1]
    if starts and ends:
        inf_cycles, inf_insns = ends[-1][3] - starts[0][3], ends[-1][4] - starts[0][4]
    else:  # never reached the first layer (fault, firmware error)
        inf_cycles, inf_insns = info["cycles"], info["insns"]
    n_slots = int(words[16]) if status != -1 else 0
    slot_status = [int(w) for w in words[20:20 + min(n_slots, 8)]]
    active = int(words[17]) if n_slots else -1
    version = None
    if active != -1 and active < n_slots:
        version = (int(words[18]) >> 16, int(words[18]) & 0xFFFF, int(words[19]))
    else:
        active = -1
    if info["fault"] is not None:
        discard(m)  # the CPU may be in an odd state: start clean next time
    return EmulationResult(status=status, status_name=status_name(status), fault=info["fault"],
                           fault_address=info["fault_address"], fault_pc=info["fault_pc"],
                           cycles=inf_cycles, instructions=inf_insns, layers=layers,
                           total_cycles=info["cycles"], total_instructions=info["insns"],
                           peak_stack_bytes=peak, output=output, wall_s=time.perf_counter() - t0,
                           board=board.name, core=board.core, clock_hz=board.clock_hz,
                           active_slot=active, slot_status=slot_status, version=version)


def _layers(events, op_names, opcode_names) -> list[Layer]:
    out, start = [], {}
    for op, opcode, phase, cyc, ins in events:
        if phase == 0:
            start[op] = (cyc, ins)
        elif op in start:
            c0, i0 = start.pop(op)
            name = op_names[op] if op < len(op_names) else opcode_names.get(opcode, f"op{opcode}")
            out.append(Layer(op, name, cyc - c0, ins - i0))
    return out

