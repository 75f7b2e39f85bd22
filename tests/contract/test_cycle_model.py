"""Cycle model: hand-written Thumb-2 micro-sequences run through the emulator core
(Unicorn + native block hook + cycle tables) must take exactly the cycles the
timing sources say they take: each expected count is derived in the test from
the cited source (Arm TRM, LLVM's scheduling model, published measurements),
not from autotiny.measure.cycles, so a table value that departs from its source
fails here.

Each sequence is assembled twice, with N and 2N repetitions; the difference
cancels the set-up code, so the test checks the steady-state cost of one
repetition."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
import yaml

from autotiny.measure import cycles, emulator

pytestmark = pytest.mark.needs_arm_gcc

TABLES = Path(__file__).resolve().parents[2] / "emulation" / "cycles"
M4 = yaml.safe_load((TABLES / "cortex-m4.yaml").read_text())
M7 = yaml.safe_load((TABLES / "cortex-m7.yaml").read_text())
FLASH, RAM = 0x08000000, 0x20000000
MEM = emulator.MemoryMap(FLASH, 64 << 10, RAM, 64 << 10)
DATA = RAM + 0x100  # a word the snippets may use

HEAD = """
.syntax unified
.thumb
.section .text
.word 0x20001000
.word _start
.thumb_func
.global _start
_start:
  movw r12, #0x0100
  movt r12, #0x2000
"""
TAIL = """
  nop.w
.thumb_func
.global autotiny_done
autotiny_done:
  b autotiny_done
