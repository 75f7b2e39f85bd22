"""Built-in board emulator: run the firmware + a model blob on Unicorn with a cycle model.

    from autotiny.config import compose
    from autotiny.measure.emulator import emulate, measure_emulated
    board = compose(["board=stm32f746"]).board
    r = emulate(blob_bytes, board)               # EmulationResult: status, cycles, layers, output, ...
    m = measure_emulated(tflite_bytes, board)    # Measurement, every figure source 'emulated'

What happens (details and every assumption: emulation/README.md):

* the board's firmware ELF (autotiny.firmware.build, cached) is loaded into a
  Unicorn Cortex-M4/M7 whose flash and SRAM have the real chip's sizes and
  addresses (conf/board); anything else is unmapped, so a stray access is a fault
  reported with its address.  The Private Peripheral Bus (0xE0000000-0xE00FFFFF,
  SCS + DWT) is emulated: CPACR and other writes are accepted, DWT CYCCNT reads
  return the cycle model's running count;
* the blob is written to the firmware's blob flash region, the input at
  `__arena_start`; the stack (bottom of RAM) is painted; the run goes from the
  reset vector until `autotiny_done`;
* a native Unicorn block hook (emulation/native/block_hook.c, built with the
  system cc at first use) counts instructions and cycles per basic block from
  static per-block costs (autotiny.measure.cycles: capstone + the per-core
  tables in emulation/cycles/) plus run-time branch penalties, and records the
  cycle count at every `autotiny_layer_boundary` call (per-layer cycles);
* afterwards: the mailbox status, the output tensor, the painted stack's
  high-water mark.

One set-up (Unicorn + ELF + hook + block table) is kept per board and process,
so a measurement after the first costs the run itself plus ~1 ms.
"""

from __future__ import annotations

import ctypes
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autotiny.config import package_dir
from autotiny.errors import AutotinyError, ModelError

NATIVE_SRC = package_dir("emulation") / "native" / "block_hook.c"
NATIVE_CFLAGS = ["-O3", "-fPIC", "-shared", "-Wall", "-Wextra"]

STACK_PAINT = 0xC5C5C5C5
DEFAULT_MAX_INSTRUCTIONS = 2_000_000_000  # ~5 s of emulation; the search passes its latency budget
MAX_EVENTS = 1 << 14
TABLE_BITS = 16  # hash index size (2x the pool: load factor <= 0.5)
MAX_BLOCKS = 1 << 15  # distinct basic blocks (a whole MLPerf Tiny model uses ~500)

STATUS_RUNNING = 0x52554E00
STATUS_FAULT = 0x46415400
MAILBOX_WORDS = 64

# PPB registers the emulator answers (everything else reads as last written, or 0)
DWT_CTRL = 0xE0001000
DWT_CYCCNT = 0xE0001004
CPUID = 0xE000ED00
CPACR = 0xE000ED88
CPUID_VALUES = {"cortex-m4": 0x410FC241, "cortex-m7": 0x411FC270}
PPB_BASE, PPB_SIZE = 0xE0000000, 0x00100000

_UNICORN_CPU = {"cortex-m4": "UC_CPU_ARM_CORTEX_M4", "cortex-m7": "UC_CPU_ARM_CORTEX_M7"}


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
    return STATUS_NAMES.get(code, f"unknown status {code:#x}")


# ---------------------------------------------------------------------------
# native hook


class _Block(ctypes.Structure):
    _fields_ = [("addr", ctypes.c_uint32), ("size", ctypes.c_uint32), ("insns", ctypes.c_uint32),
                ("cycles", ctypes.c_uint32), ("pen", ctypes.c_uint32 * 4), ("last", ctypes.c_uint32),
                ("end", ctypes.c_uint32), ("count", ctypes.c_uint64), ("succ", ctypes.c_void_p * 2)]


class _Event(ctypes.Structure):
    _fields_ = [("op", ctypes.c_uint32), ("opcode", ctypes.c_uint32), ("phase", ctypes.c_uint32),
                ("pad", ctypes.c_uint32), ("cycles", ctypes.c_uint64), ("insns", ctypes.c_uint64)]


