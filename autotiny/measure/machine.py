"""The emulated machine: Unicorn set up as a board's Cortex-M core, its memory map, the
Private Peripheral Bus, fault hooks and the native cycle-counting block hook.

Owns: Unicorn, memory (flash/RAM as numpy arrays at the board's real addresses), the PPB
(CPUID, CPACR, DWT CYCCNT from the cycle model), the native hook (emulation/native/
block_hook.c: per-block instruction/cycle counts, branch penalties, layer-boundary events)
and turning a stopped run into a fault description.  Knows nothing about models, blobs or
the firmware's mailbox (autotiny.measure.protocol) nor about accounting and reports
(autotiny.measure.emulator).  The core-specific facts (Unicorn CPU model, CPUID, cycle
table) come from autotiny.targets.
"""

from __future__ import annotations

import bisect
import ctypes
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotiny.config import package_dir
from autotiny.errors import AutotinyError, ModelError
from autotiny.targets import target

NATIVE_SRC = package_dir("emulation") / "native" / "block_hook.c"
NATIVE_CFLAGS = ["-O3", "-fPIC", "-shared", "-Wall", "-Wextra"]

MAX_EVENTS = 1 << 14
TABLE_BITS = 16  # hash index size (2x the pool: load factor <= 0.5)
MAX_BLOCKS = 1 << 15  # distinct basic blocks (a whole MLPerf Tiny model uses ~500)

MIN_PAGE, MAX_PAGE = 1 << 10, 1 << 14  # Unicorn's ARM guest page: 1 KB by default (README, Speed)

# PPB registers the emulator answers (everything else reads as last written, or 0)
DWT_CTRL = 0xE0001000
DWT_CYCCNT = 0xE0001004
CPUID = 0xE000ED00
CPACR = 0xE000ED88
PPB_BASE, PPB_SIZE = 0xE0000000, 0x00100000

# ---------------------------------------------------------------------------
# native hook


class _Block(ctypes.Structure):
    _fields_ = [("addr", ctypes.c_uint32), ("size", ctypes.c_uint32), ("insns", ctypes.c_uint32),
                ("cycles", ctypes.c_uint32), ("pen", ctypes.c_int32 * 4), ("last", ctypes.c_uint32),
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
                ("stop", ctypes.c_void_p), ("reg_r0", ctypes.c_int), ("pred_max", ctypes.c_uint32)]


class _MemMap(ctypes.Structure):  # at_memmap: what at_tlb_fill needs
    _fields_ = [("ram_lo", ctypes.c_uint32), ("ram_hi", ctypes.c_uint32), ("reg_xpsr", ctypes.c_int),
                ("pad", ctypes.c_int), ("reg_read", ctypes.c_void_p), ("reg_write", ctypes.c_void_p)]


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
            lib.at_execute_never.argtypes = [ctypes.c_uint32]
            if lib.at_state_size() != ctypes.sizeof(_State) or lib.at_block_size() != ctypes.sizeof(_Block):
                raise AutotinyError("emulator hook: C and ctypes struct layouts differ")
            _native_lib = lib
        return _native_lib