"""


def assemble(tmp_path: Path, name: str, body: str) -> Path:
    src = tmp_path / f"{name}.s"
    elf = tmp_path / f"{name}.elf"
    src.write_text(HEAD + body + TAIL)
    p = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard", "-mthumb",
                        "-nostdlib", "-nostartfiles", "-Wl,-Ttext=0x08000000", "-Wl,-e,_start", "-o", str(elf),
                        str(src)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return elf


def run(tmp_path: Path, core: str, name: str, body: str, setup=None) -> tuple[dict, emulator.Machine]:
    m = emulator.Machine(core, MEM, elf=assemble(tmp_path, f"{name}-{core}", body))
    m.write(DATA, struct.pack("<I", DATA))  # a self-pointer for pointer chasing
    if setup:
        setup(m)
    info = m.run(1_000_000)
    assert info["fault"] is None, info["fault"]
    return info, m


def steady(tmp_path, core, name, unit: str, n: int = 16) -> int:
    """Cycles of n extra repetitions of `unit` (run with n and 2n, subtract)."""
    a, _ = run(tmp_path, core, f"{name}{n}", unit * n)
    b, _ = run(tmp_path, core, f"{name}{2 * n}", unit * (2 * n))
    assert b["insns"] - a["insns"] == n * unit.strip().count("\n") + n
    return b["cycles"] - a["cycles"]


# Sources of the expected counts (each test names the one it uses):
#  TRM    Arm Cortex-M4 Technical Reference Manual (DDI 0439), 3.3 "Instruction set summary" and
#         3.3.2 "Load/store timings" (the same text as the Cortex-M3 TRM DDI 0337 3.3.2)
#  J-M4   jnk0le/random "pipeline cycle test/doc/cortex_m3m4.md" (measured, STM32F407)
#  LLVM   llvm/lib/Target/ARM/ARMScheduleM7.td (Arm-contributed Cortex-M7 scheduling model)
#  J-M7   jnk0le/random "pipeline cycle test/doc/cortex_m7.md" (measured, STM32H743)
# Choices where a source gives a range (M4 refill P = 2, TRM: 1-3) are read from the tables.
P = M4["branch"]["taken_penalty"]


def m4(tmp_path, name, unit, n=16):
    return steady(tmp_path, "cortex-m4", name, unit, n)


def m7(tmp_path, name, unit, n=16):
    return steady(tmp_path, "cortex-m7", name, unit, n)


INDEPENDENT_ADDS = "".join(f"  add.w r{k}, r{k}, #1\n" for k in range(1, 9))  # 8 independent adds


def test_independent_adds(tmp_path):
    assert m4(tmp_path, "adds", INDEPENDENT_ADDS, 4) == 4 * 8 * 1  # TRM: ADD 1
    assert m7(tmp_path, "adds", INDEPENDENT_ADDS, 4) == 4 * 8 // 2  # LLVM: IssueWidth 2, two ALUs


def test_dependent_adds(tmp_path):
    unit = "  add.w r1, r1, #1\n"
    assert m4(tmp_path, "dep", unit) == 16  # TRM: ADD 1
    assert m7(tmp_path, "dep", unit) == 16  # LLVM: WriteALU latency 1


# --- Cortex-M4 loads and stores ---------------------------------------------------------------

def test_m4_independent_loads_pipeline(tmp_path):
    # TRM: "LDR R0,[R1]; LDR R1,[R2]: normally three cycles total": each further load 1
    assert m4(tmp_path, "ild", "  ldr.w r1, [r12]\n") == 16


def test_m4_pointer_chase(tmp_path):
    # TRM: a load whose address is the previous load's result is not pipelined (2), and J-M4: "base
    # address and offset must be available 1 cycle earlier than normally": 3 per load
    assert m4(tmp_path, "chase", "  ldr.w r12, [r12]\n") == 16 * 3


def test_m4_address_from_previous_instruction(tmp_path):
    # TRM: "Any load or store that generates an address dependent on the result of a preceding data
    # processing operation stalls the pipeline for an additional cycle": ADD 1 + LDR 2 + 1
    assert m4(tmp_path, "agu", "  add.w r0, r12, #0\n  ldr.w r1, [r0]\n") == 16 * 4
    assert m4(tmp_path, "agu_st", "  add.w r0, r12, #0\n  str r1, [r0]\n") == 16 * 3  # STR 1 + 1
    # the same pair with the load's address independent of the ADD: 1 + 2
    assert m4(tmp_path, "noagu", "  add.w r0, r12, #0\n  ldr.w r1, [r12]\n") == 16 * 3


def test_m4_post_indexed_loads(tmp_path):
    # J-M4: "post and pre indexed loads cannot be chained back to back on same register base
    # address (alternating 2 different registers works)": 2 each on one base, 1 each alternating
    pre = "  mov r0, r12\n  mov r3, r12\n"
    for name, unit, per in (("same", "  ldr r1, [r0], #4\n", 2),
                            ("alt", "  ldr r1, [r0], #4\n  ldr r2, [r3], #4\n", 2 * 1)):
        a, _ = run(tmp_path, "cortex-m4", f"pi{name}8", pre + unit * 8)
        b, _ = run(tmp_path, "cortex-m4", f"pi{name}16", pre + unit * 16)
        assert b["cycles"] - a["cycles"] == 8 * per, name


def test_m4_store_then_load(tmp_path):
    # TRM: STR 1, "nothing can be pipelined after the store" (the LDR costs 2); J-M4: "stores cannot
    # be pipelined with following load instructions (adds extra cycle to store)": 1 + 1 + 2
    assert m4(tmp_path, "stld", "  str r1, [r12]\n  ldr.w r2, [r12, #4]\n") == 16 * 4
    # ... while STR after LDR pipelines (TRM "LDR R0,[R1,R2]; STR R0,[R3,#20]: normally three
    # cycles total"), and stores in a row take 1 each (TRM "STR Rx,[Ry,#imm] is always one cycle")
    assert m4(tmp_path, "ldst", "  ldr.w r2, [r12, #4]\n  str r1, [r12]\n  add.w r4, r4, #1\n") == 16 * 4
    assert m4(tmp_path, "stst", "  str r1, [r12]\n") == 16


def test_m4_register_offset_store(tmp_path):
    # J-M4: "reg offset store execute in 2 cycles"; TRM: "Other instructions cannot be pipelined
    # after STR with register offset"
    assert m4(tmp_path, "strr", "  str r1, [r12, r3]\n  add.w r4, r4, #1\n") == 16 * 3
    # TRM: "LDR R0,[R1,R2]; STR R1,[R3,R2]: normally three cycles total"
    assert m4(tmp_path, "ldstrr", "  ldr.w r2, [r12, r3]\n  str r1, [r12, r3]\n  add.w r4, r4, #1\n") == 16 * 4


# --- Cortex-M7 latencies and pairing ----------------------------------------------------------

def test_m7_load_to_use(tmp_path):
    # J-M7: "word loads can be consumed by late ALU in next cycle" (LLVM WriteLd latency 1); the
    # next unit's load pairs with the ADD (separate load and ALU pipes): 1 cycle per unit
    assert m7(tmp_path, "ldw", "  ldr.w r1, [r12]\n  add.w r2, r1, #1\n") == 16
    # J-M7: "byte/half loads can be consumed in second cycle by late ALU" (LLVM M7SlowLoad 2)
    assert m7(tmp_path, "ldb", "  ldrb.w r1, [r12]\n  add.w r2, r1, #1\n") == 16 * 2
    # J-M7: "multiplications and multiply accumulates can't consume ldr result from previous cycle"
    assert m7(tmp_path, "ldmac", "  ldr.w r1, [r12]\n  smlad r0, r1, r1, r0\n") == 16 * 2
    # J-M7: an inline-shifted operand is "consumed in early ALU (source must be available a cycle
    # earlier than normally)"
    assert m7(tmp_path, "ldsh", "  ldr.w r1, [r12]\n  add.w r2, r2, r1, lsl #1\n") == 16 * 2


def test_m7_pointer_chase(tmp_path):
    # LLVM: WriteLd latency 1, address operands read a stage early (M7Read_ISS): 2 per load
    assert m7(tmp_path, "chase", "  ldr.w r12, [r12]\n") == 16 * 2


def test_m7_address_from_alu(tmp_path):
    # J-M7: ADD/SUB/MOV execute in the early ALU, their result feeds the AGU next cycle (the next
    # unit's ADD pairs with the LDR: 1 per unit); bitfield/DSP
    # results "cannot be used as index or address by load/store instructions in next cycle"
    assert m7(tmp_path, "addagu", "  add.w r0, r12, #0\n  ldr.w r1, [r0]\n") == 16
    # UXTAH, a stall cycle, LDR; the next UXTAH cannot issue beside the LDR (J-M7: "the bitfield/dsp
    # instructions must be placed in older op"): 3 per unit (r3 = 0: the address stays r12)
    assert m7(tmp_path, "uxtagu", "  uxtah r0, r12, r3\n  ldr.w r1, [r0]\n") == 16 * 3


def test_m7_independent_loads(tmp_path):
    # J-M7: "two loads ... can be dual issued if each one is targeting different bank (even and odd
    # words)": offsets 0 and 4 from one base pair; 0 and 8 (same bank) do not
    assert m7(tmp_path, "ld04", "  ldr.w r1, [r12]\n  ldr.w r2, [r12, #4]\n") == 16
    assert m7(tmp_path, "ld08", "  ldr.w r1, [r12]\n  ldr.w r2, [r12, #8]\n") == 16 * 2
    # J-M7: a store "can be dual issued with load"; "cannot dual issue two stores"
    assert m7(tmp_path, "ldst", "  ldr.w r1, [r12]\n  str r2, [r12, #8]\n") == 16
    assert m7(tmp_path, "stst", "  str r1, [r12]\n  str r2, [r12, #4]\n") == 16 * 2


def test_m7_shifter_and_dsp_pairing(tmp_path):
    # J-M7 operand2 matrix / LLVM M7UnitShift1: two inline-shifted operands never pair
    assert m7(tmp_path, "shsh", "  add.w r1, r2, r3, lsl #2\n  add.w r4, r5, r6, lsl #2\n") == 16 * 2
    # J-M7: "bitfield and DSP instructions ... cannot dual issue wrt each other"
    assert m7(tmp_path, "dspdsp", "  sxtb16 r1, r2\n  sxtb16 r4, r5\n") == 16 * 2
    # ... but a DSP op as the older instruction pairs with an ALU op
    assert m7(tmp_path, "dspalu", "  sxtb16 r1, r2\n  add.w r4, r4, #1\n") == 16
    # J-M7: "movw + movt pair can dual issue with mutual dependency"
    assert m7(tmp_path, "movwt", "  movw r1, #1\n  movt r1, #2\n") == 16


def test_smlad_chain(tmp_path):
    chain = "  smlad r0, r1, r2, r0\n"  # accumulator dependency
    assert m4(tmp_path, "smlad", chain) == 16  # TRM: SMLAD 1
    # J-M7: "all multiply accumulates can be chained on accumulator dependency each cycle"
    assert m7(tmp_path, "smlad", chain) == 16
    indep = "".join(f"  smlad r{k}, r8, r9, r{k}\n" for k in (0, 3, 4, 5))
    assert m4(tmp_path, "smlad4", indep, 4) == 16
    assert m7(tmp_path, "smlad4", indep, 4) == 16  # J-M7: MACs "can't dual issue wrt each other"
    # J-M7: MACs "can't dual issue with stores"; they do pair with an ALU op
    assert m7(tmp_path, "macst", "  smlad r0, r1, r2, r0\n  str r3, [r12]\n") == 16 * 2
    assert m7(tmp_path, "macalu", "  smlad r0, r1, r2, r0\n  add.w r3, r3, #1\n") == 16


# --- branches -----------------------------------------------------------------------------------

def test_taken_branches(tmp_path):
    # each unit is a block ending in a taken branch that skips one instruction
    unit = "  b.w 1f\n  nop.w\n1:\n"
    n = 8
    # TRM: B 1 + P.  J-M7: a "predicted (any direction and length) taken branch is capable of dual
    # issuing with one instruction at destination address": no bubble, the branch's own slot only
    for core, per in (("cortex-m4", 1 + P), ("cortex-m7", 1)):
        a, _ = run(tmp_path, core, f"br{n}", unit * n)
        b, _ = run(tmp_path, core, f"br{2 * n}", unit * (2 * n))
        assert b["insns"] - a["insns"] == n  # the skipped nops never run
        assert b["cycles"] - a["cycles"] == n * per, core


def _loop(iters: int, body: str = "  adds r1, r1, #1\n", flags_first: bool = False) -> str:
    if flags_first:
        return f"  movs r0, #{iters}\n2:\n  subs r0, r0, #1\n{body}  bne 2b\n"
    return f"  movs r0, #{iters}\n2:\n{body}  subs r0, r0, #1\n  bne 2b\n"


def test_loop_branch_penalty_and_prediction(tmp_path):
    for core in ("cortex-m4", "cortex-m7"):
        a, _ = run(tmp_path, core, "loop10", _loop(10))
        b, _ = run(tmp_path, core, "loop20", _loop(20))
        # TRM: ADDS 1, SUBS 1, BNE taken 1 + P.  M7: ADDS+SUBS pair (LLVM), BNE next cycle, predicted
        # taken after the first pass (no bubble, J-M7)
        per = 3 + P if core == "cortex-m4" else 2
        assert b["cycles"] - a["cycles"] == 10 * per, core
    # one pass: the backward bne is not taken.  The M7 predicts backward branches taken on first
    # sight (static prediction), so it pays a mispredict; the M4 pays nothing.  Reference: the same
    # code with a forward bne (predicted not taken).
    forward = _loop(1).replace("bne 2b", "bne 3f\n3:")
    # J-M7: mispredict 8 ... "flag forwarding that can reduce branch misprediction penalty from 8 to
    # 6 cycles (in case of subs + bne), instruction generating flags have to be placed at least 3
    # cycles before branch"
    for core, pen in (("cortex-m4", 0), ("cortex-m7", 8)):
        c, _ = run(tmp_path, core, "loop1", _loop(1))
        d, _ = run(tmp_path, core, "loop1f", forward)
        assert c["insns"] == d["insns"]
        assert c["cycles"] - d["cycles"] == pen, core
    body = "".join(f"  add.w r{k}, r{k}, #1\n" for k in range(2, 8))  # SUBS, then 3 cycles of adds
    early = _loop(1, body, flags_first=True)
    c, _ = run(tmp_path, "cortex-m7", "loop1e", early)
    d, _ = run(tmp_path, "cortex-m7", "loop1ef", early.replace("bne 2b", "bne 3f\n3:"))
    assert c["cycles"] - d["cycles"] == 6


def test_m7_predictor_counter_width(tmp_path, monkeypatch):
    """An inner loop of 4 passes run 3 times.  Its passes 2-4 are one block (pass 1 is in the block
    that falls into the loop), whose branch goes T T N three times.  A 1-bit history mispredicts
    each exit and the first T after it (5); a 2-bit saturating counter, starting weakly taken
    (static backward prediction), only the exits (3): 2 mispredicts apart, 8 cycles each (J-M7;
    the SUBS sets the flags 1 cycle before the BNE, too late for forwarding)."""
    body = """
  movs r4, #3