_MISS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(_Block))


class _State(ctypes.Structure):
    _fields_ = [("cycles", ctypes.c_uint64), ("insns", ctypes.c_uint64),
                ("max_insns", ctypes.c_uint64), ("cap_hit", ctypes.c_uint32), ("miss_error", ctypes.c_uint32),
                ("boundary_addr", ctypes.c_uint32), ("n_events", ctypes.c_uint32),
                ("cap_events", ctypes.c_uint32), ("mask", ctypes.c_uint32), ("n_blocks", ctypes.c_uint32),
                ("cap_blocks", ctypes.c_uint32), ("prev", ctypes.c_void_p), ("index", ctypes.POINTER(ctypes.c_uint32)),
                ("pool", ctypes.POINTER(_Block)), ("events", ctypes.POINTER(_Event)), ("miss", _MISS_FN), ("reg_read", ctypes.c_void_p),
                ("stop", ctypes.c_void_p), ("reg_r0", ctypes.c_int), ("pad", ctypes.c_int)]


_native_lock = threading.Lock()
_native_lib = None


def build_native(force: bool = False) -> Path:
    """Compile emulation/native/block_hook.c with the system cc (cached by source hash)."""
    from autotiny.runtime import build_shared

    return build_shared("at_emuhook", [NATIVE_SRC], [], NATIVE_CFLAGS, "the emulator's block hook", force=force)


def _native() -> ctypes.CDLL:
    global _native_lib
    with _native_lock:
        if _native_lib is None:
            lib = ctypes.CDLL(str(build_native()))
            lib.at_state_size.restype = ctypes.c_uint32
            lib.at_block_size.restype = ctypes.c_uint32
            if lib.at_state_size() != ctypes.sizeof(_State) or lib.at_block_size() != ctypes.sizeof(_Block):
                raise AutotinyError("emulator hook: C and ctypes struct layouts differ")
            _native_lib = lib
        return _native_lib


# ---------------------------------------------------------------------------
# the machine: one Unicorn + firmware + hook per board and process


@dataclass(frozen=True)
class MemoryMap:
    flash_base: int
    flash_size: int
    ram_base: int
    ram_size: int

    def describe(self) -> str:
        return (f"flash {self.flash_base:#010x}-{self.flash_base + self.flash_size - 1:#010x}, "
                f"RAM {self.ram_base:#010x}-{self.ram_base + self.ram_size - 1:#010x}, "
                f"PPB {PPB_BASE:#010x}-{PPB_BASE + PPB_SIZE - 1:#010x}")


def _elf_facts(elf: Path) -> tuple[list[tuple[int, bytes]], dict[str, int], dict[str, int]]:
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        e = ELFFile(f)
        segs = [(s["p_paddr"], s.data()) for s in e.iter_segments()
                if s["p_type"] == "PT_LOAD" and s["p_filesz"] > 0]
        symtab = list(e.get_section_by_name(".symtab").iter_symbols())
        syms = {s.name: s["st_value"] for s in symtab if s.name}
        funcs = {s.name: s["st_value"] for s in symtab if s.name and s["st_info"]["type"] == "STT_FUNC"}
    return segs, syms, funcs


