"""Front-ends on the device: build a front-end's firmware for a board record and a candidate's
front-end parameters, run it in the emulator on a raw input, and read back the int8 model input, its
cycles, stack peak, RAM and flash.  `REGISTRY` says, per search-space `frontend.type`, what the
device needs (`DeviceFrontend`: C source, CMSIS-DSP files, generated tables, raw input format,
output shape); adding a front-end is one entry there and one C file in firmware/frontends/.

    from autotiny.config import compose
    from autotiny.frontends.device import measure
    cost = measure(compose(["board=stm32l4r5"]).board, MfccParams())   # FrontendCost
    run = run_clip(board, params, audio_int16, scale=0.5847, zero_point=83, want_float=True)
    run = run_input(board, "imu_stats", WindowParams(), window_float32, hint=6, scale=..., ...)

The front-end firmware (firmware/frontends/: fe_main.c runs the front-end's at_fe_run — mfcc.c
does arm_mfcc_f32's steps on CMSIS-DSP's real FFT, on tables generated from the params by
autotiny/frontends/cmsis_mfcc.py; imu.c its statistics and RFFT, image.c Pillow's bilinear
resize, on tables from autotiny/frontends/device_tables.py) is built with the board's own flags, startup code, linker
script and memory.ld (autotiny.firmware), and run on the board's emulated machine
(autotiny.measure.machine) — the network is measured by its own run (autotiny.measure.emulator):
two measured runs, one per phase.  Its figures:

* cycles: between the layer-boundary marks around `at_fe_run` (no start-up, no harness);
* RAM: the raw input buffer (the int16 clip, the float32 IMU window, the uint8 picture) + static data
  + its stack reserved (autotiny.firmware.STACK_RULE on the painted peak; its buffers are on the
  stack).  The int8 features it writes are the model's input tensor, already in the network's arena;
* flash: every byte the linker map attributes to the front-end's objects (its C file, the CMSIS-DSP
  files, the tables, and the libc/libm members they pull in), i.e. all but start-up and harness.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autotiny.config import Board, package_dir
from autotiny.errors import AutotinyError
from autotiny.frontends import cmsis_mfcc, device_tables, imu, vibration
from autotiny.frontends.mfcc import MfccParams, fit_length, frame_count

FRONTENDS_DIR = package_dir("firmware") / "frontends"
HARNESS = ("fe_main", "boot", "startup")  # objects that are measurement scaffolding, not the front-end
BOOT = package_dir("firmware") / "runtime" / "boot.c"  # the reset, mailbox and emulator hooks main.c shares
FE_OPCODE = 0x100
DSP_CFLAGS = ("-std=c99", "-g", "-ffunction-sections", "-fdata-sections", "-ffp-contract=off",
              "-fno-strict-aliasing", "-fstack-usage", "-DARM_MATH_LOOPUNROLL",
              "-Wno-implicit-function-declaration")  # q15 inline helpers in headers it never calls


@dataclass(frozen=True)
class FrontendImage:
    elf: Path
    flash: int  # front-end code + tables + what they pull from libc/libm
    static_ram: int  # front-end .data + .bss
    harness_flash: int  # start-up + measurement main, not counted


@dataclass(frozen=True)
class FrontendRun:
    features: np.ndarray  # int8 [rows, columns] (MFCC: frames x n_mfcc): the model input
    float_features: np.ndarray | None  # float32, the same shape, when asked for
    cycles: int
    instructions: int
    peak_stack: int


@dataclass(frozen=True)
class FrontendCost:
    """What the front-end costs on one board: its figures beside the network's."""

    board: str
    frontend: str
    params: dict
    cycles: int
    latency_ms: float
    energy_uj: float
    audio_bytes: int  # the raw input buffer (the int16 clip for the MFCC; name kept for the trial records)
    static_ram: int
    peak_stack: int
    stack_reserved: int
    ram_bytes: int  # input + static + stack reserved + scratch
    flash_bytes: int
    source: str = "emulated"
    scratch_bytes: int = 0  # working memory beyond the stack (a 2,048-point FFT's buffers), in the arena

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DeviceFrontend:
    """What the device needs to run one front-end type.  `hint` is what the params leave out of the
    raw input's shape: an IMU window's axes, a picture's source (height, width); None for the MFCC."""

    name: str  # the search space's frontend.type
    source: str  # C file in firmware/frontends/ defining at_fe_run (fe.h)
    dsp_sources: Callable[[Any], tuple[str, ...]]  # params -> CMSIS-DSP files it needs (Source/ relative)
    tables: Callable[[Any, Any], str]  # (params, hint) -> its generated fe_tables.h
    input_format: Callable[[Any, Any], tuple[type, tuple[int, ...]]]  # raw input dtype and shape
    output_shape: Callable[[Any, Any], tuple[int, int]]  # the int8 model input (rows, columns)
    probe: Callable[[Any, Any], np.ndarray]  # a generated raw input: what `measure` runs
    # the hint for budgets from the model (TfliteModel) and the task's raw shape (Task.raw_shape:
    # a picture's source size); None: not counted in budgets, measured by bench/frontend_cost.py only
    hint_from: Callable[[Any, Any], Any] | None = None
    # working memory beyond the stack (fe.h FE_SCRATCH: in the arena after input and features), bytes
    scratch_bytes: Callable[[Any, Any], int] = lambda p, hint: 0
    # its C file includes CMSIS-DSP headers (arm_math_types.h), even where it compiles no CMSIS-DSP file (imu_raw)
    cmsis_headers: bool = True


