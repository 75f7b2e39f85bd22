"""Build the ARM firmware per board and account for its memory.

One firmware ELF per board, built with Debian's arm-none-eabi-gcc from
firmware/main.c, firmware/boards/{startup.c,cortex_m.ld} (+ a memory.ld generated
from conf/board/<board>.yaml: the chip's real flash and RAM) and firmware/runtime/*.c,
cached under `$AUTOTINY_CACHE/build/fw-<board>-<hash>/` (keyed by a hash of all sources,
the linker script, the memory map, the flags and the compiler version).  The model is not part of the build: it goes into the
board's blob flash region.

Memory accounting, one definition used everywhere:
    RAM   = firmware static RAM (.data + .bss + .mailbox/.outbuf; the arena
            region is not counted) + arena (from the blob's plan) + peak stack
    flash = firmware image (vectors + .text/.rodata + .data load image) + blob
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autotiny.blob import ModelBlob
from autotiny.errors import AutotinyError, ModelError
from autotiny.config import package_dir
from autotiny.runtime import cache_dir

FIRMWARE = package_dir("firmware")
LINKER_SCRIPT = FIRMWARE / "boards" / "cortex_m.ld"
CC = "arm-none-eabi-gcc"


@dataclass(frozen=True)
class Board:
    name: str
    core: str
    mhz: int
    cpu_flags: tuple[str, ...]
    flash_origin: int
    flash_size: int  # whole chip
    ram_origin: int
    ram_size: int  # whole chip
    firmware_region: int  # flash bytes reserved for the firmware image
    blob_origin: int
    blob_region: int
    n_irq: int = 0
    stack_region: int = 16 * 1024
    io_region: int = 4 * 1024
    static_region: int = 4 * 1024
    output_capacity: int = 3840

    @property
    def arena_origin(self) -> int:
        return self.ram_origin + self.stack_region + self.io_region + self.static_region

    @property
    def arena_region(self) -> int:
        return self.ram_size - self.stack_region - self.io_region - self.static_region


KB = 1024
STACK_REGION, IO_REGION, STATIC_REGION = 16 * KB, 4 * KB, 4 * KB  # fixed RAM layout: boards/cortex_m.ld


def _cpu_flags(core: str, fpu: str | None) -> tuple[str, ...]:
    float_abi = ("-mfpu=" + fpu, "-mfloat-abi=hard") if fpu else ("-mfloat-abi=soft",)
    return (f"-mcpu={core}", *float_abi, "-mthumb")


def _from_config(c) -> Board:
    """Firmware view of a conf/board/<name>.yaml record: the one source of board facts."""
    display = "Cortex-" + c.core.split("-", 1)[1].upper() + ("F" if c.fpu and c.core == "cortex-m4" else "")
    return Board(name=c.name, core=display, mhz=c.clock_hz // 1_000_000, cpu_flags=_cpu_flags(c.core, c.fpu),
                 flash_origin=c.flash_base, flash_size=c.flash_kb * KB, ram_origin=c.ram_base,
                 ram_size=c.ram_kb * KB, firmware_region=c.firmware_kb * KB,
                 blob_origin=c.flash_base + c.firmware_kb * KB, blob_region=(c.flash_kb - c.firmware_kb) * KB,
                 n_irq=c.n_irq)


def _load_boards() -> dict[str, Board]:
    from autotiny.config import group_options, load_board

    return {name: _from_config(load_board(name)) for name in group_options("board")}


BOARDS: dict[str, Board] = _load_boards()


def memory_ld(b: Board) -> str:
    """The MEMORY part of the linker script, written from the board config at build time."""
    r = b.ram_origin
    return (f"/* {b.name} ({b.core}, {b.mhz} MHz), generated from conf/board/{b.name}.yaml */\n"
            "MEMORY\n{\n"
            f"  FLASH  (rx) : ORIGIN = 0x{b.flash_origin:08X}, LENGTH = {b.firmware_region}\n"
            f"  BLOB   (r)  : ORIGIN = 0x{b.blob_origin:08X}, LENGTH = {b.blob_region}\n"
            f"  STACK  (rw) : ORIGIN = 0x{r:08X}, LENGTH = {b.stack_region}\n"
            f"  IO     (rw) : ORIGIN = 0x{r + b.stack_region:08X}, LENGTH = {b.io_region}\n"
            f"  STATIC (rw) : ORIGIN = 0x{r + b.stack_region + b.io_region:08X}, LENGTH = {b.static_region}\n"
            f"  ARENA  (rw) : ORIGIN = 0x{b.arena_origin:08X}, LENGTH = {b.arena_region}\n"
            "}\n"
            f"__ram_size = {b.ram_size};\n")


CFLAGS = ("-std=c99", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections",
          "-ffp-contract=off", "-fno-strict-aliasing", "-fstack-usage")
LDFLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections")


@dataclass(frozen=True)
class FirmwareImage:
    board: str
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
    board: str
    static_ram: int
    arena: int
    peak_stack: int
    firmware_flash: int
    blob: int
    ram_capacity: int
    flash_capacity: int
    stack_measured: bool = False

    @property
    def ram(self) -> int:
        return self.static_ram + self.arena + self.peak_stack

    @property
    def flash(self) -> int:
        return self.firmware_flash + self.blob

    @property
    def fits(self) -> bool:
        return self.ram <= self.ram_capacity and self.flash <= self.flash_capacity


def board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ModelError(f"unknown board '{name}'; known: {', '.join(BOARDS)}") from None


def compiler() -> str:
    path = shutil.which(CC)
    if path is None:
        raise AutotinyError(f"{CC} not found: install it with `apt-get install --no-install-recommends "
                            "gcc-arm-none-eabi libnewlib-arm-none-eabi` (make setup does this)")
    return path


def _sources() -> list[Path]:
    rt = sorted(p for p in (FIRMWARE / "runtime").glob("*.c") if p.name != "host_api.c")
    return [FIRMWARE / "main.c", FIRMWARE / "boards" / "startup.c", *rt]


def _board_flags(b: Board) -> tuple[str, ...]:
    core = ("-DAT_CORE_M7",) if b.core == "Cortex-M7" else ()
    return (*b.cpu_flags, f"-DAT_N_IRQ={b.n_irq}", *core)


def _hash(b: Board) -> str:
    h = hashlib.sha256()
    files = _sources() + sorted((FIRMWARE / "runtime").glob("*.h")) + [LINKER_SCRIPT]
    for f in files:
        h.update(str(f.relative_to(FIRMWARE)).encode())
        h.update(f.read_bytes())
    h.update(memory_ld(b).encode())
    version = subprocess.run([compiler(), "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    h.update(" ".join((*_board_flags(b), *CFLAGS, *LDFLAGS, version)).encode())
    return h.hexdigest()[:16]


def build(board_name: str, force: bool = False) -> FirmwareImage:
    """Build (or reuse) the firmware ELF for a board."""
    b = board(board_name)
    cc = compiler()
    out = cache_dir() / "build" / f"fw-{b.name}-{_hash(b)}"
    elf = out / "firmware.elf"
    if not elf.exists() or force:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"fw-{b.name}-", dir=out.parent))
        try:
            objs = []
            for src in _sources():
                obj = work / (src.stem + ".o")
                _run([cc, *_board_flags(b), *CFLAGS, "-I", str(FIRMWARE), "-c", str(src), "-o", str(obj)], work)
                objs.append(str(obj))
            (work / "memory.ld").write_text(memory_ld(b))
            _run([cc, *b.cpu_flags, *LDFLAGS, "-L", str(work), "-T", str(LINKER_SCRIPT),
                  f"-Wl,-Map={work / 'firmware.map'}", "-o", str(work / "firmware.elf"), *objs, "-lm"], work)
            try:
                os.replace(work, out)  # atomic publish; a concurrent builder may have won
            except OSError:
                shutil.rmtree(work, ignore_errors=True)
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
    return inspect(elf, b.name)


def _run(cmd: list[str], cwd: Path) -> None:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise AutotinyError(f"firmware build failed:\n{' '.join(cmd)}\n{p.stderr}")


def inspect(elf: Path, board_name: str) -> FirmwareImage:
    """Section sizes from the ELF (pyelftools) and a stack estimate from the .su files."""
    from elftools.elf.elffile import ELFFile

    sizes: dict[str, int] = {}
    with open(elf, "rb") as f:
        for s in ELFFile(f).iter_sections():
            sizes[s.name] = s["sh_size"]
    text = sizes.get(".isr_vector", 0) + sizes.get(".text", 0) + sizes.get(".ARM.exidx", 0)
    return FirmwareImage(board=board_name, elf=elf, text=text, data=sizes.get(".data", 0),
                         bss=sizes.get(".bss", 0), io=sizes.get(".mailbox", 0) + sizes.get(".outbuf", 0),
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


def account(blob: ModelBlob, board_name: str, image: FirmwareImage | None = None,
            peak_stack: int | None = None) -> RamFlash:
    """RAM / flash of running `blob` on a board (peak_stack: measured value, if any)."""
    b = board(board_name)
    image = image or build(board_name)
    return RamFlash(board=b.name, static_ram=image.static_ram, arena=blob.arena_size,
                    peak_stack=peak_stack if peak_stack is not None else image.stack_estimate,
                    firmware_flash=image.flash_image, blob=blob.size, ram_capacity=b.ram_size,
                    flash_capacity=b.flash_size, stack_measured=peak_stack is not None)


def check_fits(blob: ModelBlob, board_name: str, image: FirmwareImage | None = None) -> None:
    """Refuse, before anything runs, a model whose arena, output or blob does not fit the board."""
    b = board(board_name)
    problems = []
    if blob.arena_size > b.arena_region:
        problems.append(f"arena {blob.arena_size:,} B > {b.arena_region:,} B of RAM for the arena "
                        f"({b.ram_size // KB} KB RAM - {b.stack_region // KB} KB stack - "
                        f"{(b.io_region + b.static_region) // KB} KB firmware)")
    if blob.size > b.blob_region:
        problems.append(f"blob {blob.size:,} B > {b.blob_region:,} B blob flash region")
    out_bytes = blob.output_dtype.itemsize * int(_prod(blob.output_shape))
    if out_bytes > b.output_capacity:
        problems.append(f"output {out_bytes:,} B > {b.output_capacity:,} B output buffer")
    if image is not None and image.flash_image > b.firmware_region:
        problems.append(f"firmware {image.flash_image:,} B > {b.firmware_region:,} B firmware flash region")
    if problems:
        raise ModelError(f"model {blob.source} does not fit {b.name}: " + "; ".join(problems))


def _prod(xs) -> int:
    n = 1
    for x in xs:
        n *= int(x)
    return n