class Machine:
    """Unicorn set up with a board's firmware, memory map, PPB and the native block hook.

    `core` picks the cycle table (cortex-m4 / cortex-m7); `elf` the firmware (or any
    image with the same symbols: tests use hand-written ones)."""

    def __init__(self, core: str, mem: MemoryMap, elf: Path | None = None,
                 image: list[tuple[int, bytes]] | None = None, symbols: dict[str, int] | None = None,
                 cycle_model: bool = True):
        import unicorn as U
        from unicorn import arm_const as A
        from unicorn.unicorn_py3.unicorn import uclib

        from autotiny.measure import cycles

        self.core, self.mem, self.elf = core, mem, elf
        self.cycle_model = cycle_model
        cycles.table(core)  # fail early on an unknown core
        funcs: dict[str, int] = {}
        if elf is not None:
            image, symbols, funcs = _elf_facts(elf)
        self.symbols = dict(symbols or {})
        self.func_symbols = funcs
        self.uc = uc = U.Uc(U.UC_ARCH_ARM, U.UC_MODE_THUMB | U.UC_MODE_MCLASS)
        uc.ctl_set_cpu_model(getattr(A, _UNICORN_CPU[core]))
        # flash and RAM backed by numpy arrays: host reads/writes need no copies
        self.flash = np.zeros(mem.flash_size, dtype=np.uint8)
        self.ram = np.zeros(mem.ram_size, dtype=np.uint8)
        uc.mem_map_ptr(mem.flash_base, mem.flash_size, U.UC_PROT_READ | U.UC_PROT_EXEC, self.flash.ctypes.data)
        uc.mem_map_ptr(mem.ram_base, mem.ram_size, U.UC_PROT_ALL, self.ram.ctypes.data)
        self.ppb: dict[int, int] = {CPUID: CPUID_VALUES[core]}
        uc.mmio_map(PPB_BASE, PPB_SIZE, self._ppb_read, None, self._ppb_write, None)
        for addr, data in image or []:
            off = addr - mem.flash_base
            if not (0 <= off and off + len(data) <= mem.flash_size):
                raise AutotinyError(f"firmware segment at {addr:#x} ({len(data)} B) is outside flash ({mem.describe()})")
            self.flash[off:off + len(data)] = np.frombuffer(data, dtype=np.uint8)
        self.sp0, self.pc0 = struct.unpack_from("<2I", self.flash, 0 if not image else image[0][0] - mem.flash_base)
        self.done = self.symbols.get("autotiny_done", 0) & ~1
        self.stack_lo = mem.ram_base
        self.stack_hi = self.symbols.get("__stack_top", self.sp0)
        # fault hooks (Python: they fire only when something goes wrong)
        self._fault: dict | None = None
        uc.hook_add(U.UC_HOOK_MEM_UNMAPPED, self._on_unmapped)
        uc.hook_add(U.UC_HOOK_MEM_PROT, self._on_prot)
        uc.hook_add(U.UC_HOOK_INTR, self._on_intr)
        # native block hook
        self.lib = _native()
        self._index = (ctypes.c_uint32 * (1 << TABLE_BITS))()
        self._pool = (_Block * MAX_BLOCKS)()
        self._events = (_Event * MAX_EVENTS)()
        self._miss_cb = _MISS_FN(self._on_miss)
        st = self.state = _State()
        st.mask = (1 << TABLE_BITS) - 1
        st.cap_blocks = MAX_BLOCKS
        st.index = ctypes.cast(self._index, ctypes.POINTER(ctypes.c_uint32))
        st.pool = ctypes.cast(self._pool, ctypes.POINTER(_Block))
        st.events = ctypes.cast(self._events, ctypes.POINTER(_Event))
        st.cap_events = MAX_EVENTS
        st.miss = self._miss_cb
        st.reg_read = ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p).value
        st.stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
        st.reg_r0 = A.UC_ARM_REG_R0
        assert A.UC_ARM_REG_R1 == A.UC_ARM_REG_R0 + 1 and A.UC_ARM_REG_R2 == A.UC_ARM_REG_R0 + 2
        st.boundary_addr = self.symbols.get("autotiny_layer_boundary", 0) & ~1
        self._hook_handle = ctypes.c_size_t()
        if cycle_model:
            fn = ctypes.cast(self.lib.at_block_hook, ctypes.c_void_p)
            err = uclib.uc_hook_add(uc._uch, ctypes.byref(self._hook_handle), U.UC_HOOK_BLOCK, fn,
                                    ctypes.cast(ctypes.pointer(st), ctypes.c_void_p), 1, 0)
            if err != 0:
                raise AutotinyError(f"uc_hook_add(UC_HOOK_BLOCK) failed: {U.UcError(err)}")
        self._miss_error: str | None = None
        self.lock = threading.Lock()  # one run at a time per machine

    # --- PPB (SCS + DWT) -------------------------------------------------
    def _ppb_read(self, uc, offset, size, _ud):
        addr = PPB_BASE + offset
        if addr == DWT_CYCCNT:
            return self.state.cycles & 0xFFFFFFFF
        return self.ppb.get(addr & ~3, 0)

    def _ppb_write(self, uc, offset, size, value, _ud):
        self.ppb[(PPB_BASE + offset) & ~3] = value & 0xFFFFFFFF

    # --- faults ------------------------------------------------------------
    def _pc(self) -> int:
        from unicorn import arm_const as A

        return self.uc.reg_read(A.UC_ARM_REG_PC)

    def _on_unmapped(self, uc, access, address, size, value, _ud):
        import unicorn as U

        kind = {U.UC_MEM_READ_UNMAPPED: "read", U.UC_MEM_WRITE_UNMAPPED: "write",
                U.UC_MEM_FETCH_UNMAPPED: "fetch"}.get(access, "access")
        self._fault = {"kind": kind, "address": address, "size": size, "pc": self._pc()}
        return False

    def _on_prot(self, uc, access, address, size, value, _ud):
        import unicorn as U

        kind = {U.UC_MEM_WRITE_PROT: "write to read-only memory", U.UC_MEM_READ_PROT: "read-protected",
                U.UC_MEM_FETCH_PROT: "execute from non-executable memory"}.get(access, "protection")
        self._fault = {"kind": kind, "address": address, "size": size, "pc": self._pc()}
        return False

    def _on_intr(self, uc, intno, _ud):
        self._fault = {"kind": "exception", "intno": intno, "pc": self._pc()}
        uc.emu_stop()

    def _on_miss(self, addr, size, out):
        from autotiny.measure import cycles

        try:
            code = self.read(addr, size)
            c = cycles.block_cost(self.core, code, addr)
            b = out.contents
            b.insns, b.cycles, b.last = c.insns, c.cycles, c.initial_taken
            for k in range(4):
                b.pen[k] = c.pen[k]
            return 0
        except Exception as e:  # never let an exception cross the C boundary
            self._miss_error = f"cycle model failed on the block at {addr:#x} ({size} B): {e!r}"
            return 1

    # --- memory ------------------------------------------------------------
    def _region(self, addr: int, size: int) -> tuple[np.ndarray, int]:
        m = self.mem
        if m.flash_base <= addr and addr + size <= m.flash_base + m.flash_size:
            return self.flash, addr - m.flash_base
        if m.ram_base <= addr and addr + size <= m.ram_base + m.ram_size:
            return self.ram, addr - m.ram_base
        raise ModelError(f"{size} B at {addr:#010x} is outside the emulated memory ({m.describe()})")

    def read(self, addr: int, size: int) -> bytes:
        buf, off = self._region(addr, size)
        return buf[off:off + size].tobytes()

    def write(self, addr: int, data: bytes) -> None:
        buf, off = self._region(addr, len(data))
        buf[off:off + len(data)] = np.frombuffer(bytes(data), dtype=np.uint8)

    # --- running -----------------------------------------------------------
    def reset_counters(self) -> None:
        st = self.state
        st.cycles = st.insns = 0
        st.cap_hit = st.miss_error = 0
        st.n_events = 0
        st.prev = None

    def run(self, max_instructions: int | None, start: int | None = None, until: int | None = None,
            sp: int | None = None) -> dict:
        """Run from the reset vector (or `start`) until `autotiny_done` (or `until`).
        Returns a dict with fault info (or none) and the counters."""
        import unicorn as U
        from unicorn import arm_const as A

        uc = self.uc
        self.reset_counters()
        self._fault = None
        self._miss_error = None
        self.state.max_insns = max_instructions or (1 << 63)
        for r in range(A.UC_ARM_REG_R0, A.UC_ARM_REG_R12 + 1):
            uc.reg_write(r, 0)
        uc.reg_write(A.UC_ARM_REG_LR, 0xFFFFFFFF)
        uc.reg_write(A.UC_ARM_REG_SP, self.sp0 if sp is None else sp)
        pc = (self.pc0 if start is None else start) | 1
        until = self.done if until is None else until
        err = None
        try:
            uc.emu_start(pc, until)
        except U.UcError as e:
            err = e
        end_pc = self._pc()
        st = self.state
        info = {"cycles": int(st.cycles), "insns": int(st.insns), "fault": None, "fault_address": None,
                "fault_pc": None}
        if self._miss_error or st.miss_error:
            raise AutotinyError(self._miss_error or f"emulator: more than {MAX_BLOCKS} distinct basic blocks")
        if st.cap_hit:
            info["fault"] = f"instruction cap hit: more than {max_instructions:,} instructions (runaway code?)"
            info["fault_pc"] = end_pc
        elif self._fault is not None:
            f = self._fault
            info["fault_pc"] = f["pc"]
            if f["kind"] == "exception":
                info["fault"] = f"hard fault: CPU exception {f['intno']} at pc {f['pc']:#010x}"
            else:
                a = f["address"]
                info["fault_address"] = a
                sp_now = uc.reg_read(A.UC_ARM_REG_SP)
                if self.stack_lo - 4096 <= a < self.stack_lo or sp_now < self.stack_lo:
                    info["fault"] = (f"stack overflow: {f['kind']} of {f['size']} B at {a:#010x}, below RAM "
                                     f"({self.stack_lo:#010x}); sp={sp_now:#010x}, pc {f['pc']:#010x}")
                elif f["kind"] in ("read", "write", "fetch"):
                    info["fault"] = (f"unmapped access: {f['kind']} of {f['size']} B at {a:#010x} "
                                     f"(pc {f['pc']:#010x}; mapped: {self.mem.describe()})")
                else:
                    info["fault"] = f"{f['kind']}: {f['size']} B at {a:#010x} (pc {f['pc']:#010x})"
        elif err is not None:
            what = {U.UC_ERR_INSN_INVALID: "undefined instruction", U.UC_ERR_EXCEPTION: "CPU exception",
                    U.UC_ERR_READ_UNALIGNED: "unaligned read", U.UC_ERR_WRITE_UNALIGNED: "unaligned write",
                    U.UC_ERR_FETCH_UNALIGNED: "unaligned fetch"}.get(err.errno)
            info["fault"] = (f"hard fault: {what} at pc {end_pc:#010x}" if what
                             else f"emulation stopped: {err} at pc {end_pc:#010x}")
            info["fault_pc"] = end_pc
        elif end_pc != until:
            info["fault"] = f"emulation stopped early at pc {end_pc:#010x}"
            info["fault_pc"] = end_pc
        return info

    def blocks(self) -> dict[int, dict]:
        """The costed basic blocks seen so far: start address -> size, instructions, cycles."""
        return {b.addr: {"size": b.size, "insns": b.insns, "cycles": b.cycles, "pen": tuple(b.pen),
                         "count": int(b.count)} for b in self._pool[:self.state.n_blocks]}

    def clear_profile(self) -> None:
        for b in self._pool[:self.state.n_blocks]:
            b.count = 0

    def profile(self) -> list[tuple[str, int, int]]:
        """(function, static cycles, instructions) executed since the last clear_profile(),
        largest first; branch penalties are not included."""
        funcs = sorted((a & ~1, n) for n, a in self.func_symbols.items())
        import bisect

        starts = [a for a, _ in funcs]
        acc: dict[str, list[int]] = {}
        for b in self._pool[:self.state.n_blocks]:
            if b.count:
                i = bisect.bisect_right(starts, b.addr) - 1
                name = funcs[i][1] if i >= 0 else "?"
                e = acc.setdefault(name, [0, 0])
                e[0] += b.count * b.cycles
                e[1] += b.count * b.insns
        return sorted(((n, c, i) for n, (c, i) in acc.items()), key=lambda t: -t[1])

    def events(self) -> list[tuple[int, int, int, int, int]]:
        n = self.state.n_events
        return [(e.op, e.opcode, e.phase, e.cycles, e.insns) for e in self._events[:n]]