def _imu_probe(p, channels: int):
    """Generated IMU window: a sine per axis at its own frequency and level in noise (float32)."""
    rng = np.random.default_rng(0)
    t = np.arange(p.window)[:, None] / 50.0
    f = rng.uniform(0.3, 5.0, channels)
    x = rng.uniform(0.2, 2.0, channels) * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal((p.window, channels))
    return x.astype(np.float32)


def _imu(kind: str, rows: Callable[[Any], tuple[int]]) -> DeviceFrontend:
    return DeviceFrontend(kind, "imu.c", lambda p: device_tables.IMU_SOURCES[kind],
                          lambda p, c: device_tables.imu_header(kind, p, c),
                          lambda p, c: (np.float32, (p.window, c)), lambda p, c: (rows(p)[0], c), _imu_probe,
                          lambda t, raw: int(t.tensor(t.inputs[0]).shape[2]))  # [1, rows, axes(, 1)]


def _image_probe(p, source: tuple[int, int]) -> np.ndarray:
    """A generated uint8 picture: a bright disc on a gradient, in noise."""
    h, w = source
    yy, xx = np.mgrid[:h, :w]
    x = 60 * xx / w + 180 * ((yy - h / 2) ** 2 + (xx - w / 3) ** 2 < (min(h, w) / 4) ** 2)
    return np.clip(x + np.random.default_rng(0).normal(0, 8, (h, w)), 0, 255).astype(np.uint8)


def _image_source(raw) -> tuple[int, int]:
    """The picture's (height, width) from the task (Task.raw_shape): the model's input says only the size."""
    if raw is None or len(raw) != 2:
        raise AutotinyError(f"the device image front-end needs the picture's source (height, width) from the task "
                            f"(Task.raw_shape), not {raw}")
    return int(raw[0]), int(raw[1])


def _vibration_probe(p, hint) -> np.ndarray:
    """A generated accelerometer window: a shaft tone, a bearing tone's impacts and noise (float32)."""
    rng = np.random.default_rng(0)
    t = np.arange(p.window) / 12000.0
    x = 0.3 * np.sin(2 * np.pi * 29.95 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t) * (np.sin(2 * np.pi * 160 * t) > 0.9)
    return (x + 0.05 * rng.standard_normal(p.window)).astype(np.float32)


def _vibration(kind: str, rows: Callable[[Any], tuple[int]]) -> DeviceFrontend:
    return DeviceFrontend(kind, "vibration.c", lambda p: device_tables.VIB_SOURCES[kind],
                          lambda p, h: device_tables.vibration_header(kind, p), lambda p, h: (np.float32, (p.window,)),
                          lambda p, h: (rows(p)[0], 1), _vibration_probe, lambda t, raw: None,
                          lambda p, h: device_tables.vibration_scratch_bytes(kind, p))


