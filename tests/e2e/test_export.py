"""`autotiny export`: a trial's model as a firmware project that builds with its own Makefile and, run in
the emulator, answers as the host runtime does; `update_from=` says whether the deployed firmware takes a
new model; bad input is one line, exit 2.

The study is written as the search writes one (tests/e2e/test_report.make_study); the trained trials'
models are tiny int8 .tflite files written directly (tests/tflite_builder), so no training runs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autotiny.evaluate import quantize_input
from tests.e2e.test_report import _record, make_study
from tests.tflite_builder import ModelBuilder, options

ROOT = Path(__file__).resolve().parents[2]
BOARDS = ["stm32f746", "nrf52840"]


def kws_like_model(seed: int, classes: int = 12, side: tuple[int, int] = (49, 10), kernel: tuple[int, int] = (10, 4),
                   input_q: tuple[float, int] = (0.5, -10), channels: int = 8, sparsity: float = 0.0) -> bytes:
    """MFCC-shaped int8 input -> CONV_2D 10x4/2 + ReLU -> MEAN -> RESHAPE -> FC -> SOFTMAX: a DS-CNN's
    first and last layers; `seed` changes the weights (same signature), `classes`/`side` the signature,
    `kernel` the convolution's (for smaller inputs), `input_q` the input's (scale, zero point); `sparsity`:
    that share of the convolution's weights zero, as magnitude pruning leaves them."""
    from autotiny.compress import zero_smallest

    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.tensor((1, *side, 1), scale=input_q[0], zero_point=input_q[1])
    n = channels
    w = b.tensor((n, *kernel, 1), scale=list(rng.uniform(0.005, 0.02, n)), zero_point=[0] * n,
                 data=zero_smallest(rng.integers(-127, 128, (n, *kernel, 1)), sparsity))
    bias = b.tensor((n,), "INT32", scale=[0.001] * n, zero_point=[0] * n, data=rng.integers(-3000, 3000, n))
    h, wd = (side[0] + 1) // 2, (side[1] + 1) // 2
    c = b.tensor((1, h, wd, n), scale=0.2, zero_point=-128)
    b.op("CONV_2D", [x, w, bias], [c], options("Conv2DOptionsT", padding=0, strideH=2, strideW=2,
                                                dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=1))
    axes = b.tensor((2,), "INT32", data=np.array([1, 2], np.int32))
    m = b.tensor((1, 1, 1, n), scale=0.1, zero_point=-128)
    b.op("MEAN", [c, axes], [m], options("ReducerOptionsT", keepDims=True))
    shp = b.tensor((2,), "INT32", data=np.array([1, n], np.int32))
    r = b.tensor((1, n), scale=0.1, zero_point=-128)
    b.op("RESHAPE", [m, shp], [r], options("ReshapeOptionsT", newShape=[1, n]))
    fw = b.tensor((classes, n), scale=0.02, zero_point=0, data=rng.integers(-127, 128, (classes, n)))
    fb = b.tensor((classes,), "INT32", scale=float(np.float32(0.1) * np.float32(0.02)), zero_point=0,
                  data=rng.integers(-500, 500, classes))
    logits = b.tensor((1, classes), scale=0.15, zero_point=3)
    b.op("FULLY_CONNECTED", [r, fw, fb], [logits], options("FullyConnectedOptionsT", fusedActivationFunction=0))
    y = b.tensor((1, classes), scale=1 / 256, zero_point=-128)
    b.op("SOFTMAX", [logits], [y], options("SoftmaxOptionsT", beta=1.0))
    return b.build([x], [y])


def _candidate(space: str = "kws") -> dict:
    """A candidate from a task's space (any one: the export only shows its front-end)."""
    import optuna

    from autotiny.space import load_space, suggest

    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    return suggest(load_space(space), trial).to_dict()


def trained(tmp_path: Path, number: int, model: bytes, flash: float = 30_000, candidate: dict | None = None) -> object:
    """A trained trial's record with its model.tflite, as a search leaves it.  The default candidate's MFCC
    writes 49x13 features, not kws_like_model's 49x10: the export runs no front-end (network only)."""
    rec = _record(0.7 + number / 100, flash, 20_000, 12.0)
    rec.candidate = candidate or _candidate()
    folder = tmp_path / "trials" / f"{number:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.tflite").write_bytes(model)
    rec.artifacts["model.tflite"] = str(folder / "model.tflite")
    rec.mlflow_run_id = f"run{number:04d}"
    return rec