4:
  movs r0, #4
2:
  subs r0, r0, #1
  add.w r1, r1, #1
  bne 2b
  subs r4, r4, #1
  add.w r5, r5, #1
  bne 4b
"""
    one, _ = run(tmp_path, "cortex-m7", "nest1", body)
    monkeypatch.setitem(cycles.table("cortex-m7")["branch"], "predictor", "two_bit")
    two, m = run(tmp_path, "cortex-m7", "nest2", body)
    assert m.state.pred_max == 3
    assert one["insns"] == two["insns"]
    assert one["cycles"] - two["cycles"] == 2 * 8


def test_it_block_skipped_instructions_are_counted(tmp_path):
    body = """
  cmp r0, r0
  ite ne
  addne r1, r1, #1
  addeq r2, r2, #1
  itt ne
  addne r3, r3, #1
  addne r4, r4, #1
"""
    info, m = run(tmp_path, "cortex-m4", "it", body)
    # movw, movt, cmp, ite, 2 adds, itt, 2 adds, nop.w: all counted, executed or not
    assert info["insns"] == 10
    # IT after a 16-bit cmp is folded: 0 cycles; the second IT follows a 16-bit add: folded too
    c = M4["costs"]
    assert info["cycles"] == 2 * c["mov"] + c["alu"] + c["it_folded"] + 2 * c["alu"] + c["it_folded"] \
        + 2 * c["alu"] + c["nop"]


def test_dwt_cyccnt_and_cpacr(tmp_path):
    body = """
  ldr r3, =0xE000ED88
  ldr r4, [r3]
  orr r4, r4, #0xF00000
  str r4, [r3]
  ldr r0, =0xE0001004
  ldr r1, [r0]
  b.w 1f