REGISTRY: dict[str, DeviceFrontend] = {
    "mfcc": DeviceFrontend("mfcc", "mfcc.c", lambda p: cmsis_mfcc.RFFT_F32_SOURCES,
                           lambda p, c: cmsis_mfcc.header(p), lambda p, c: (np.int16, (p.clip_samples,)),
                           lambda p, c: (frame_count(p), p.n_mfcc), lambda p, c: probe_clip(p), lambda t, raw: None),
    "imu_raw": _imu("imu_raw", imu.raw_shape),
    "imu_stats": _imu("imu_stats", imu.stats_shape),
    "imu_spectral": _imu("imu_spectral", imu.spectral_shape),
    "fft_bands": _vibration("fft_bands", vibration.bands_shape),
    "log_spectrum": _vibration("log_spectrum", vibration.spectrum_shape),
    "time_stats": _vibration("time_stats", vibration.stats_shape),
    "image": DeviceFrontend("image", "image.c", lambda p: (), device_tables.image_header,
                            lambda p, source: (np.uint8, tuple(source)), lambda p, source: (p.size, p.size),
                            _image_probe, lambda t, raw: _image_source(raw), cmsis_headers=False),
}
# Front-ends whose device cost budgets count (search-space `frontend.type` names); others run on the host only.
DEVICE_FRONTENDS = tuple(k for k, v in REGISTRY.items() if v.hint_from is not None)


def device_frontend(name: str) -> DeviceFrontend:
    try:
        return REGISTRY[name]
    except KeyError:
        raise AutotinyError(f"front-end {name!r} has no device implementation: "
                            f"{', '.join(REGISTRY)} have") from None


def _header(fe: DeviceFrontend, params, hint) -> str:
    """The front-end's generated tables plus the sizes fe_main.c needs."""
    dtype, shape = fe.input_format(params, hint)
    rows, cols = fe.output_shape(params, hint)
    return "\n".join([fe.tables(params, hint), "#ifndef AT_FE_SIZES_H", "#define AT_FE_SIZES_H",
                      f"#define FE_INPUT_BYTES {int(np.prod(shape)) * np.dtype(dtype).itemsize}u",
                      f"#define FE_OUT_ROWS {rows}u", f"#define FE_OUT_COLS {cols}u",
                      f"#define FE_SCRATCH_BYTES {fe.scratch_bytes(params, hint)}u", "#endif", ""])


def _compiler_version(cc: str) -> str:
    return subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def build(board: Board, params, frontend: str = "mfcc", hint=None) -> FrontendImage:
    """Build (or reuse) a front-end's firmware for a board record and front-end params."""
    from autotiny import firmware
    from autotiny.runtime import cache_dir
    from autotiny.targets import target

    t = target(board.core)
    cc = firmware.compiler(t)
    flags = firmware.board_flags(board)
    fe = device_frontend(frontend)
    header = _header(fe, params, hint)
    dsp = [cmsis_mfcc.sources() / "Source" / s for s in fe.dsp_sources(params)]
    own = [*(FRONTENDS_DIR / s for s in (fe.source, "fe_main.c")), BOOT]
    h = hashlib.sha256()
    for f in [*own, *sorted(FRONTENDS_DIR.glob("*.h")), *sorted(BOOT.parent.glob("*.h")), t.startup,
              t.linker_script, *dsp]:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    h.update(header.encode())
    h.update(firmware.memory_ld(board).encode())
    h.update(" ".join((*flags, *firmware.CFLAGS, *DSP_CFLAGS, *firmware.LDFLAGS, _compiler_version(cc))).encode())
    out = cache_dir() / "build" / f"fe-{frontend}-{board.name}-{h.hexdigest()[:16]}"
    if not (out / "firmware.elf").exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"fe-{board.name}-", dir=out.parent))
        try:
            (work / "fe_tables.h").write_text(header)
            (work / "memory.ld").write_text(firmware.memory_ld(board))
            inc = ["-I", str(work), "-I", str(FRONTENDS_DIR), "-I", str(BOOT.parent.parent),
                   "-I", str(cmsis_mfcc.sources() / "Include"),
                   "-I", str(cmsis_mfcc.sources() / "PrivateInclude")]
            objs = []
            for src in [*own, t.startup]:
                obj = work / f"{'fe' if src in own else 'boot'}-{src.stem}.o"
                _run([cc, *flags, *firmware.CFLAGS, *inc, "-c", str(src), "-o", str(obj)], work)
                objs.append(str(obj))
            for src in dsp:  # Arm's code, built with the board's flags but not our -Werror
                obj = work / f"dsp-{src.stem}.o"
                _run([cc, *flags, *DSP_CFLAGS, *inc, "-c", str(src), "-o", str(obj)], work)
                objs.append(str(obj))
            _run([cc, *t.cpu_flags(board.fpu), *firmware.LDFLAGS, "-L", str(work), "-T", str(t.linker_script),
                  f"-Wl,-Map={work / 'firmware.map'}", "-o", str(work / "firmware.elf"), *objs, "-lm"], work)
            try:
                os.replace(work, out)
            except OSError:
                pass
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return _inspect(out)


