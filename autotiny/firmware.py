"""Build the firmware for a board record and account for its memory.

Everything here reads one `autotiny.config.Board` (composed once from conf/board/<name>.yaml
plus overrides): the memory layout (`layout(board)`), the generated memory.ld, the build
cache key, the fits check and the accounting.  It never reads board YAML itself.  What is
specific to the instruction set (compiler, CPU/FPU flags, startup and linker files) comes
from `autotiny.targets.target(board.core)`.

One ELF per distinct board record, built from firmware/main.c, the target's startup.c
and linker script (+ memory.ld written from the board), firmware/runtime/*.c and the kernel
set (`kernel_sets(board)`: firmware/kernels/reference/*.c plus the board's faster set), cached
under `$AUTOTINY_CACHE/build/fw-<board>-<hash>/` (keyed by a hash of all sources, the
linker script, memory.ld, the flags and the compiler version).  The model is not part of
the build: it goes into the board's blob flash region.

Memory accounting, one definition used everywhere (`account`):
    RAM used     = firmware static RAM (.data + .bss + .mailbox/.outbuf; the arena region
                   is not counted) + arena (from the blob's plan) + peak stack (measured)
    RAM reserved = the same with the stack a device must reserve, `stack_reservation(peak)`
                   (STACK_MARGIN: peak + 25 % + 256 B, rounded up to 8 B): the budget figure
    flash        = firmware image (vectors + .text/.rodata + .data load image)
                   + model slots × (slot header + blob): every slot must hold a model this size
                   (board.model_slots, A/B by default: an update goes to the slot not running)
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autotiny.blob import ModelBlob
from autotiny.config import Board, package_dir
from autotiny.errors import AutotinyError, ModelError
from autotiny.runtime import cache_dir
from autotiny.slots import SLOT_HEADER_SIZE
from autotiny.targets import Target, target

FIRMWARE = package_dir("firmware")
KB = 1024
IO_REGION = 4 * KB  # .mailbox (256 B) + .outbuf (firmware/main.c AT_OUTPUT_CAPACITY)
STATIC_REGION = 4 * KB  # .data + .bss (the link fails if they outgrow it)
SLOT_ALIGN = 4 * KB  # each model slot starts on a 4 KB boundary (a common flash erase page)
OUTPUT_CAPACITY = 3840  # firmware/main.c AT_OUTPUT_CAPACITY

# The stack a device must reserve for a model: its measured (painted) peak + 25 % + 256 B,
# rounded up to 8 B (AAPCS stack alignment).  The 25 % covers what one emulated input does
# not reach (other inputs take the same paths: the kernels have no data-dependent recursion);
# the 256 B an interrupt's exception frame (8 words, 26 with the FPU) and a small handler.
STACK_MARGIN = (0.25, 256, 8)  # (fraction of the peak, bytes, alignment)
STACK_RULE = "peak + 25 % + 256 B, rounded up to 8 B"


def stack_reservation(peak: int) -> int:
    fraction, extra, align = STACK_MARGIN
    need = peak + math.ceil(peak * fraction) + extra
    return -(-need // align) * align


@dataclass(frozen=True)
class Layout:
    """Where everything sits on a board, derived from its record (see boards/cortex_m.ld):
    RAM = stack (bottom, grows down: an overflow leaves RAM and faults) | IO | STATIC | arena;
    flash = firmware | blob region, cut into `slots` model slots of `slot_size` bytes."""

    flash_origin: int
    flash_size: int  # whole chip
    ram_origin: int
    ram_size: int  # whole chip
    firmware_region: int  # flash bytes reserved for the firmware image
    blob_origin: int
    blob_region: int
    stack_region: int
    slots: int = 1
    io_region: int = IO_REGION
    static_region: int = STATIC_REGION
    output_capacity: int = OUTPUT_CAPACITY

    @property
    def slot_size(self) -> int:
        return self.blob_region // self.slots // SLOT_ALIGN * SLOT_ALIGN

    def slot_origin(self, i: int) -> int:
        return self.blob_origin + i * self.slot_size

    @property
    def io_origin(self) -> int:
        return self.ram_origin + self.stack_region

    @property
    def static_origin(self) -> int:
        return self.io_origin + self.io_region

    @property
    def arena_origin(self) -> int:
        return self.static_origin + self.static_region

    @property
    def arena_region(self) -> int:
        return self.ram_size - self.stack_region - self.io_region - self.static_region


def layout(board: Board) -> Layout:
    """The memory layout of a board record (its real flash and RAM, its stack region)."""
    return Layout(flash_origin=board.flash_base, flash_size=board.flash_kb * KB, ram_origin=board.ram_base,
                  ram_size=board.ram_kb * KB, firmware_region=board.firmware_kb * KB,
                  blob_origin=board.flash_base + board.firmware_kb * KB,
                  blob_region=(board.flash_kb - board.firmware_kb) * KB, stack_region=board.stack_kb * KB,
                  slots=board.model_slots)


def memory_ld(board: Board) -> str:
    """The MEMORY part of the linker script, written from the board record at build time."""
    lay, t = layout(board), target(board.core)
    return (f"/* {board.name} ({t.display_name(board.fpu)}), generated by autotiny.firmware from the board record */\n"
            "MEMORY\n{\n"
            f"  FLASH  (rx) : ORIGIN = 0x{lay.flash_origin:08X}, LENGTH = {lay.firmware_region}\n"
            f"  BLOB   (r)  : ORIGIN = 0x{lay.blob_origin:08X}, LENGTH = {lay.blob_region}\n"
            f"  STACK  (rw) : ORIGIN = 0x{lay.ram_origin:08X}, LENGTH = {lay.stack_region}\n"
            f"  IO     (rw) : ORIGIN = 0x{lay.io_origin:08X}, LENGTH = {lay.io_region}\n"
            f"  STATIC (rw) : ORIGIN = 0x{lay.static_origin:08X}, LENGTH = {lay.static_region}\n"
            f"  ARENA  (rw) : ORIGIN = 0x{lay.arena_origin:08X}, LENGTH = {lay.arena_region}\n"
            "}\n"
            f"__ram_size = {lay.ram_size};\n"
            f"__flash_size = {lay.flash_size};\n"
            f"__slot_count = {lay.slots};\n"
            f"__slot_size = {lay.slot_size};\n")


CFLAGS = ("-std=c99", "-g", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections",
          "-ffp-contract=off", "-fno-strict-aliasing", "-fstack-usage")
LDFLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections")


@dataclass(frozen=True)
class FirmwareImage:
    board: Board  # the record it was built for
    layout: Layout
    flags: tuple[str, ...]  # target CPU/FPU flags and defines it was compiled with
    elf: Path
    text: int  # vectors + code + read-only data (flash)
    data: int  # initialised RAM data (in flash and in RAM)
    bss: int  # zeroed RAM
    io: int  # mailbox + output buffer (NOLOAD RAM at fixed addresses)
    stack_estimate: int  # static upper bound from -fstack-usage; the emulator measures the real peak

    @property
    def static_ram(self) -> int:
        return self.data + self.bss + self.io

    @property
    def flash_image(self) -> int:
        return self.text + self.data


@dataclass(frozen=True)
class RamFlash:
    """RAM and flash of one model on one board: what it uses and what a device must reserve."""

    board: str
    data_bss: int  # firmware .data + .bss
    io: int  # mailbox + output buffer
    arena: int
    peak_stack: int  # measured (painted) peak, or the -fstack-usage bound when not measured
    firmware_flash: int
    blob: int
    ram_capacity: int
    flash_capacity: int
    stack_measured: bool = False
    stack_region: int = 0  # what the measurement firmware links (headroom for painting)
    slots: int = 1  # model slots in flash (board.model_slots), each holding a slot header + the blob

    @property
    def static_ram(self) -> int:
        return self.data_bss + self.io

    @property
    def stack_reserved(self) -> int:
        return stack_reservation(self.peak_stack)

    @property
    def ram_used(self) -> int:
        return self.static_ram + self.arena + self.peak_stack

    @property
    def ram_reserved(self) -> int:
        return self.static_ram + self.arena + self.stack_reserved

    @property
    def ram(self) -> int:
        """The RAM figure budgets are checked against: what a device must reserve."""
        return self.ram_reserved

    @property
    def slot_bytes(self) -> int:
        """Flash one model slot needs for this model: slot header + blob."""
        return SLOT_HEADER_SIZE + self.blob

    @property
    def flash(self) -> int:
        """The flash figure budgets are checked against: the firmware and every model slot."""
        return self.firmware_flash + self.slots * self.slot_bytes

    def describe_flash(self) -> str:
        return (f"flash {self.flash:,} B = firmware {self.firmware_flash:,} + {self.slots} model slot"
                f"{'s' if self.slots > 1 else ''} × (slot header {SLOT_HEADER_SIZE} + blob {self.blob:,})")

    @property
    def fits(self) -> bool:
        return self.ram_reserved <= self.ram_capacity and self.flash <= self.flash_capacity

    def ram_split(self) -> dict[str, int]:
        return {"static": self.data_bss, "io": self.io, "arena": self.arena, "stack_peak": self.peak_stack,
                "stack_reserved": self.stack_reserved, "used": self.ram_used, "reserved": self.ram_reserved}

    def describe_ram(self) -> str:
        how = "painted" if self.stack_measured else "not measured: -fstack-usage static bound"
        return (f"RAM reserved {self.ram_reserved:,} B = static {self.data_bss:,} + io {self.io:,} + arena "
                f"{self.arena:,} + stack reserved {self.stack_reserved:,} ({STACK_RULE}); "
                f"used {self.ram_used:,} B with the peak stack {self.peak_stack:,} B ({how})")


def compiler(t: Target | None = None) -> str:
    cc = t.compiler if t is not None else "arm-none-eabi-gcc"
    path = shutil.which(cc)
    if path is None:
        raise AutotinyError(f"{cc} not found: install it with `apt-get install --no-install-recommends "
                            "gcc-arm-none-eabi libnewlib-arm-none-eabi` (make setup does this)")
    return path


def kernel_sets(board: Board) -> tuple[str, ...]:
    """The kernel sets linked for a board: the reference set always (it defines every kernel,
    weakly), then the faster set whose kernels replace it (firmware/runtime/kernels.h)."""
    chosen = target(board.core).fast_kernels if board.kernels == "auto" else board.kernels
    return ("reference",) if chosen == "reference" else ("reference", chosen)


def _sources(board: Board) -> list[Path]:
    t = target(board.core)
    rt = sorted(p for p in (FIRMWARE / "runtime").glob("*.c") if p.name != "host_api.c")
    kernels = [p for s in kernel_sets(board) for p in sorted((FIRMWARE / "kernels" / s).glob("*.c"))]
    return [FIRMWARE / "main.c", t.startup, *rt, *kernels]


def board_flags(board: Board, int16: bool = False, sparse: bool = False) -> tuple[str, ...]:
    """Compiler flags a board's firmware is built with: the target's CPU/FPU flags, defines and
    the board's optimisation level; `int16` links the 16x8 op rows (`needs_int16`), `sparse`
    the sparse-filter decoder (`needs_sparse`)."""
    t = target(board.core)
    return (*t.cpu_flags(board.fpu), *t.firmware_defines(board.n_irq), f"-{board.opt_level}",
            *(("-DAT_WITH_16X8",) if int16 else ()), *(("-DAT_WITH_SPARSE",) if sparse else ()))


def needs(model) -> tuple[bool, bool]:
    """(int16, sparse): the optional parts a ModelBlob needs in its firmware, the 16x8 rows (int16
    activations) and the sparse-filter decoder (autotiny.blob.sparse); a firmware leaves out what its
    model does not use, so it does not pay their flash.  One parse of the blob's op records (its op
    names there; ModelBlob.op_names are TFLite's)."""
    from autotiny.blob import load_blob
    from autotiny.blob import ops

    names = load_blob(model.data).op_names
    return ops.needs_int16(names), ops.needs_sparse(names)