.ltorg
1:
  ldr r2, [r0]
  sub r2, r2, r1
  str r2, [r12]
"""
    for core in ("cortex-m4", "cortex-m7"):
        info, m = run(tmp_path, core, "dwt", body)
        assert m.ppb[emulator.CPACR] == 0xF00000
        delta = struct.unpack("<I", m.read(DATA, 4))[0]
        # CYCCNT is the model's running count, block granular: each read returns the count at the
        # end of the block it is in, so the difference is everything after the first block
        first = m.blocks()[FLASH + 8]
        assert 0 < delta < info["cycles"]
        assert delta == info["cycles"] - first["cycles"]


M4_SINGLE = {  # instruction: (class, M4 cycles from the table)
    "vdiv.f32 s0, s1, s2": ("fp_div", M4["costs"]["fp_div"]),
    "sdiv r0, r1, r2": ("div", M4["costs"]["div"]),
    "vmla.f32 s0, s1, s2": ("fp_mac", M4["costs"]["fp_mac"]),
    "push {r4, r5, r6, lr}": ("multiple", M4["costs"]["multiple_base"] + 4),
    "vpush {s16-s19}": ("fp_multiple", M4["costs"]["fp_multiple_base"] + 4),
    "ldrd r0, r1, [r2]": ("load_double", M4["costs"]["load_double"]),
    "str r0, [r1]": ("store", M4["costs"]["store"]),
    "smull r0, r1, r2, r3": ("mul_long", M4["costs"]["mul_long"]),
    "tbb [pc, r0]": ("table_branch", M4["costs"]["table_branch"]),
}


def test_single_instruction_costs(tmp_path):
    """Single-instruction classes and M4 costs straight from capstone + the tables (no Unicorn)."""
    from elftools.elf.elffile import ELFFile

    for k, (text, (cls, m4_cycles)) in enumerate(M4_SINGLE.items()):
        src, obj = tmp_path / f"i{k}.s", tmp_path / f"i{k}.o"
        src.write_text(f".syntax unified\n.thumb\n.cpu cortex-m4\n.fpu fpv4-sp-d16\n{text}\n")
        p = subprocess.run(["arm-none-eabi-as", "-o", str(obj), str(src)], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        with open(obj, "rb") as f:
            code = ELFFile(f).get_section_by_name(".text").data()
        assert cycles.decode(code, 0x1000)[0].cls == cls, text
        assert cycles.block_cost("cortex-m4", code, 0x1000).cycles == m4_cycles, text


def _across(offset: int, body: str) -> str:
    """`body` placed at flash offset `offset`, reached by a branch over the gap and ending in one (so
    its last block ends where the model's does, not at the run's stop address)."""
    return f"  b.w 1f\n.org {offset}\n1:\n{body}  b.w 2f\n2:\n"


def test_straight_line_across_a_page_boundary(tmp_path):
    """Unicorn ends a block at every guest page boundary; the core does not.  A straight run split
    there must cost what it costs in one piece: the model joins the two blocks (cycles.block_cost)."""
    loads = "".join(f"  ldr.w r{k}, [r12]\n" for k in range(1, 5))
    cases = {  # core: (run, 32-bit instructions before the boundary, cycles the split alone would add)
        # M4: a load right after a load pipelines (TRM 3.3.2): split after the first load
        "cortex-m4": (loads, 1, M4["costs"]["load"] - M4["costs"]["load_pipelined"]),
        # M7: two independent instructions pair (LLVM IssueWidth 2): 3 adds, then 4 adds and the closing
        # branch, take 2 + 3 cycles alone, 4 in one piece
        "cortex-m7": ("".join(f"  add.w r{k}, r{k}, #1\n" for k in range(1, 8)), 3, 1),
    }
    for core, (seq, before, lost) in cases.items():
        page = emulator.Machine(core, MEM).page_size
        at, whole_at = page - 4 * before, 2 * page + 0x100
        split, m = run(tmp_path, core, "split", _across(at, seq))
        whole, w = run(tmp_path, core, "whole", _across(whole_at, seq))
        assert FLASH + page in m.blocks() and FLASH + at in m.blocks()  # Unicorn split the run there
        assert split["insns"] == whole["insns"]
        assert split["cycles"] == whole["cycles"], core
        # ... and the join is what made them equal: the two halves alone cost `lost` more
        halves = m.blocks()[FLASH + at]["cycles"] + m.blocks()[FLASH + page]["cycles"]
        assert m.blocks()[FLASH + at]["pen"][0] == -lost
        assert halves - lost == w.blocks()[FLASH + whole_at]["cycles"], core


def test_it_block_state_survives_a_tlb_fill(tmp_path):
    """A store inside an IT block to a page not yet in Unicorn's TLB makes Unicorn restore the guest
    state mid-block (at_tlb_fill, block_hook.c clears the IT bits it restores): the instructions
    after the IT block must run unconditionally (with the restored state left, the next block ran
    its first two as the false `eq` slots)."""
    body = """
  movw r3, #0x8000
  movt r3, #0x2000
  movs r0, #1
  cmp r0, #0
  itee ne
  strne r0, [r3]
  addeq r4, r4, #1
  addeq r5, r5, #1
  b.w 1f
1:
  add r6, r6, #1
  add r7, r7, #1
  str r4, [r12]
  str r5, [r12, #4]
  str r6, [r12, #8]
  str r7, [r12, #12]
"""
    for core in ("cortex-m4", "cortex-m7"):
        info, m = run(tmp_path, core, "itfill", body)
        assert struct.unpack("<4I", m.read(DATA, 16)) == (0, 0, 1, 1), core
        assert struct.unpack("<I", m.read(RAM + 0x8000, 4))[0] == 1