def _run(cmd: list[str], cwd: Path) -> None:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise AutotinyError(f"front-end firmware build failed:\n{' '.join(cmd)}\n{p.stderr}")


_INPUT = re.compile(r"^\s+(?:(\S+)\s+)?0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S+)$")
_FLASH_SECTIONS = (".isr_vector", ".text", ".ARM.exidx", ".data")
_RAM_SECTIONS = (".data", ".bss")


def map_sizes(map_text: str) -> dict[tuple[str, str], int]:
    """(output section, input file) -> bytes, from a GNU ld map file's memory map."""
    sizes: dict[tuple[str, str], int] = {}
    body = map_text.split("Linker script and memory map", 1)[-1]
    section = None
    for line in body.splitlines():
        if line and not line[0].isspace():
            section = line.split()[0]
            continue
        m = _INPUT.match(line)
        if m and section and not line.lstrip().startswith("*fill*") and m.group(4).endswith((".o", ")")):
            key = (section, m.group(4))
            sizes[key] = sizes.get(key, 0) + int(m.group(3), 16)
    return sizes


def _is_harness(path: str) -> bool:
    name = Path(path).name
    return any(name == f"fe-{h}.o" or name == f"boot-{h}.o" for h in HARNESS)


def _inspect(out: Path) -> FrontendImage:
    sizes = map_sizes((out / "firmware.map").read_text())
    flash = sum(n for (s, f), n in sizes.items() if s in _FLASH_SECTIONS and not _is_harness(f))
    harness = sum(n for (s, f), n in sizes.items() if s in _FLASH_SECTIONS and _is_harness(f))
    static = sum(n for (s, f), n in sizes.items() if s in _RAM_SECTIONS and not _is_harness(f))
    return FrontendImage(elf=out / "firmware.elf", flash=flash, static_ram=static, harness_flash=harness)


_machines: dict[tuple, object] = {}
_lock = threading.Lock()


def _machine(board: Board, params, frontend: str = "mfcc", hint=None):
    from autotiny.measure.machine import Machine, memory_map

    img = build(board, params, frontend, hint)
    key = (board, str(img.elf))
    with _lock:
        m = _machines.get(key)
        if m is None:
            m = _machines[key] = Machine(board.core, memory_map(board), elf=img.elf)
    return m, img


def run_clip(board: Board, params: MfccParams, audio: np.ndarray, scale: float = 1.0, zero_point: int = 0,
             want_float: bool = False, max_instructions: int = 2_000_000_000) -> FrontendRun:
    """Run the device MFCC on one int16 clip (padded or cropped to the clip length)."""
    x = np.asarray(audio)
    if x.dtype != np.int16:
        raise ValueError(f"the device front-end takes int16 audio, not {x.dtype}")
    x = fit_length(x.reshape(-1), params.clip_samples).astype(np.int16)
    return run_input(board, "mfcc", params, x, scale=scale, zero_point=zero_point, want_float=want_float,
                     max_instructions=max_instructions)