def needs_int16(model) -> bool:
    return needs(model)[0]


def needs_sparse(model) -> bool:
    return needs(model)[1]


def _hash(board: Board, int16: bool = False, sparse: bool = False) -> str:
    t = target(board.core)
    h = hashlib.sha256()
    dirs = [FIRMWARE / "runtime", *(FIRMWARE / "kernels" / s for s in kernel_sets(board))]
    headers = [f for d in dirs for f in sorted(d.glob("*.h"))]  # a kernel set may have its own
    files = _sources(board) + headers + [t.linker_script]
    for f in files:
        h.update(str(f.relative_to(FIRMWARE)).encode())
        h.update(f.read_bytes())
    h.update(memory_ld(board).encode())
    version = subprocess.run([compiler(t), "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    h.update(" ".join((*board_flags(board, int16, sparse), *CFLAGS, *LDFLAGS, *kernel_sets(board), version)).encode())
    return h.hexdigest()[:16]


def build(board: Board, force: bool = False, int16: bool = False, sparse: bool = False) -> FirmwareImage:
    """Build (or reuse) the firmware ELF for a board record; `int16`: with the 16x8 op rows
    (for a model that `needs_int16`); `sparse`: with the sparse-filter decoder (`needs_sparse`)."""
    if not isinstance(board, Board):
        raise TypeError(f"firmware.build takes the board record (autotiny.config.Board), not {type(board).__name__}")
    t = target(board.core)
    cc = compiler(t)
    flags = board_flags(board, int16, sparse)
    variant = ("-16x8" if int16 else "") + ("-sparse" if sparse else "")
    out = cache_dir() / "build" / f"fw-{board.name}{variant}-{_hash(board, int16, sparse)}"
    elf = out / "firmware.elf"
    if not elf.exists() or force:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"fw-{board.name}-", dir=out.parent))
        try:
            objs = []
            for src in _sources(board):
                obj = work / f"{src.parent.name}-{src.stem}.o"  # kernel sets share file names
                _run([cc, *flags, *CFLAGS, "-I", str(FIRMWARE), "-I", str(FIRMWARE / "runtime"), "-c", str(src),
                      "-o", str(obj)], work)
                objs.append(str(obj))
            (work / "memory.ld").write_text(memory_ld(board))
            _run([cc, *t.cpu_flags(board.fpu), *LDFLAGS, "-L", str(work), "-T", str(t.linker_script),
                  f"-Wl,-Map={work / 'firmware.map'}", "-o", str(work / "firmware.elf"), *objs, "-lm"], work)
            if force and out.exists():
                shutil.rmtree(out, ignore_errors=True)
            try:
                os.replace(work, out)  # atomic publish; a concurrent builder may have won
            except OSError:
                shutil.rmtree(work, ignore_errors=True)
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
    return inspect(elf, board, int16, sparse)