_machines: dict[tuple, Machine] = {}
_machines_lock = threading.Lock()
_images: dict[str, object] = {}


def memory_map(board) -> MemoryMap:
    """The emulated chip's memory from conf/board (real sizes and addresses)."""
    return MemoryMap(board.flash_base, board.flash_kb * 1024, board.ram_base, board.ram_kb * 1024)


def firmware_image(board_name: str):
    """autotiny.firmware.build, memoized per process (the build hashes all sources on each call)."""
    from autotiny import firmware

    if board_name not in _images:
        _images[board_name] = firmware.build(board_name)
    return _images[board_name]


def machine(board, cycle_model: bool = True) -> Machine:
    """The per-process Machine for a board (built on first use)."""
    img = firmware_image(board.name)
    key = (board.name, board.core, memory_map(board), str(img.elf), cycle_model)
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


def instruction_cap(board, latency_ms: float, blob_bytes: int = 0, margin: float = 2.0) -> int:
    """Instruction cap for a latency budget: a run that needs more instructions than
    budget x clock x (2 on the dual-issue M7) x margin cannot meet the budget, so it
    is stopped as runaway; plus the start-up's blob CRC check (~16 instr/byte)."""
    per_cycle = 2 if board.core == "cortex-m7" else 1
    return int(latency_ms / 1e3 * board.clock_hz * per_cycle * margin) + 16 * blob_bytes + 100_000