def run_input(board: Board, frontend: str, params, raw: np.ndarray, hint=None,
              scale: float = 1.0, zero_point: int = 0, want_float: bool = False,
              max_instructions: int = 2_000_000_000) -> FrontendRun:
    """Run a device front-end once on one raw input, in the registry's format for it."""
    from autotiny.measure.protocol import STACK_PAINT

    fe = device_frontend(frontend)
    dtype, shape = fe.input_format(params, hint)
    x = np.asarray(raw)
    if x.dtype != dtype or x.shape != shape:
        raise ValueError(f"the device {frontend} front-end takes {np.dtype(dtype)} {shape}, not {x.dtype} {x.shape}")
    rows, cols = fe.output_shape(params, hint)
    m, _ = _machine(board, params, frontend, hint)
    syms = m.symbols
    mb, arena = syms["at_mb"], syms["__arena_start"]
    with m.lock:
        m.write(arena, np.ascontiguousarray(x).tobytes())
        m.write(mb, bytes(256))
        m.write(mb + 32, np.array([scale], dtype=np.float32).tobytes() +
                np.array([zero_point, int(want_float)], dtype=np.int32).tobytes())
        lo, hi = m.stack_lo - m.mem.ram_base, m.stack_hi - m.mem.ram_base
        m.ram[lo:hi].view(np.uint32)[:] = STACK_PAINT
        info = m.run(max_instructions)
        words = np.frombuffer(m.read(mb, 64), dtype=np.uint32)
        if info["fault"] is not None or words[1] != 0:
            raise AutotinyError(f"device front-end {frontend} on {board.name} failed: "
                                f"{info['fault'] or f'status {int(words[1]):#x}'}")
        n = rows * cols
        feats = np.frombuffer(m.read(int(words[6]), n), dtype=np.int8).reshape(rows, cols).copy()
        fl = (np.frombuffer(m.read(int(words[7]), 4 * n), dtype=np.float32).reshape(rows, cols).copy()
              if want_float else None)
        stack = m.ram[lo:hi].view(np.uint32)
        used = np.flatnonzero(stack != STACK_PAINT)
        peak = (hi - lo) - int(used[0]) * 4 if used.size else 0
        ev = [e for e in m.events() if e[1] == FE_OPCODE]
    start = next(e for e in ev if e[2] == 0)
    end = next(e for e in ev if e[2] == 1)
    return FrontendRun(features=feats, float_features=fl, cycles=end[3] - start[3], instructions=end[4] - start[4],
                       peak_stack=peak)


def probe_clip(params: MfccParams, seed: int = 0) -> np.ndarray:
    """A generated int16 clip (a chirp in noise): what `measure` runs when given no audio.  Speech
    takes the same paths: 12 Speech Commands clips on stm32l4r5 ran within 0.07 % of this clip's
    cycles (an all-zero clip runs 7 % faster: libm's logf and the square roots of zeros are short)."""
    rng = np.random.default_rng(seed)
    t = np.arange(params.clip_samples) / params.sample_rate
    x = 0.4 * np.sin(2 * np.pi * (200 + 1800 * t) * t) + 0.05 * rng.standard_normal(t.size)
    return np.clip(x * 32767, -32768, 32767).astype(np.int16)


def measure(board: Board, params, audio: np.ndarray | None = None, frontend: str = "mfcc",
            hint=None) -> FrontendCost:
    """A front-end's cycles, latency, energy, RAM and flash on a board (emulated), on `audio` (the
    raw input) or the registry's generated one."""
    from autotiny.firmware import stack_reservation

    fe = device_frontend(frontend)
    raw = fe.probe(params, hint) if audio is None else audio
    run = (run_clip(board, params, raw) if frontend == "mfcc"
           else run_input(board, frontend, params, raw, hint=hint))
    _, img = _machine(board, params, frontend, hint)
    latency_ms = run.cycles / board.clock_hz * 1e3
    dtype, shape = fe.input_format(params, hint)
    input_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    reserved = stack_reservation(run.peak_stack)
    scratch = fe.scratch_bytes(params, hint)
    return FrontendCost(board=board.name, frontend=frontend, params=asdict(params), cycles=run.cycles,
                        latency_ms=latency_ms, energy_uj=latency_ms * board.active_power_mw,
                        audio_bytes=input_bytes, static_ram=img.static_ram, peak_stack=run.peak_stack,
                        stack_reserved=reserved, ram_bytes=input_bytes + img.static_ram + reserved + scratch,
                        flash_bytes=img.flash, scratch_bytes=scratch)

_costs: dict[tuple, FrontendCost] = {}


def cost(board: Board, params, frontend: str = "mfcc", hint=None) -> FrontendCost:
    """`measure` memoized per process (a search meets the same few front-end settings again and again)."""
    key = (board, frontend, params, hint)
    with _lock:
        c = _costs.get(key)
    if c is None:
        c = measure(board, params, frontend=frontend, hint=hint)
        with _lock:
            _costs[key] = c
    return c