def _run(cmd: list[str], cwd: Path) -> None:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise AutotinyError(f"firmware build failed:\n{' '.join(cmd)}\n{p.stderr}")


def inspect(elf: Path, board: Board, int16: bool = False, sparse: bool = False) -> FirmwareImage:
    """Section sizes from the ELF (pyelftools) and a stack estimate from the .su files."""
    from elftools.elf.elffile import ELFFile

    sizes: dict[str, int] = {}
    with open(elf, "rb") as f:
        for s in ELFFile(f).iter_sections():
            sizes[s.name] = s["sh_size"]
    text = sizes.get(".isr_vector", 0) + sizes.get(".text", 0) + sizes.get(".ARM.exidx", 0)
    return FirmwareImage(board=board, layout=layout(board), flags=board_flags(board, int16, sparse), elf=elf, text=text,
                         data=sizes.get(".data", 0), bss=sizes.get(".bss", 0),
                         io=sizes.get(".mailbox", 0) + sizes.get(".outbuf", 0),
                         stack_estimate=_stack_estimate(elf.parent))


def _stack_estimate(build_dir: Path) -> int:
    """Upper bound of the peak stack from gcc -fstack-usage (no call graph):
    reset + main + the larger of load/invoke + the two largest other frames
    (a kernel and a helper it calls) + the layer hook."""
    frames: dict[str, int] = {}
    for su in build_dir.glob("*.su"):
        for line in su.read_text().splitlines():
            m = re.match(r".*:\d+:\d+:(\S+)\s+(\d+)\s+(\w+)", line)
            if m:
                frames[m.group(1)] = max(frames.get(m.group(1), 0), int(m.group(2)))
    fixed = frames.pop("Reset_Handler", 0) + frames.pop("main", 0)
    mid = max(frames.pop("at_model_load", 0), frames.pop("at_model_invoke", 0))
    hook = frames.pop("autotiny_layer_boundary", 0)
    rest = sorted(frames.values(), reverse=True)
    return fixed + mid + hook + sum(rest[:2]) + 32  # + exception-free call overhead margin