def study_with_models(tmp_path: Path, board: str = "stm32f746") -> list[str]:
    """Trials: 0 trained (v1), 1 over budget, 2 failed, 3 trained (new weights), 4 trained (4 classes:
    another signature). The overrides that find it, for `board`."""
    records = [trained(tmp_path, 0, kws_like_model(0)), _record(None, 150_000, 50_000, 70.0, "infeasible"),
               _record(None, 0, 0, 0, "failed"), trained(tmp_path, 3, kws_like_model(1)),
               trained(tmp_path, 4, kws_like_model(2, classes=4))]
    args = make_study(tmp_path, records)
    return [*args, f"board={board}"]


def export(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The command as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "autotiny.cli", "export", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def build(folder: Path) -> Path:
    p = subprocess.run(["make", "-C", str(folder), "-j2"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    return folder / "build" / "firmware.elf"


def emulated(folder: Path, board_name: str):
    """A Machine running the export's own ELF on the emulated board; the board record as the export saw it."""
    from autotiny.config import load_board
    from autotiny.measure.machine import Machine, memory_map

    board = load_board(board_name)
    return Machine(board.core, memory_map(board), elf=build(folder)), board


def samples(blob, n: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [rng.integers(-128, 128, blob.input_shape).astype(blob.input_dtype) for _ in range(n)]


# ---- export, build, run ------------------------------------------------------------------------------

@pytest.mark.needs_arm_gcc
@pytest.mark.parametrize("board_name", BOARDS)
def test_exported_project_builds_with_its_makefile_and_answers_as_the_host(tmp_path: Path, board_name: str):
    from autotiny import blob as blobs
    from autotiny import runtime
    from autotiny.measure.protocol import emulate

    args = study_with_models(tmp_path, board_name)
    out = tmp_path / "exp"
    r = export([*args, "trial=0", f"out={out}"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"export: {out} (trial 0, version 1.0.0, {board_name}: 2 model slots"), r.stdout
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["trial"] == 0 and manifest["board"] == board_name and manifest["version"] == "1.0.0"
    for f in ("Makefile", "README.md", "model_spec.h", "model/model.tflite", "model/model.blob", "model/slot0.bin",
              "firmware/main.c", "firmware/runtime/slots.c", "firmware/boards/memory.ld"):
        assert (out / f).is_file(), f
    assert (out / "model" / "model.tflite").read_bytes() == kws_like_model(0)
    readme = (out / "README.md").read_text()
    assert "| flash | 30,000 B | emulated |" in readme and "at_slots_select" in readme
    assert manifest["frontend"] == {"why_not": "the device `mfcc` front-end writes int8 49x13, the model's input "
                                               "is int8 [1, 49, 10, 1]"}
    assert "no front-end on the device" in readme and not (out / "firmware" / "frontends").exists()
    spec = (out / "model_spec.h").read_text()
    assert f"#define AT_MODEL_SIGNATURE 0x{manifest['signature']:08X}u" in spec
    assert "#define AT_MODEL_INPUT_DIMS {1, 49, 10, 1}" in spec and "#define AT_MODEL_OUTPUT_BYTES 12u" in spec

    machine, board = emulated(out, board_name)
    blob = blobs.load_blob(out / "model" / "model.blob")
    host = runtime.HostModel(blob)
    slot0 = (out / "model" / "slot0.bin").read_bytes()
    for x in samples(blob):
        res = emulate(blob.data, board, x, on=machine, slots=[slot0])
        assert res.ok, res.status_name
        assert (res.active_slot, res.version) == (0, (1, 0, 0))
        assert res.output.tobytes() == host.run(x).tobytes()


@pytest.mark.needs_arm_gcc
def test_a_pruned_candidate_exports_its_sparse_blob_and_the_decoder(tmp_path: Path):
    """compression.sparsity > 0: the export ships the blob measurement chose (filters stored sparse) and
    builds the firmware with the decoder; run in the emulator it answers as the host, and as the dense blob."""
    from autotiny import blob as blobs
    from autotiny import runtime
    from autotiny.measure.protocol import emulate

    model = kws_like_model(0, channels=64, sparsity=0.75)
    candidate = {**_candidate(), "compression": {"quantization": "int8_ptq", "sparsity": 0.75}}
    args = [*make_study(tmp_path, [trained(tmp_path, 0, model, candidate=candidate)]), "board=stm32f746"]
    out = tmp_path / "exp"
    r = export([*args, "trial=0", f"out={out}"], tmp_path)
    assert r.returncode == 0, r.stderr
    blob = blobs.load_blob(out / "model" / "model.blob")
    dense = blobs.from_tflite(model)
    assert "DECODE_SPARSE_INT8" in blob.op_names and blob.size < dense.size
    assert "-DAT_WITH_SPARSE" in (out / "Makefile").read_text()
    machine, board = emulated(out, "stm32f746")
    slot0 = (out / "model" / "slot0.bin").read_bytes()
    for x in samples(blob, 3):
        res = emulate(blob.data, board, x, on=machine, slots=[slot0])
        assert res.ok, res.status_name
        assert res.output.tobytes() == runtime.HostModel(blob).run(x).tobytes() == runtime.HostModel(dense).run(x).tobytes()


# ---- the device front-end in the export ------------------------------------------------------------------

def run_raw(machine, raw: np.ndarray, slot0: bytes, until: str | None = None):
    """Reset the export's firmware with `raw` at the arena start (where app_main.c reads it) and slot 0 written,
    and run it to the end, or to the entry of the function `until`; the machine, to read from.  Give a machine
    one `until` only: Unicorn keeps a translated block's stop check for the address of the run that translated it."""
    from autotiny.measure.protocol import _write_slots

    syms = machine.symbols
    with machine.lock:
        _write_slots(machine, None, [slot0])
        machine.write(syms["__arena_start"], np.ascontiguousarray(raw).tobytes())
        machine.write(syms["at_mb"], bytes(256))
        info = machine.run(2_000_000_000, until=None if until is None else syms[until] & ~1)
        assert info["fault"] is None, info
    return machine


def frontend_case(kind: str) -> dict:
    """One device front-end's export case: the task (its space, the overrides that compose it), a board, the
    front-end's params and hint (an IMU window's axes, a picture's source size: what the model and the task
    say), three generated raw inputs and the host's numpy front-end on one (float features)."""
    from autotiny.frontends import imu
    from autotiny.frontends import vibration as vib
    from autotiny.frontends.device import probe_clip
    from autotiny.frontends.image import ImageParams, image
    from autotiny.frontends.mfcc import MfccParams, mfcc
    from tests.unit.test_frontend_device_image import picture
    from tests.unit.test_frontend_device_imu import window
    from tests.unit.test_frontend_device_vibration import signal

    def activity(board, p, numpy_fe):
        return {"space": "activity", "task": ["task=activity"], "board": board, "params": p, "hint": 6,
                "inputs": [window(seed, p.window) for seed in (1, 2, 3)], "host": lambda x: numpy_fe(x[None], p)[0]}

    def fault(board, p, numpy_fe):  # their FFT buffers are FE_SCRATCH in the arena
        return {"space": "fault", "task": ["task=fault"], "board": board, "params": p, "hint": None,
                "inputs": [signal(seed, p.window) for seed in (1, 2, 3)], "host": lambda x: numpy_fe(x[None], p)[0]}

    mfcc_p, image_p = MfccParams(), ImageParams(size=14)
    cases = {
        "mfcc": lambda: {"space": "kws", "task": [], "board": "stm32f746", "params": mfcc_p, "hint": None,
                         "inputs": [probe_clip(mfcc_p, seed) for seed in range(3)],
                         "host": lambda clip: mfcc(clip.astype(np.float32)[None] / 32768, mfcc_p)[0]},
        "imu_raw": lambda: activity("stm32f746", imu.WindowParams(window=64), imu.raw),
        "imu_stats": lambda: activity("nrf52840", imu.WindowParams(window=128), imu.stats),
        "imu_spectral": lambda: activity("stm32l4r5", imu.SpectralParams(window=128, n_bands=16), imu.spectral),
        "fft_bands": lambda: fault("stm32f746", vib.BandParams(window=512, n_bands=16), vib.fft_bands),
        "log_spectrum": lambda: fault("nrf52840", vib.SpectrumParams(window=1024, fft_size=128), vib.log_spectrum),
        "time_stats": lambda: fault("stm32l4r5", vib.StatsParams(window=2048, n_frames=8), vib.time_stats),
        # digits' 8x8 pictures (Task.raw_shape), resized up
        "image": lambda: {"space": "vision", "task": ["task=vision", "task.dataset=digits"], "board": "nrf52840",
                          "params": image_p, "hint": (8, 8), "inputs": [picture(seed, 8, 8) for seed in (1, 2, 3)],
                          "host": lambda x: image(x[None].astype(np.float32), image_p)[0]},
    }
    return cases[kind]()


DEVICE_FRONTEND_KINDS = ["mfcc", "imu_raw", "imu_stats", "imu_spectral", "fft_bands", "log_spectrum", "time_stats",
                         "image"]


def test_every_device_front_end_has_an_export_case():
    from autotiny.frontends.device import DEVICE_FRONTENDS

    assert sorted(DEVICE_FRONTENDS) == sorted(DEVICE_FRONTEND_KINDS)


@pytest.mark.needs_arm_gcc
@pytest.mark.parametrize("kind", DEVICE_FRONTEND_KINDS)
def test_exported_project_runs_its_device_front_end_on_raw_inputs_as_the_host(tmp_path: Path, kind: str):
    """A candidate whose device front-end writes the model's input: the export holds the front-end (C file, fe.h,
    tables, the CMSIS-DSP headers and files it uses with Arm's licence, app_main.c) and, built with its Makefile
    and given generated raw inputs (int16 clip, float32 IMU or vibration window, uint8 picture), answers as the
    host's numpy front-end + quantisation + runtime.  The int8 features may differ by one step (float32 on the
    device vs numpy: the documented device front-end tolerance, tests/unit/test_frontend_device*.py): the output
    is checked byte for byte against the host runtime on the firmware's own features, read where the network
    starts, and those against the host front-end within one step."""
    import dataclasses

    from autotiny import blob as blobs
    from autotiny import runtime
    from autotiny.frontends import device
    from autotiny.measure.machine import Machine, memory_map

    case, entry = frontend_case(kind), device.REGISTRY[kind]
    p, hint = case["params"], case["hint"]
    side = entry.output_shape(p, hint)
    floats = [case["host"](x) for x in case["inputs"]]
    lo, hi = min(f.min() for f in floats), max(f.max() for f in floats)
    input_q = (float(hi - lo) / 240, int(round(-(hi + lo) / 2 / (float(hi - lo) / 240))))  # the features' range
    model = kws_like_model(0, side=side, kernel=(min(10, side[0]), min(4, side[1])), input_q=input_q)
    cand = _candidate(case["space"])
    cand["frontend"] = {"type": kind, "params": dataclasses.asdict(p)}
    args = [*make_study(tmp_path, [trained(tmp_path, 0, model, candidate=cand)]), f"board={case['board']}",
            *case["task"]]
    out = tmp_path / "fe"
    r = export([*args, "trial=0", f"out={out}"], tmp_path)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "export.json").read_text())
    dtype, shape = entry.input_format(p, hint)
    raw = {"dtype": np.dtype(dtype).name, "shape": list(shape), "bytes": case["inputs"][0].nbytes}
    assert manifest["frontend"] == {"type": kind, "params": dataclasses.asdict(p), "raw": raw,
                                    "source": entry.source}, manifest["frontend"]
    for f in ("app_main.c", entry.source, "fe.h", "fe_tables.h"):
        assert (out / "firmware" / "frontends" / f).is_file(), f
    dsp = out / "firmware" / "cmsis-dsp"
    for f in [*(f"Source/{s}" for s in entry.dsp_sources(p)), "LICENSE", "NOTICE"] if entry.cmsis_headers else []:
        assert (dsp / f).is_file(), f
    assert entry.cmsis_headers == dsp.is_dir() and (not dsp.is_dir() or "Apache License" in (dsp / "LICENSE").read_text())
    assert "## The front-end on the device" in (out / "README.md").read_text()

    machine, board = emulated(out, case["board"])
    at_network = Machine(board.core, memory_map(board), elf=machine.elf)  # stops where the network starts
    blob = blobs.load_blob(out / "model" / "model.blob")
    host = runtime.HostModel(blob)
    slot0 = (out / "model" / "slot0.bin").read_bytes()
    scale, zp = blob.header.input_scale, blob.header.input_zero_point
    same = 0
    for x, f in zip(case["inputs"], floats):
        assert x.dtype == dtype and x.shape == shape
        m = run_raw(at_network, x, slot0, until="at_network_main")
        fw = np.frombuffer(m.read(m.symbols["__arena_start"], math.prod(blob.input_shape)), np.int8).reshape(blob.input_shape)
        m = run_raw(machine, x, slot0)
        assert np.frombuffer(m.read(m.symbols["at_mb"], 8), np.uint32)[1] == 0  # status ok
        y = m.read(m.symbols["at_output"], 12)  # kws_like_model's 12 classes
        ref = quantize_input(f, scale, zp).reshape(blob.input_shape)
        assert np.abs(fw.astype(int) - ref).max() <= 1
        assert y == host.run(fw).tobytes()
        if (fw == ref).all():
            same += 1
            assert y == host.run(ref).tobytes()
    assert same >= 1  # most inputs give the host's features exactly: a rare step, not a shift


# ---- update_from ---------------------------------------------------------------------------------------

def test_update_from_says_whether_the_deployed_firmware_takes_it(tmp_path: Path):
    args = study_with_models(tmp_path)
    first = tmp_path / "v1"
    assert export([*args, "trial=0", f"out={first}"], tmp_path).returncode == 0
    r = export([*args, "trial=3", f"out={tmp_path / 'u'}", f"update_from={first}"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "version 1.1.0" in r.stdout and "the deployed firmware takes it" in r.stdout
    assert sorted(p.name for p in (tmp_path / "u" / "model").iterdir()) == ["model.tflite", "update.bin"]
    assert not (tmp_path / "u" / "Makefile").exists()  # just the model
    from autotiny import slots

    hdr, blob = slots.parse((tmp_path / "u" / "model" / "update.bin").read_bytes())
    assert hdr.version == (1, 1, 0) and hdr.signature == json.loads((first / "export.json").read_text())["signature"]
    # another signature (4 classes): refused, and the line says why
    r = export([*args, "trial=4", f"out={tmp_path / 'w'}", f"update_from={first}"], tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "NO  signature" in r.stdout and "would refuse it" in r.stdout
    # an older version than the deployed one
    r = export([*args, "trial=3", f"out={tmp_path / 'o'}", f"update_from={first}", "version=0.9.0"], tmp_path)
    assert r.returncode == 1 and "NO  version: 0.9.0 after the deployed 1.0.0" in r.stdout, r.stdout


# ---- bad input ------------------------------------------------------------------------------------------

def test_bad_input_is_one_line_exit_2(tmp_path: Path):
    args = study_with_models(tmp_path)
    study_args = [a for a in args if not a.startswith("study=")]
    out = tmp_path / "taken"
    out.mkdir()
    not_export = tmp_path / "plain"
    not_export.mkdir()
    cases = {
        "unknown study=nope": [*study_args, "study=nope", "trial=0"],
        "unknown trial=9 in study r; its trials: 0-4": [*args, "trial=9"],
        "unknown run_id=zzz": [*args, "run_id=zzz"],
        "give trial= or run_id=, not both": [*args, "trial=0", "run_id=run0000"],
        "trial 2 failed (train: TrainingError: diverged)": [*args, "trial=2"],
        "trial 1 was never trained: state infeasible": [*args, "trial=1"],
        f"out={out} already exists; pass overwrite=true": [*args, "trial=0", f"out={out}"],
        f"update_from={not_export} is not an export": [*args, "trial=3", f"update_from={not_export}"],
    }
    for words, argv in cases.items():
        r = export(argv, tmp_path)
        assert r.returncode == 2, (words, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (words, r.stderr)
    # run_id= finds the trial; overwrite=true replaces the folder
    r = export([*args, "run_id=run0003", f"out={out}", "overwrite=true"], tmp_path)
    assert r.returncode == 0 and "(trial 3, version 1.0.0" in r.stdout, r.stderr
    shutil.rmtree(out)


# ---- a real KWS model on real clips ---------------------------------------------------------------------

@pytest.mark.needs_arm_gcc
def test_exported_mlperf_kws_model_answers_real_clips_as_the_host(tmp_path: Path, data_root: Path):
    """The MLPerf Tiny int8 KWS reference model as a trial's model, exported for nrf52840, built with its
    Makefile and run on real Speech Commands clips through the MFCC front-end: the emulated firmware's
    outputs equal the host runtime's, byte for byte."""
    from autotiny import blob as blobs
    from autotiny import runtime
    from autotiny.data.speech_commands import SpeechCommands
    from autotiny.frontends.mfcc import mfcc, quantize
    from autotiny.measure.protocol import emulate

    model = (data_root / "mlperf_tiny" / "kws_ref_model_int8.tflite").read_bytes()
    args = [*make_study(tmp_path, [trained(tmp_path, 0, model)]), "board=nrf52840"]
    out = tmp_path / "kws"
    r = export([*args, "trial=0", f"out={out}"], tmp_path)
    assert r.returncode == 0, r.stderr
    machine, board = emulated(out, "nrf52840")
    blob = blobs.load_blob(out / "model" / "model.blob")
    waves, labels = SpeechCommands(data_root / "speech_commands_v0.02", max_per_class=1).load("all")
    x = quantize(mfcc(waves[:6]), blob.header.input_scale, blob.header.input_zero_point)[..., None]
    assert x.shape == (6, *blob.input_shape[1:])
    host = runtime.HostModel(blob)
    slot0 = (out / "model" / "slot0.bin").read_bytes()
    for clip in x:
        res = emulate(blob.data, board, clip[None], on=machine, slots=[slot0])
        assert res.ok and res.active_slot == 0, res.status_name
        assert res.output.tobytes() == host.run(clip[None]).tobytes()