def _discard(m: Machine) -> None:
    with _machines_lock:
        for k, v in list(_machines.items()):
            if v is m:
                del _machines[k]


# ---------------------------------------------------------------------------
# public API


def emulate(blob_bytes: bytes, board, input: np.ndarray | None = None,
            max_instructions: int | None = None, cycle_model: bool = True) -> EmulationResult:
    """Run one inference of a model blob on the emulated board.

    `board` is an autotiny.config.Board; `input` an array of the model's input
    shape/dtype (None: zeros).  A fault, an unmapped access or the instruction
    cap gives a result with `fault` set (and `ok` False) instead of raising;
    ModelError only for a blob that cannot even be loaded (too large for the
    blob region, bad header)."""
    from autotiny.blob import load_blob

    t0 = time.perf_counter()
    blob = load_blob(bytes(blob_bytes))
    m = machine(board, cycle_model=cycle_model)
    syms = m.symbols
    blob_start, blob_end = syms["__blob_start"], syms["__blob_end"]
    if blob.size > blob_end - blob_start:
        raise ModelError(f"blob {blob.size:,} B does not fit the {board.name} blob region "
                         f"({blob_end - blob_start:,} B at {blob_start:#010x})")
    with m.lock:
        return _emulate_locked(m, blob, board, input, max_instructions, t0)


