"""Cycle model: the static cost of a Thumb-2 basic block on a Cortex-M4 or M7.

A basic block (as Unicorn executes it) is disassembled once with capstone and
costed from the per-core tables in `emulation/cycles/*.yaml`:

* Cortex-M4: single-issue in order, so the block costs the sum of its
  instructions' TRM cycle counts, with the TRM's load pipelining rule (a load
  right after a load/store costs one cycle less unless its address depends on
  that instruction) and IT folding.
* Cortex-M7: a greedy in-order dual-issue schedule (two instructions per cycle,
  one per single pipe, a load and a store may pair, register dependencies with
  LLVM's latencies, MAC accumulator forwarding).

Branch costs that depend on the run (taken or not, predicted or not) are not
part of the block cost: `BlockCost.pen` gives the extra cycles for each
(previous outcome, outcome) pair, which the native hook adds when it sees where
execution went next (see emulation/native/block_hook.c and emulation/README.md).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from functools import lru_cache

import yaml

from autotiny.config import package_dir
from autotiny.targets import TARGETS, target

TABLES = package_dir("emulation") / "cycles"
CORES = tuple(TARGETS)  # every target's core has a table: autotiny.targets.<family>.cycle_table


@dataclass(frozen=True)
class BlockCost:
    insns: int
    cycles: int  # static cost, branch at the end not taken
    pen: tuple[int, int, int, int]  # extra cycles by (last outcome << 1 | outcome); outcome 1 = taken
    initial_taken: int  # initial predictor state (M7: static backward-taken prediction)


@lru_cache(maxsize=None)
def table(core: str) -> dict:
    if core not in CORES:
        raise ValueError(f"no cycle table for core '{core}' (have {', '.join(CORES)})")
    return yaml.safe_load(target(core).cycle_table.read_text())


@lru_cache(maxsize=None)
def _classes() -> dict[str, str]:
    raw = yaml.safe_load((TABLES / "classes.yaml").read_text())
    out = {}
    for cls, names in raw.items():
        for n in names:
            out[n] = cls
    return out


def classify(name: str) -> str:
    """Class of a capstone base mnemonic (insn_name()); unknown names are `alu`."""
    c = _classes()
    if name in c:
        return c[name]
    if name == "hint":
        return "nop"
    for pat, cls in c.items():
        if "*" in pat and fnmatch.fnmatch(name, pat):
            return cls
    return "alu"


@lru_cache(maxsize=None)
def _disassembler():
    import capstone as cs

    md = cs.Cs(cs.CS_ARCH_ARM, cs.CS_MODE_THUMB | cs.CS_MODE_MCLASS)
    md.detail = True
    return md


@dataclass
class Insn:
    address: int
    size: int
    name: str
    cls: str
    reads: frozenset
    writes: frozenset
    addr_regs: frozenset  # registers used to form a memory address
    nregs: int  # registers transferred by LDM/STM/PUSH/POP/VLDM/...
    writes_pc: bool
    conditional: bool
    target: int | None  # direct branch target
    reg_offset_store: bool
    text: str


def decode(code: bytes, address: int) -> list[Insn]:
    """Disassemble Thumb-2 bytes into Insn records (stops at the first undecodable bytes)."""
    import capstone as cs

    md = _disassembler()
    out = []
    for i in md.disasm(code, address):
        name = i.insn_name()
        r, w = i.regs_access()
        reads = set(i.reg_name(x) for x in r)
        writes = set(i.reg_name(x) for x in w)
        addr_regs = set()
        target = None
        nregs = 0
        reg_offset_store = False
        for op in i.operands:
            if op.type == cs.arm.ARM_OP_REG:
                if op.access & cs.CS_AC_READ:
                    reads.add(i.reg_name(op.reg))
                nregs += 1
            elif op.type == cs.arm.ARM_OP_MEM:
                if op.mem.base:
                    addr_regs.add(i.reg_name(op.mem.base))
                if op.mem.index:
                    addr_regs.add(i.reg_name(op.mem.index))
                    reg_offset_store = True
            elif op.type == cs.arm.ARM_OP_IMM and name in ("b", "bl", "cbz", "cbnz"):
                target = op.imm
        cls = classify(name)
        if cls in ("multiple", "fp_multiple"):
            if name in ("ldm", "ldmdb", "ldmia", "stm", "stmdb", "stmia", "vldmia", "vldmdb", "vstmia",
                        "vstmdb", "vldm", "vstm"):
                nregs -= 1  # the base register operand
                addr_regs.add(i.reg_name(i.operands[0].reg))
            else:
                addr_regs.add("sp")
        if cls == "load" and "pc" in writes:
            cls = "load_pc"
        writes_pc = "pc" in writes or cls in ("branch", "table_branch")
        out.append(Insn(i.address, i.size, name, cls, frozenset(reads), frozenset(writes - {"itstate"}),
                        frozenset(addr_regs), max(nregs, 1), writes_pc, i.cc not in (0, 15), target,
                        reg_offset_store and cls == "store", f"{i.mnemonic} {i.op_str}"))
    return out


# ---------------------------------------------------------------------------
# Cortex-M4: sum of TRM costs


def _m4_cost(insns: list[Insn], t: dict) -> int:
    c = t["costs"]
    total = 0
    prev: Insn | None = None
    for ins in insns:
        k = ins.cls
        if k == "load":
            pipelined = (prev is not None and prev.cls in ("load", "store") and not prev.reg_offset_store
                         and not (ins.addr_regs & prev.writes))
            cost = c["load_pipelined"] if pipelined else c["load"]
        elif k == "multiple":
            cost = c["multiple_base"] + ins.nregs
        elif k == "fp_multiple":
            cost = c["fp_multiple_base"] + ins.nregs
        elif k == "it":
            cost = c["it_folded"] if prev is not None and prev.size == 2 else c["it"]
        else:
            cost = c[k]
        total += cost
        prev = ins
    return total


# ---------------------------------------------------------------------------
# Cortex-M7: greedy in-order dual-issue schedule


def _m7_cost(insns: list[Insn], t: dict) -> int:
    classes = t["classes"]
    width = t["issue_width"]
    single_pipes = set(t["single_pipes"])
    pairs = {tuple(sorted(p)) for p in t["pairs_allowed"]}
    ready: dict = {}
    cycle = 0  # cycle the last instruction issued in
    used: list[str] = []  # pipes issued in `cycle`
    blocked_until = 0  # a multi-cycle instruction holds the issue stage until then
    end = 0
    for ins in insns:
        spec = classes[ins.cls]
        if ins.cls == "it":
            continue  # folded: takes no issue slot
        pipe = spec["pipe"]
        single = spec.get("single", False)
        acc = _acc_regs(ins) if pipe == "mac" else set()
        earliest = max(cycle, blocked_until)
        for r in ins.reads | ins.addr_regs:
            if r in ("pc", "itstate"):
                continue
            rt = ready.get(("acc", r), ready.get(r, 0)) if r in acc else ready.get(r, 0)
            earliest = max(earliest, rt)
        if earliest > cycle:
            cycle, used = earliest, []
        fits = (not used) if single else (
            len(used) < width and "single" not in used and _can_pair(pipe, used, single_pipes, pairs))
        if not fits:
            cycle, used = cycle + 1, []
        if single:
            n = max(1, (ins.nregs + 1) // 2) if spec.get("per_two_regs") else spec.get("cycles", 1)
            used = ["single"]
            blocked_until = cycle + n
            end = max(end, cycle + n)
        else:
            used.append(pipe)
            end = max(end, cycle + 1)
        for r in ins.writes:
            ready[r] = cycle + spec["latency"]
            ready.pop(("acc", r), None)
        if acc and spec.get("acc_latency") is not None:
            for r in acc:
                ready[("acc", r)] = cycle + spec["acc_latency"]
    return end


def _acc_regs(ins: Insn) -> set:
    """Registers that are both read and written by a MAC (the accumulator)."""
    return set(ins.reads & ins.writes)


def _can_pair(pipe: str, used: list[str], single_pipes: set, pairs: set) -> bool:
    for u in used:
        if u == pipe and pipe in single_pipes:
            return False
        if u.startswith("ls_") and pipe.startswith("ls_") and tuple(sorted((u, pipe))) not in pairs:
            return False
    return True


# ---------------------------------------------------------------------------


def block_cost(core: str, code: bytes, address: int) -> BlockCost:
    """Static cost of the basic block `code` at `address` for a core."""
    t = table(core)
    insns = decode(code, address)
    if not insns:
        return BlockCost(0, 0, (0, 0, 0, 0), 0)
    cycles = _m4_cost(insns, t) if t["model"] == "sum" else _m7_cost(insns, t)
    return BlockCost(len(insns), cycles, *_branch_penalties(insns[-1], t))


def _branch_penalties(last: Insn, t: dict) -> tuple[tuple[int, int, int, int], int]:
    b = t["branch"]
    if not last.writes_pc:  # the block was split without a branch (size or page limit): no penalty
        return (0, 0, 0, 0), 0
    if b["predictor"] == "none":
        p = b["taken_penalty"]
        return (0, p, 0, p), 0
    hit, miss = b["predicted_taken_penalty"], b["mispredict_penalty"]
    # index: last << 1 | outcome. last=0 predicts not taken, last=1 predicts taken
    pen = (0, miss, miss, hit)
    initial = 1  # unconditional branches, calls, returns: predicted taken
    if last.conditional or last.name in ("cbz", "cbnz"):
        # static prediction on first sight: backward taken, forward (or indirect) not taken
        initial = 1 if last.target is not None and last.target <= last.address else 0
    return pen, initial


def describe(core: str, code: bytes, address: int) -> list[str]:
    """Human-readable listing of a block with each instruction's class (debugging aid)."""
    return [f"{i.address:#010x} {i.text:<36} {i.cls}" for i in decode(code, address)]