def with_frontend(m, board: Board, frontend: str, params, model: bytes | None = None, raw_shape=None):
    """The network's Measurement with the device front-end's cost added (front-end then network on
    one device): latency and energy add; flash adds the front-end's code and tables; RAM adds the
    clip buffer and the front-end's static data, and the stack only where the front-end's
    reservation exceeds the network's (the two run one after the other on the same stack).  The
    `frontend_*` figures are what the front-end adds, so network = headline - front-end for each.
    A front-end with no device implementation, or a run that failed, is returned unchanged.  `model`
    (the .tflite) gives a multi-axis front-end its axes: the last dimension of the model's input;
    `raw_shape` (the task's, Task.raw_shape) gives the image front-end its source picture's size."""
    import dataclasses

    from autotiny.measure import Figure

    if frontend not in DEVICE_FRONTENDS or m.status != "ok" or not m.ram:
        return m
    hint = None
    if frontend != "mfcc":
        if model is None:
            raise AutotinyError(f"the device {frontend} front-end needs the model (its input's shape) to be measured")
        from autotiny.tflite_model import read_tflite

        t = read_tflite(model)
        hint = REGISTRY[frontend].hint_from(t, raw_shape)
        rows, cols = REGISTRY[frontend].output_shape(params, hint)
        if hint is not None and rows * cols != t.tensor(t.inputs[0]).size:
            raise AutotinyError(f"the device {frontend} front-end writes {rows}x{cols} features, the model's input "
                                f"is {t.tensor(t.inputs[0]).shape}")
    c = cost(board, params, frontend, hint)
    shared_stack = m.ram.get("stack_reserved", 0)
    ram = c.audio_bytes + c.static_ram + c.scratch_bytes + max(0, c.stack_reserved - shared_stack)
    used = c.audio_bytes + c.static_ram + c.scratch_bytes + max(0, c.peak_stack - m.ram.get("stack_peak", 0))

    def plus(f: Figure, v: float) -> Figure:
        return Figure(f.value + v, f.unit, f.source, f.assumption)

    assumption = board.assumption("active_power")
    return dataclasses.replace(
        m, latency_ms=plus(m.latency_ms, c.latency_ms), energy_uj=plus(m.energy_uj, c.energy_uj),
        ram_bytes=plus(m.ram_bytes, ram), flash_bytes=plus(m.flash_bytes, c.flash_bytes),
        ram_used_bytes=plus(m.ram_used_bytes, used) if m.ram_used_bytes is not None else None,
        frontend_cycles=Figure(c.cycles, "cycles", "emulated"),
        frontend_latency_ms=Figure(c.latency_ms, m.latency_ms.unit, "emulated"),
        frontend_energy_uj=Figure(c.energy_uj, m.energy_uj.unit, "emulated", assumption),
        frontend_ram_bytes=Figure(ram, "B", "emulated"), frontend_flash_bytes=Figure(c.flash_bytes, "B", "emulated"),
        frontend={**c.as_dict(), "added_ram_bytes": ram},
        notes=(*m.notes, f"front-end {frontend} on the device (firmware/frontends/{REGISTRY[frontend].source}): "
                         f"{c.latency_ms:.2f} ms, RAM +{ram:,} B (input {c.audio_bytes:,} + static {c.static_ram:,} "
                         f"+ stack beyond the network's), flash +{c.flash_bytes:,} B; added to latency, energy, RAM "
                         "and flash"))


def export_sources(frontend: str, params, hint=None) -> dict:
    """What an exported firmware builds a front-end from (autotiny.export): its C file and the headers
    in firmware/frontends/, the CMSIS-DSP root where it includes CMSIS-DSP headers (None otherwise) and the
    Source/-relative files its entry names (compiled with DSP_CFLAGS), and the generated fe_tables.h text
    with the sizes."""
    fe = device_frontend(frontend)
    dsp = tuple(fe.dsp_sources(params))
    return {"sources": (FRONTENDS_DIR / fe.source,), "headers": tuple(sorted(FRONTENDS_DIR.glob("*.h"))),
            "dsp_root": cmsis_mfcc.sources() if fe.cmsis_headers or dsp else None, "dsp_sources": dsp,
            "tables": _header(fe, params, hint)}
