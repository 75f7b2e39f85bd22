"""Cycle model: the static cost of a Thumb-2 basic block on a Cortex-M4 or M7.

A basic block (as Unicorn executes it) is disassembled once with capstone and
costed from the per-core tables in `emulation/cycles/*.yaml`:

* Cortex-M4: single-issue in order, so the block costs the sum of its
  instructions' TRM cycle counts, with the TRM's load pipelining (a load right
  after a load costs one cycle less unless its address depends on it), the
  stalls the TRM and jnk0le's measurements describe (an address register written
  by the previous instruction, a load after a store, a register-offset store)
  and IT folding.
* Cortex-M7: a greedy in-order dual-issue schedule (two instructions per cycle,
  one per single resource, latencies by the stage that reads the operand, the
  pairing limits LLVM's model and jnk0le's measurements give).

Branch costs that depend on the run (taken or not, predicted or not) are not
part of the block cost: `BlockCost.pen` gives the extra cycles for each
(prediction, outcome) pair, which the native hook adds when it sees where
execution went next (see emulation/native/block_hook.c and emulation/README.md).
The sources and the expected error of every choice are in emulation/README.md.
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
    pen: tuple[int, int, int, int]  # extra cycles by (prediction << 1 | outcome); 1 = taken; a split block's
    # fall-through "penalty" is its join with the next block (block_cost), which may be negative
    initial_taken: int  # initial predictor counter (M7: the static prediction, backward taken; see predictor_max)


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
    addr_regs: frozenset  # registers used to form a memory address (base, index)
    nregs: int  # registers transferred by LDM/STM/PUSH/POP/VLDM/...
    writes_pc: bool
    conditional: bool
    target: int | None  # direct branch target
    reg_offset_store: bool
    text: str
    narrow: bool = False  # byte or halfword load (LDRB/LDRH/LDRSB/LDRSH and their T/EX forms)
    sets_flags: bool = False
    shifted: frozenset = frozenset()  # registers read as an inline-shifted operand (ADD r0, r1, r2, LSL #2)
    shifted_imm: bool = False  # a modified immediate that is not a plain 8-bit value or byte pattern
    base: str | None = None  # memory operand: base register, immediate offset, index register, write-back
    disp: int = 0
    index: str | None = None
    writeback: bool = False


_FLAG_ONLY = {"cmp", "cmn", "tst", "teq"}
_LOADS = {"load", "load_pc", "load_double", "fp_load"}
_STORES = {"store", "store_double", "fp_store"}
_LOAD_MULTIPLE = {"ldm", "ldmdb", "ldmia", "pop", "vldmia", "vldmdb", "vldm", "vpop"}


def _rotated_immediate(raw: bytes) -> bool:
    """A 32-bit data-processing instruction whose modified immediate is a rotated 8-bit value
    (ThumbExpandImm with imm12[11:10] != 0) rather than 0x000000XY or a byte pattern: the M7
    builds it in its shifter (jnk0le: "shifted constant"; ARMv7-M ARM A5.3.1/A5.3.2)."""
    if len(raw) != 4:
        return False
    hw1, hw2 = raw[0] | raw[1] << 8, raw[2] | raw[3] << 8
    if hw1 >> 11 != 0b11110 or hw2 >> 15 or hw1 >> 9 & 1:  # not data processing (modified immediate)
        return False
    return bool(hw1 >> 10 & 1 or hw2 >> 14 & 1)  # i:imm3[2] = imm12[11:10] != 0


def _is_load(ins: Insn) -> bool:
    return ins.cls in _LOADS or (ins.cls in ("multiple", "fp_multiple") and ins.name in _LOAD_MULTIPLE)


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
        shifted = set()
        target = None
        nregs = 0
        reg_offset_store = False
        base = index = None
        disp = 0
        for k, op in enumerate(i.operands):
            if op.type == cs.arm.ARM_OP_REG:
                # capstone 5 leaves access 0 on some source operands (SSAT's Rn, UXTAB's Rm): a read
                if op.access & cs.CS_AC_READ or (op.access == 0 and k > 0):
                    reads.add(i.reg_name(op.reg))
                if op.shift.type != 0:
                    shifted.add(i.reg_name(op.reg))
                nregs += 1
            elif op.type == cs.arm.ARM_OP_MEM:
                if op.mem.base:
                    base = i.reg_name(op.mem.base)
                    addr_regs.add(base)
                if op.mem.index:
                    index = i.reg_name(op.mem.index)
                    addr_regs.add(index)
                    reg_offset_store = True
                disp = -op.mem.disp if op.subtracted else op.mem.disp
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
        shifted_imm = _rotated_immediate(i.bytes)
        if cls == "load" and "pc" in writes:
            cls = "load_pc"
        if name == "movt":
            reads.discard(i.reg_name(i.operands[0].reg))  # keeps the low half: jnk0le, MOVW+MOVT pair
        writes_pc = "pc" in writes or cls in ("branch", "table_branch")
        narrow = cls == "load" and name.startswith("ldr") and name[3:].lstrip("ex")[:1] in ("b", "h", "s")
        out.append(Insn(i.address, i.size, name, cls, frozenset(reads), frozenset(writes - {"itstate"}),
                        frozenset(addr_regs), max(nregs, 1), writes_pc, i.cc not in (0, 15), target,
                        reg_offset_store and cls == "store", f"{i.mnemonic} {i.op_str}",
                        narrow=narrow, sets_flags=bool(i.update_flags) or name in _FLAG_ONLY,
                        shifted=frozenset(shifted), shifted_imm=shifted_imm, base=base, disp=disp,
                        index=index, writeback=bool(i.writeback)))
    return out


# ---------------------------------------------------------------------------
# Cortex-M4: sum of TRM costs, with the TRM's (and jnk0le's measured) pipelining and stall rules


def _m4_cost(insns: list[Insn], t: dict) -> int:
    c = t["costs"]
    stalls = t["stalls"]
    total = 0
    prev: Insn | None = None
    prev_cost = 0
    for ins in insns:
        k = ins.cls
        after_load = prev is not None and prev.cls == "load"  # a single LDR*/LDREX, not LDRD/LDM
        depends = prev is not None and bool((ins.addr_regs & prev.writes) - {"pc"})
        if k == "load":
            cost = c["load_pipelined"] if after_load and not depends else c["load"]
        elif k == "store" and ins.reg_offset_store:
            cost = c["store_reg_offset_pipelined"] if after_load and not depends else c["store_reg_offset"]
        elif k == "multiple":
            cost = c["multiple_base"] + ins.nregs
        elif k == "fp_multiple":
            cost = c["fp_multiple_base"] + ins.nregs
        elif k == "it":
            cost = c["it_folded"] if prev is not None and prev.size == 2 else c["it"]
        else:
            cost = c[k]
        if depends:
            dep = (ins.addr_regs & prev.writes) - {"pc"}
            if prev.writeback:
                dep -= {prev.base}  # the AGU's own base update reaches the next address in time: only
                # the pipelining is lost (jnk0le: such loads "cannot be chained back to back")
            if dep:
                cost += stalls["address"]
        if prev is not None and prev.cls in _STORES and _is_load(ins) and not (
                prev.reg_offset_store and prev_cost > c["store"]):
            cost += stalls["store_then_load"]
        total += cost
        prev, prev_cost = ins, cost
    return total


# ---------------------------------------------------------------------------
# Cortex-M7: greedy in-order dual-issue schedule


def _early_reads(ins: Insn, t: dict) -> set:
    """Registers this instruction reads in the early stage (EX1): addresses, inline-shifted
    operands, the sources of the bitfield/extend instructions that execute early."""
    regs = set(ins.addr_regs) | set(ins.shifted)
    if ins.name in t["early_sources_all"]:
        regs |= ins.reads
    elif ins.name in t["early_sources_last"] and ins.reads:
        regs |= {_last_source(ins)}
    return regs - {"pc"}


def _last_source(ins: Insn) -> str:
    import re

    regs = re.findall(r"\b(r\d+|sb|sl|fp|ip|sp|lr)\b", ins.text.split(" ", 1)[1] if " " in ins.text else "")
    return regs[-1] if regs else next(iter(ins.reads))


def _m7_cost(insns: list[Insn], t: dict) -> tuple[int, int]:
    """(cycles of the block, issue cycle of its last instruction - issue cycle of its last flag setter)."""
    classes = t["classes"]
    width = t["issue_width"]
    single_pipes = set(t["single_pipes"])
    allowed = {tuple(sorted(p)) for p in t["pairs_allowed"]}
    forbidden = {tuple(sorted(p)) for p in t.get("pairs_forbidden", ())}
    acc_adv = t["accumulator_advance"]
    early_alu = set(t["early_alu"])
    late: dict = {}  # register -> first cycle a late (EX2) reader may issue
    early: dict = {}  # ... an early (EX1) reader: addresses, shifted operands
    mac: dict = {}  # ... a MAC multiplicand reader
    cycle = 0  # cycle the last instruction issued in
    used: list[Insn] = []  # instructions issued in `cycle`
    pipes: list[str] = []
    blocked_until = 0  # a multi-cycle instruction holds the issue stage until then
    end = 0
    flag_cycle = -1  # flags set before the block: at least a cycle before its first instruction
    for ins in insns:
        spec = classes["load_narrow"] if ins.cls == "load" and ins.narrow else classes[ins.cls]
        pipe = spec["pipe"]
        if ins.shifted or ins.shifted_imm:
            pipe = "shifter" if pipe == "alu" else pipe  # one shifter (LLVM M7UnitShift1, jnk0le)
        single = spec.get("single", False)
        earliest = max(cycle, blocked_until)
        if ins.cls not in ("branch", "it", "table_branch") and ins.cls not in _STORES:
            # (branches are predicted; store data is read late: jnk0le "can store any result in same cycle")
            ereads = _early_reads(ins, t)
            acc = (ins.reads & ins.writes) if pipe == "mac" else set()
            for r in ins.reads | ereads:
                if r in ("pc", "itstate"):
                    continue
                if r in ereads:
                    rt = early.get(r, 0)
                elif r in acc:
                    rt = late.get(r, 0) - acc_adv
                elif pipe == "mac":
                    rt = mac.get(r, 0)
                else:
                    rt = late.get(r, 0)
                earliest = max(earliest, rt)
        elif ins.cls in _STORES or ins.cls == "table_branch":
            for r in _early_reads(ins, t):
                earliest = max(earliest, early.get(r, 0))
        if earliest > cycle:
            cycle, used, pipes = earliest, [], []
        if not (not used if single else _m7_can_pair(ins, pipe, spec, used, pipes, width, single_pipes,
                                                      allowed, forbidden, t)):
            cycle, used, pipes = cycle + 1, [], []
        if single:
            n = max(1, (ins.nregs + 1) // 2) if spec.get("per_two_regs") else spec.get("cycles", 1)
            pipes = ["single"]
            blocked_until = cycle + n
            end = max(end, cycle + n)
        else:
            pipes.append(pipe)
            end = max(end, cycle + 1)
        used.append(ins)
        lat = spec["latency"]
        fast = ins.name in early_alu and not ins.shifted and not ins.shifted_imm
        e_lat = spec.get("early_latency", lat if fast else lat + 1)
        m_lat = spec.get("mac_latency", lat)
        for r in ins.writes:
            late[r], early[r], mac[r] = cycle + lat, cycle + e_lat, cycle + m_lat
        if ins.writeback and ins.base:  # base update: LLVM M7BaseUpdate, jnk0le "AGU with pre/post increments"
            late[ins.base] = early[ins.base] = mac[ins.base] = cycle + 1
        if ins.sets_flags:
            flag_cycle = cycle
    return end, cycle - flag_cycle


def _m7_can_pair(ins: Insn, pipe: str, spec: dict, used: list[Insn], pipes: list[str], width: int,
                 single_pipes: set, allowed: set, forbidden: set, t: dict) -> bool:
    if len(used) >= width or "single" in pipes:
        return False
    if spec.get("older_only") and used:
        return False  # DSP/bitfield ops issue only as the older instruction of a pair (jnk0le)
    for u, up in zip(used, pipes):
        pair = tuple(sorted((up, pipe)))
        if pair in forbidden:
            return False
        if up == pipe and pipe in single_pipes:
            if pipe == "ls_load" and _loads_pair(u, ins, t):
                continue
            return False
        if up.startswith("ls_") and pipe.startswith("ls_") and up != pipe and pair not in allowed:
            return False
    return True


def _loads_pair(a: Insn, b: Insn, t: dict) -> bool:
    """Two single loads hit different banks (even/odd words) for sure: same base register, no index,
    no write-back, offsets an odd number of words apart (jnk0le: "two loads ... can be dual issued if
    each one is targeting different bank")."""
    if t.get("load_pairs") != "same_base_odd_word_offset":
        return False
    if a.cls != "load" or b.cls != "load" or a.base is None or a.base != b.base:
        return False
    if a.index or b.index or a.writeback or b.writeback or a.base in a.writes:
        return False
    d = abs(a.disp - b.disp)
    return d % 4 == 0 and (d // 4) % 2 == 1


# ---------------------------------------------------------------------------


def _static_cost(insns: list[Insn], t: dict) -> tuple[int, int | None]:
    """(cycles, flag gap for the branch penalty; None on the M4) of a straight run of instructions."""
    if t["model"] == "sum":
        return _m4_cost(insns, t), None
    return _m7_cost(insns, t)


def block_cost(core: str, code: bytes, address: int, follow: bytes = b"") -> BlockCost:
    """Static cost of the basic block `code` at `address` for a core.

    `follow`: the bytes after the block (as far as the next block can reach).  A block that ends
    without a branch was split where the core does not split (Unicorn ends a block at every guest
    page boundary and at its size limit), so its fall-through penalty is the join: the cost of
    the block and the next one as one straight run minus their separate costs (a dual-issue pair,
    a pipelined load or a stall across the split; usually negative).  Each block cost alone
    restarts the pipeline model; the join restores what the split lost."""
    t = table(core)
    insns = decode(code, address)
    if not insns:
        return BlockCost(0, 0, (0, 0, 0, 0), 0)
    cycles, flag_gap = _static_cost(insns, t)
    if insns[-1].writes_pc or not follow:
        return BlockCost(len(insns), cycles, *_branch_penalties(insns[-1], t, flag_gap))
    nxt: list[Insn] = []
    for ins in decode(follow, address + len(code)):  # the next block: up to its first branch
        nxt.append(ins)
        if ins.writes_pc:
            break
    join = _static_cost(insns + nxt, t)[0] - cycles - _static_cost(nxt, t)[0] if nxt else 0
    return BlockCost(len(insns), cycles, (join, 0, join, 0), 0)  # outcome 0 = fall-through


def predictor_max(core: str) -> int:
    """Largest predictor counter value per branch: 1 for a 1-bit history, 3 for a 2-bit counter
    (the native hook predicts taken when the counter is in its upper half)."""
    p = table(core)["branch"]["predictor"]
    return {"none": 1, "one_bit": 1, "two_bit": 3}[p]


def _branch_penalties(last: Insn, t: dict, flag_gap: int | None) -> tuple[tuple[int, int, int, int], int]:
    b = t["branch"]
    if not last.writes_pc:  # no branch: nothing to predict (block_cost adds the join when it can)
        return (0, 0, 0, 0), 0
    if b["predictor"] == "none":
        p = b["taken_penalty"]
        return (0, p, 0, p), 0
    hit, miss = b["predicted_taken_penalty"], b["mispredict_penalty"]
    if last.conditional and last.name == "b" and flag_gap is not None and flag_gap >= b["flag_forwarding_distance"]:
        miss = b["mispredict_penalty_forwarded"]
    # index: predicted << 1 | outcome (outcome 1 = taken)
    pen = (0, miss, miss, hit)
    taken = 1  # unconditional branches, calls, returns: predicted taken
    if last.conditional or last.name in ("cbz", "cbnz"):
        # static prediction on first sight: backward taken, forward (or indirect) not taken
        taken = 1 if last.target is not None and last.target <= last.address else 0
    # initial counter: 1-bit: the prediction itself; 2-bit: weakly taken (2) or weakly not taken (1)
    initial = taken if b["predictor"] == "one_bit" else 1 + taken
    return pen, initial


def describe(core: str, code: bytes, address: int) -> list[str]:
    """Human-readable listing of a block with each instruction's class (debugging aid)."""
    return [f"{i.address:#010x} {i.text:<36} {i.cls}" for i in decode(code, address)]