# ---------------------------------------------------------------------------
# the machine: Unicorn + memory map + PPB + fault hooks + native hook


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
        tgt = target(core)  # a one-line error for a core with no target
        cycles.table(core)  # ... or no cycle table
        funcs: dict[str, int] = {}
        if elf is not None:
            image, symbols, funcs = _elf_facts(elf)
        self.symbols = dict(symbols or {})
        self.func_symbols = funcs
        self.uc = uc = U.Uc(U.UC_ARCH_ARM, U.UC_MODE_THUMB | U.UC_MODE_MCLASS)
        uc.ctl_set_cpu_model(getattr(A, tgt.unicorn_cpu))
        # Guest pages as large as the map allows: QEMU chains blocks only within a page (fewer
        # lookups, README Speed) and ends a block at each page boundary, where the core does not
        # (cycles.block_cost joins such blocks, so the counts do not depend on the page size).
        self.page_size = page_size(mem)
        uc.ctl_set_page_size(self.page_size)
        # flash and RAM backed by numpy arrays: host reads/writes need no copies
        self.flash = np.zeros(mem.flash_size, dtype=np.uint8)
        self.ram = np.zeros(mem.ram_size, dtype=np.uint8)
        uc.mem_map_ptr(mem.flash_base, mem.flash_size, U.UC_PROT_READ | U.UC_PROT_EXEC, self.flash.ctypes.data)
        uc.mem_map_ptr(mem.ram_base, mem.ram_size, U.UC_PROT_ALL, self.ram.ctypes.data)
        self.ppb: dict[int, int] = {CPUID: tgt.cpuid}
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
        # fault hooks (Python: they fire only when something goes wrong).  The memory hooks cover
        # everything but RAM: RAM is mapped with all permissions, so no unmapped or protection event
        # can happen there, and Unicorn 2.1 keeps every store to a page a memory hook covers on its
        # slow path (emulation/README.md, Speed).
        self._fault: dict | None = None
        ram_end = mem.ram_base + mem.ram_size
        for lo, hi in ((0, mem.ram_base - 1), (ram_end, (1 << 64) - 1)):
            if lo <= hi:
                uc.hook_add(U.UC_HOOK_MEM_UNMAPPED, self._on_unmapped, begin=lo, end=hi)
                uc.hook_add(U.UC_HOOK_MEM_PROT, self._on_prot, begin=lo, end=hi)
        uc.hook_add(U.UC_HOOK_INTR, self._on_intr)
        self.lib = _native()
        # Unicorn's virtual TLB, filled by the native at_tlb_fill (block_hook.c): the Armv7-M default
        # memory map's permissions (what the CPU TLB gives with the MPU off), but RAM pages executable
        # only when code is fetched from them -- Unicorn 2.1 keeps every store to an executable page
        # on its slow path, and the default map makes SRAM executable (README, Speed).
        uc.ctl_set_tlb_mode(U.UC_TLB_VIRTUAL)
        self._memmap = _MemMap(mem.ram_base, ram_end, A.UC_ARM_REG_XPSR, 0,
                               ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p).value,
                               ctypes.cast(uclib.uc_reg_write, ctypes.c_void_p).value)
        self._fill_handle = ctypes.c_size_t()
        err = uclib.uc_hook_add(uc._uch, ctypes.byref(self._fill_handle), U.UC_HOOK_TLB_FILL,
                                ctypes.cast(self.lib.at_tlb_fill, ctypes.c_void_p),
                                ctypes.cast(ctypes.pointer(self._memmap), ctypes.c_void_p), 1, 0)
        if err != 0:
            raise AutotinyError(f"uc_hook_add(UC_HOOK_TLB_FILL) failed: {U.UcError(err)}")
        # native block hook
        self._index = (ctypes.c_uint32 * (1 << TABLE_BITS))()
        self._pool = (_Block * MAX_BLOCKS)()
        self._initial_taken = np.zeros(MAX_BLOCKS, dtype=np.uint32)  # each block's static prediction
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
        st.pred_max = cycles.predictor_max(core)
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
            c = cycles.block_cost(self.core, code, addr, self._follow(addr + size))
            b = out.contents
            b.insns, b.cycles, b.last = c.insns, c.cycles, c.initial_taken
            self._initial_taken[(ctypes.addressof(b) - ctypes.addressof(self._pool)) // ctypes.sizeof(_Block)] = \
                c.initial_taken
            for k in range(4):
                b.pen[k] = c.pen[k]
            return 0
        except Exception as e:  # never let an exception cross the C boundary
            self._miss_error = f"cycle model failed on the block at {addr:#x} ({size} B): {e!r}"
            return 1

    def _follow(self, end: int) -> bytes:
        """The bytes the block that falls through to `end` can hold: up to the next guest page
        boundary (a Unicorn block never crosses one, except with a first 32-bit instruction
        straddling it), within the memory `end` is in."""
        page = self.page_size
        limit = max((end // page + 1) * page, end + 4)
        for base, buf in ((self.mem.flash_base, self.flash), (self.mem.ram_base, self.ram)):
            if base <= end < base + len(buf):
                return buf[end - base:min(limit, base + len(buf)) - base].tobytes()
        return b""

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
        # Every run starts with the predictor as a block's first execution finds it (its static
        # prediction): a figure must not depend on what this process measured before (it did, by
        # ~0.6 % on a small model: the last run's outcomes stayed in the predictor).
        words = np.frombuffer(self._pool, dtype=np.uint32).reshape(len(self._pool), -1)
        words[:st.n_blocks, _Block.last.offset // 4] = self._initial_taken[:st.n_blocks]

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
            if err.errno == U.UC_ERR_EXCEPTION and self.lib.at_execute_never(end_pc & 0xFFFFFFFF):
                what = "instruction fetch from an execute-never region"  # at_tlb_fill refused it
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



def page_size(mem: MemoryMap) -> int:
    """The largest guest page up to MAX_PAGE that every mapping (flash, RAM, PPB) is aligned to."""
    align = mem.flash_base | mem.flash_size | mem.ram_base | mem.ram_size | PPB_BASE | PPB_SIZE | MAX_PAGE
    return max(align & -align, MIN_PAGE)


def memory_map(board) -> MemoryMap:
    """The emulated chip's memory from the board record (real sizes and addresses)."""
    return MemoryMap(board.flash_base, board.flash_kb * 1024, board.ram_base, board.ram_kb * 1024)
