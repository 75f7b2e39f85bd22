"""`autotiny export`: a trial's model as a firmware project that builds with its own Makefile and, run in
the emulator, answers as the host runtime does; `update_from=` says whether the deployed firmware takes a
new model; bad input is one line, exit 2.

The study is written as the search writes one (tests/e2e/test_report.make_study); the trained trials'
models are tiny int8 .tflite files written directly (tests/tflite_builder), so no training runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.test_report import _record, make_study
from tests.tflite_builder import ModelBuilder, options

ROOT = Path(__file__).resolve().parents[2]
BOARDS = ["stm32f746", "nrf52840"]


def kws_like_model(seed: int, classes: int = 12, side: tuple[int, int] = (49, 10)) -> bytes:
    """MFCC-shaped int8 input -> CONV_2D 10x4/2 + ReLU -> MEAN -> RESHAPE -> FC -> SOFTMAX: a DS-CNN's
    first and last layers; `seed` changes the weights (same signature), `classes`/`side` the signature."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.tensor((1, *side, 1), scale=0.5, zero_point=-10)
    w = b.tensor((8, 10, 4, 1), scale=list(rng.uniform(0.005, 0.02, 8)), zero_point=[0] * 8,
                 data=rng.integers(-127, 128, (8, 10, 4, 1)))
    bias = b.tensor((8,), "INT32", scale=[0.001] * 8, zero_point=[0] * 8, data=rng.integers(-3000, 3000, 8))
    h, wd = (side[0] + 1) // 2, (side[1] + 1) // 2
    c = b.tensor((1, h, wd, 8), scale=0.2, zero_point=-128)
    b.op("CONV_2D", [x, w, bias], [c], options("Conv2DOptionsT", padding=0, strideH=2, strideW=2,
                                                dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=1))
    axes = b.tensor((2,), "INT32", data=np.array([1, 2], np.int32))
    m = b.tensor((1, 1, 1, 8), scale=0.1, zero_point=-128)
    b.op("MEAN", [c, axes], [m], options("ReducerOptionsT", keepDims=True))
    shp = b.tensor((2,), "INT32", data=np.array([1, 8], np.int32))
    r = b.tensor((1, 8), scale=0.1, zero_point=-128)
    b.op("RESHAPE", [m, shp], [r], options("ReshapeOptionsT", newShape=[1, 8]))
    fw = b.tensor((classes, 8), scale=0.02, zero_point=0, data=rng.integers(-127, 128, (classes, 8)))
    fb = b.tensor((classes,), "INT32", scale=float(np.float32(0.1) * np.float32(0.02)), zero_point=0,
                  data=rng.integers(-500, 500, classes))
    logits = b.tensor((1, classes), scale=0.15, zero_point=3)
    b.op("FULLY_CONNECTED", [r, fw, fb], [logits], options("FullyConnectedOptionsT", fusedActivationFunction=0))
    y = b.tensor((1, classes), scale=1 / 256, zero_point=-128)
    b.op("SOFTMAX", [logits], [y], options("SoftmaxOptionsT", beta=1.0))
    return b.build([x], [y])


def _candidate() -> dict:
    """A candidate from the KWS space (any one: the export only shows its front-end)."""
    import optuna

    from autotiny.space import load_space, suggest

    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    return suggest(load_space("kws"), trial).to_dict()


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


# ---- the device front-end in the export ------------------------------------------------------------------

def run_raw(machine, raw: np.ndarray, slot0: bytes, out_bytes: int) -> tuple[int, bytes, object]:
    """Reset the export's firmware with `raw` at the arena start (where app_main.c reads it) and slot 0 written:
    (mailbox status, the at_output bytes, the machine to read more from)."""
    from autotiny.measure.protocol import _write_slots

    syms = machine.symbols
    with machine.lock:
        _write_slots(machine, None, [slot0])
        machine.write(syms["__arena_start"], np.ascontiguousarray(raw).tobytes())
        machine.write(syms["at_mb"], bytes(256))
        info = machine.run(2_000_000_000)
        assert info["fault"] is None, info
        status = int(np.frombuffer(machine.read(syms["at_mb"], 8), np.uint32)[1])
        return status, machine.read(syms["at_output"], out_bytes), machine


@pytest.mark.needs_arm_gcc
def test_exported_project_runs_its_mfcc_front_end_on_raw_clips_as_the_host(tmp_path: Path):
    """A candidate whose MFCC writes the model's 49x10 input: the export holds the front-end (C file, fe.h,
    tables, CMSIS-DSP with its licence, app_main.c) and, built with its Makefile and given raw int16 clips,
    answers as the host's numpy MFCC + quantisation + runtime.  The int8 features may differ by one step
    (CMSIS-DSP float32 vs numpy: the documented device front-end tolerance, tests/unit/test_frontend_device.py):
    the output is checked byte for byte against the host runtime on the firmware's own features, and those
    against the host front-end within one step."""
    import dataclasses

    from autotiny import blob as blobs
    from autotiny import runtime
    from autotiny.frontends.device import probe_clip
    from autotiny.frontends.mfcc import MfccParams, mfcc, quantize

    params = MfccParams()
    cand = _candidate()
    cand["frontend"] = {"type": "mfcc", "params": dataclasses.asdict(params)}
    args = [*make_study(tmp_path, [trained(tmp_path, 0, kws_like_model(0), candidate=cand)]), "board=stm32f746"]
    out = tmp_path / "fe"
    r = export([*args, "trial=0", f"out={out}"], tmp_path)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["frontend"]["type"] == "mfcc" and manifest["frontend"]["raw"] == {
        "dtype": "int16", "shape": [16000], "bytes": 32000}
    for f in ("firmware/frontends/app_main.c", "firmware/frontends/mfcc.c", "firmware/frontends/fe.h",
              "firmware/frontends/fe_tables.h", "firmware/cmsis-dsp/LICENSE", "firmware/cmsis-dsp/NOTICE",
              "firmware/cmsis-dsp/Source/TransformFunctions/arm_mfcc_f32.c"):
        assert (out / f).is_file(), f
    assert "Apache License" in (out / "firmware" / "cmsis-dsp" / "LICENSE").read_text()
    assert "## The front-end on the device" in (out / "README.md").read_text()

    machine, board = emulated(out, "stm32f746")
    blob = blobs.load_blob(out / "model" / "model.blob")
    features_at = (32000 + 15) // 16 * 16  # app_main.c: after the raw clip, left there by the move
    assert blob.header.arena_size <= features_at  # so the network never overwrites them
    host = runtime.HostModel(blob)
    slot0 = (out / "model" / "slot0.bin").read_bytes()
    scale, zp = blob.header.input_scale, blob.header.input_zero_point
    same = 0
    for seed in range(3):
        clip = probe_clip(params, seed)
        status, y, m = run_raw(machine, clip, slot0, 12)
        assert status == 0
        fw = np.frombuffer(m.read(m.symbols["__arena_start"] + features_at, 490), np.int8).reshape(blob.input_shape)
        ref = quantize(mfcc(clip.astype(np.float32)[None] / 32768, params), scale, zp).reshape(blob.input_shape)
        assert np.abs(fw.astype(int) - ref).max() <= 1 and (fw != ref).mean() < 0.01  # a rare step, not a shift
        assert y == host.run(fw).tobytes()
        if (fw == ref).all():
            same += 1
            assert y == host.run(ref).tobytes()
    assert same >= 1  # most clips give the host's features exactly


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