def _emulate_locked(m: Machine, blob, board, input, max_instructions, t0) -> EmulationResult:
    from autotiny.blob import OPCODE_NAMES

    syms = m.symbols
    blob_start = syms["__blob_start"]
    arena = syms["__arena_start"]
    out_addr = syms["at_output"]
    mb = syms["at_mb"]
    # inputs
    m.write(blob_start, blob.data)
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
    status = int(words[1]) if words[0] == 0x424D5441 else -1
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
    if info["fault"] is not None:
        _discard(m)  # the CPU may be in an odd state: start clean next time
    return EmulationResult(status=status, status_name=status_name(status), fault=info["fault"],
                           fault_address=info["fault_address"], fault_pc=info["fault_pc"],
                           cycles=inf_cycles, instructions=inf_insns, layers=layers,
                           total_cycles=info["cycles"], total_instructions=info["insns"],
                           peak_stack_bytes=peak, output=output, wall_s=time.perf_counter() - t0,
                           board=board.name, core=board.core, clock_hz=board.clock_hz)


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


def measure_emulated(tflite_bytes: bytes, board, max_instructions: int | None = None,
                     input: np.ndarray | None = None, seed: int | None = None):
    """Measure an int8 .tflite on the emulated board -> Measurement (figures 'emulated',
    MACs 'file').  An infeasible run (fault, cap) gives a Measurement with
    `status` != 'ok', the reason in `fault` and in the notes, and inf latency/energy."""
    from autotiny import blob as blobmod
    from autotiny import firmware
    from autotiny.measure import Figure, Measurement
    from autotiny.tflite_model import read_tflite

    parsed = read_tflite(bytes(tflite_bytes))
    b = blobmod.from_tflite(parsed)
    img = firmware_image(board.name)
    if input is None and seed is not None:
        rng = np.random.default_rng(seed)
        if b.input_dtype == np.int8:
            input = rng.integers(-128, 128, size=b.input_shape, dtype=np.int8)
        else:
            input = rng.standard_normal(b.input_shape).astype(b.input_dtype)
    try:
        firmware.check_fits(b, board.name, image=img)
    except ModelError as e:  # does not fit: infeasible without running
        acct = firmware.account(b, board.name, image=img)
        return Measurement(
            flash_bytes=Figure(acct.flash, "B", "emulated"), ram_bytes=Figure(acct.ram, "B", "emulated"),
            macs=Figure(parsed.macs(), "MAC", "file"), latency_ms=Figure(float("inf"), "ms", "emulated"),
            energy_uj=Figure(float("inf"), "uJ", "emulated"), ops=parsed.op_counts(),
            notes=(f"infeasible: {e}", "not run: RAM uses the static stack bound"),
            status="infeasible", fault=str(e))
    r = emulate(b.data, board, input=input, max_instructions=max_instructions)
    acct = firmware.account(b, board.name, image=img, peak_stack=r.peak_stack_bytes)
    feasible = r.fault is None and r.status == 0
    latency = r.latency_ms if feasible else float("inf")
    energy = latency * board.active_power_mw  # ms x mW = uJ
    notes = [
        f"emulated on {board.name} ({board.core} @ {board.clock_hz / 1e6:g} MHz, Unicorn + cycle model "
        f"emulation/cycles/{board.core}.yaml): inference {r.cycles:,} cycles, {r.instructions:,} instructions "
        f"(whole run from reset incl. blob CRC check: {r.total_cycles:,} cycles); {r.wall_s * 1e3:.0f} ms wall",
        f"RAM = static {acct.static_ram:,} + arena {acct.arena:,} + peak stack {acct.peak_stack:,} B (painted); "
        f"flash = firmware {acct.firmware_flash:,} + blob {acct.blob:,} B",
        f"energy = latency x {board.active_power_mw} mW ({board.active_power_source})",
    ]
    if not feasible:
        notes.append(f"infeasible: {r.fault or 'firmware status ' + str(r.status) + ' (' + r.status_name + ')'}")
    return Measurement(
        flash_bytes=Figure(acct.flash, "B", "emulated"),
        ram_bytes=Figure(acct.ram, "B", "emulated"),
        macs=Figure(parsed.macs(), "MAC", "file"),
        latency_ms=Figure(latency, "ms", "emulated"),
        energy_uj=Figure(energy, "uJ", "emulated"),
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


def format_measurement(m, board, path: str = "") -> str:
    """The `autotiny measure ... emulator=builtin` table: figures, counters, status, per-layer cycles."""
    lines = [f"{path} on {board.name} ({board.core}, {board.clock_hz / 1e6:g} MHz, emulated)".lstrip()]
    for name, fig in m.figures().items():
        lines.append(f"  {name:16s} {fig}")
    for name in ("cycles", "instructions", "peak_stack_bytes"):
        fig = getattr(m, name)
        if fig is not None:
            lines.append(f"  {name:16s} {fig}")
    lines.append(f"  {'status':16s} {m.status}" + (f" ({m.fault})" if m.fault else "")
                 + (f", firmware status {m.status_code}" if m.status_code is not None else ""))
    if m.ops:
        lines.append("  ops              " + ", ".join(f"{k}x{v}" for k, v in m.ops.items()))
    if m.layers:
        lines.append("  per layer:")
        lines.extend("    " + row for row in format_layers(m.layers, board.clock_hz).splitlines())
    lines.extend(f"  note: {n}" for n in m.notes)
    return "\n".join(lines)