def account(blob: ModelBlob, board: Board, image: FirmwareImage | None = None,
            peak_stack: int | None = None) -> RamFlash:
    """RAM / flash of running `blob` on a board (peak_stack: measured value, if any;
    without one the -fstack-usage bound stands in, and `stack_measured` is False)."""
    image = image or build(board)
    lay = layout(board)
    return RamFlash(board=board.name, data_bss=image.data + image.bss, io=image.io, arena=blob.arena_size,
                    peak_stack=peak_stack if peak_stack is not None else image.stack_estimate,
                    firmware_flash=image.flash_image, blob=blob.size, ram_capacity=lay.ram_size,
                    flash_capacity=lay.flash_size, stack_measured=peak_stack is not None,
                    stack_region=lay.stack_region, slots=lay.slots)


def check_fits(blob: ModelBlob, board: Board, image: FirmwareImage | None = None) -> None:
    """Refuse, before anything runs, a model whose arena, output or blob does not fit the board."""
    lay = layout(board)
    problems = []
    if blob.arena_size > lay.arena_region:
        problems.append(f"arena {blob.arena_size:,} B > {lay.arena_region:,} B of RAM for the arena "
                        f"({lay.ram_size // KB} KB RAM - {lay.stack_region // KB} KB stack - "
                        f"{(lay.io_region + lay.static_region) // KB} KB firmware)")
    if SLOT_HEADER_SIZE + blob.size > lay.slot_size:
        problems.append(f"blob {blob.size:,} B + {SLOT_HEADER_SIZE} B slot header > {lay.slot_size:,} B model slot "
                        f"({lay.blob_region // KB} KB blob region / {lay.slots} slots)")
    out_bytes = blob.output_dtype.itemsize * int(_prod(blob.output_shape))
    if out_bytes > lay.output_capacity:
        problems.append(f"output {out_bytes:,} B > {lay.output_capacity:,} B output buffer")
    if image is not None and image.flash_image > lay.firmware_region:
        problems.append(f"firmware {image.flash_image:,} B > {lay.firmware_region:,} B firmware flash region")
    if problems:
        raise ModelError(f"model {blob.source} does not fit {board.name}: " + "; ".join(problems))


def _prod(xs) -> int:
    n = 1
    for x in xs:
        n *= int(x)
    return n
