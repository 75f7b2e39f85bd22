"""What the device front-ends cost on each board: the KWS MFCC beside the MLPerf Tiny KWS network,
and the IMU front-ends of task=activity.

    AUTOTINY_DATA=/work/shared/data .venv/bin/python bench/frontend_cost.py [--match N] [--accuracy]
    .venv/bin/python bench/frontend_cost.py --imu [--imu-match] [--image] [--vib] [--vib-match N]

Front-end: firmware/frontends/mfcc.c (arm_mfcc_f32's steps on CMSIS-DSP's RFFT per frame, tables generated from the
params, quantised into the model's int8 input), built per board as conf/board builds the
firmware and emulated on a generated 1 s clip (autotiny.frontends.device.measure).  Network: the
MLPerf Tiny int8 KWS model (DS-CNN, 49x10 input) measured as bench/mlperf_tiny.py measures it.
RAM of the front-end = the int16 clip (32,000 B) + its static data + its stack reserved
(peak + 25 % + 256 B; its buffers are on the stack); the int8 features are the network's input
tensor, counted in the network's arena.  Energy = latency x the board's active power.

--match N: on N Speech Commands clips, how far the CMSIS-DSP MFCC (the cmsisdsp wheel: host) is
from the numpy MLPerf-style front-end, and the device's C front-end (emulated, stm32f746) from
both, in float and in int8 steps.
--accuracy: the MLPerf Tiny int8 KWS model (trained on the numpy-style front-end) scored on the
3,581 shared clips with numpy features and with CMSIS-DSP features (host wheel).
--imu: the IMU front-ends (firmware/frontends/imu.c) instead, per board, on a generated 6-axis window
(RAM = the float32 window + static + stack reserved); --imu-match: how far the device's features are
from numpy's on every WATCH test window (stm32f746).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autotiny.config import compose  # noqa: E402
from autotiny.frontends import cmsis_mfcc, device, imu, vibration  # noqa: E402
from autotiny.frontends.mfcc import MfccParams, mfcc, quantize  # noqa: E402

BOARDS = ("stm32f746", "stm32l4r5", "nrf52840")
SETTINGS = {  # name -> params (window_ms, n_mels, n_mfcc: the values search_spaces/kws.yaml offers)
    "49x10 MLPerf (30 ms, 40 mels)": MfccParams(),
    "49x13 (30 ms, 32 mels)": MfccParams(n_mels=32, n_mfcc=13),
    "49x10 (40 ms, 40 mels)": MfccParams(window_ms=40),
    "49x13 (40 ms, 32 mels)": MfccParams(window_ms=40, n_mels=32, n_mfcc=13),
}
SCALE, ZP = 0.5847, 83  # the MLPerf Tiny KWS model's input quantisation


def revision() -> str:
    run = lambda *a: subprocess.run(["git", *a], cwd=Path(__file__).resolve().parents[1],  # noqa: E731
                                    capture_output=True, text=True).stdout.strip()
    dirty = run("status", "--porcelain", "--", "firmware", "emulation", "autotiny/measure", "autotiny/frontends")
    return (run("rev-parse", "--short", "HEAD") or "?") + (" + uncommitted changes" if dirty else "")


def network_cost(root: Path, board):
    from autotiny.measure import emulator

    path = root / "mlperf_tiny" / "kws_ref_model_int8.tflite"
    if not path.exists():
        return None
    m = emulator.measure_emulated(path.read_bytes(), board)
    return m if m.status == "ok" else None


def cost_table(root: Path) -> None:
    print(f"measured at {revision()}, CMSIS-DSP {cmsis_mfcc.CMSIS_DSP_VERSION} sources; emulated")
    print(f"{'board':<10} {'front-end':<30} {'FE cycles':>10} {'FE ms':>7} {'FE uJ':>7} {'FE RAM B':>9} "
          f"{'(stack pk)':>10} {'FE flash B':>10} | {'net ms':>7} {'net RAM B':>9} {'net flash B':>11} {'FE/total':>8}")
    for name in BOARDS:
        board = compose([f"board={name}"]).board
        net = network_cost(root, board)
        for label, p in SETTINGS.items():
            c = device.measure(board, p)
            if net is not None and label.startswith("49x10 MLPerf"):
                nl, nr, nf = net.latency_ms.value, net.ram_bytes.value, net.flash_bytes.value
                tail = f"{nl:>7.2f} {nr:>9,.0f} {nf:>11,.0f} {c.latency_ms / (c.latency_ms + nl):>8.0%}"
            else:
                tail = f"{'':>7} {'':>9} {'':>11} {'':>8}"
            mark = "*" if board.assumption("active_power") else " "
            print(f"{name:<10} {label:<30} {c.cycles:>10,} {c.latency_ms:>7.2f} {c.energy_uj:>6.0f}{mark} "
                  f"{c.ram_bytes:>9,} {c.peak_stack:>10,} {c.flash_bytes:>10,} | {tail}")
    print("FE RAM = int16 clip 32,000 B + static + stack reserved; network: MLPerf Tiny KWS int8 (49x10 input), "
          "RAM reserved and flash (firmware + 2 model slots) as autotiny measure reports them; "
          "* energy from an active power marked as an assumption in conf/board")


def clips(root: Path, n: int):
    from autotiny.data.speech_commands import SpeechCommands

    waves, labels = SpeechCommands(root / "speech_commands_v0.02").load("all")
    return waves, labels, np.linspace(0, len(waves) - 1, n).astype(int)


def match(root: Path, n: int) -> None:
    from autotiny.evaluate import quantize_input

    waves, _, idx = clips(root, n)
    p = MfccParams()
    audio = np.round(waves[idx] * 32768).astype(np.int16)
    x = audio.astype(np.float32) / 32768
    host, ref = cmsis_mfcc.mfcc(x, p), mfcc(x, p)
    board = compose(["board=stm32f746"]).board
    t0 = time.perf_counter()
    runs = [device.run_clip(board, p, a, scale=SCALE, zero_point=ZP, want_float=True) for a in audio]
    dev = np.stack([r.float_features for r in runs])
    dev_q = np.stack([r.features for r in runs]).astype(int)
    print(f"\n{n} Speech Commands clips, 49x10 MLPerf params ({time.perf_counter() - t0:.0f} s on the emulator)")
    for what, a, b in (("CMSIS-DSP (host wheel) vs numpy", host, ref), ("device C vs CMSIS-DSP host", dev, host),
                       ("device C vs numpy", dev, ref)):
        d = np.abs(a - b)
        qa = dev_q if a is dev else quantize_input(a, SCALE, ZP).astype(int)  # the device's rule (fe.h)
        dq = np.abs(qa - quantize_input(b, SCALE, ZP))
        print(f"  {what:<34} float max |diff| {d.max():.2e}, mean {d.mean():.1e}; int8: max {dq.max()} step, "
              f"{(dq > 0).mean():.2%} of values differ")


def accuracy(root: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    waves, labels, _ = clips(root, 1)
    p = MfccParams()
    it = Interpreter(model_path=str(root / "mlperf_tiny" / "kws_ref_model_int8.tflite"))
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    print(f"\nMLPerf Tiny int8 KWS model on {len(labels)} shared clips (trained on the numpy-style front-end)")
    for what, fe in (("numpy MLPerf-style", mfcc), ("CMSIS-DSP arm_mfcc_f32", cmsis_mfcc.mfcc)):
        t0 = time.perf_counter()
        q = quantize(fe(waves, p), SCALE, ZP)[..., None]
        it.resize_tensor_input(inp["index"], [len(q), *q.shape[1:]])
        it.allocate_tensors()
        it.set_tensor(inp["index"], q)
        it.invoke()
        acc = float((it.get_tensor(out["index"]).argmax(axis=1) == labels).mean())
        print(f"  {what:<24} top-1 {acc:.4f}  ({time.perf_counter() - t0:.1f} s)")


IMU_SETTINGS = {  # label -> (frontend.type, params): windows and band counts search_spaces/activity.yaml offers
    "raw w128": ("imu_raw", imu.WindowParams(window=128)),
    "stats w64": ("imu_stats", imu.WindowParams(window=64)),
    "stats w256": ("imu_stats", imu.WindowParams(window=256)),
    "spectral w64 b8": ("imu_spectral", imu.SpectralParams(window=64, n_bands=8)),
    "spectral w128 b16": ("imu_spectral", imu.SpectralParams(window=128, n_bands=16)),
    "spectral w256 b16": ("imu_spectral", imu.SpectralParams(window=256, n_bands=16)),
}
IMU_AXES = 6  # WATCH: accelerometer + gyroscope


def cost_rows(title: str, settings: dict, hint=None, ram_note: str = "") -> None:
    """One row per board x setting: `settings` label -> (frontend type, params[, hint])."""
    width = max(len(label) for label in settings) + 2
    print(f"measured at {revision()}, CMSIS-DSP {cmsis_mfcc.CMSIS_DSP_VERSION} sources; emulated{title}")
    print(f"{'board':<10} {'front-end':<{width}} {'cycles':>9} {'ms':>7} {'uJ':>7} {'RAM B':>7} {'(stack pk)':>10} "
          f"{'flash B':>8}")
    for name in BOARDS:
        board = compose([f"board={name}"]).board
        for label, (kind, p, *own_hint) in settings.items():
            c = device.measure(board, p, frontend=kind, hint=own_hint[0] if own_hint else hint)
            mark = "*" if board.assumption("active_power") else " "
            print(f"{name:<10} {label:<{width}} {c.cycles:>9,} {c.latency_ms:>7.3f} {c.energy_uj:>6.1f}{mark} "
                  f"{c.ram_bytes:>7,} {c.peak_stack:>10,} {c.flash_bytes:>8,}")
    print(f"RAM = {ram_note}; * energy from an active power marked as an assumption in conf/board")


def imu_table() -> None:
    cost_rows(f", {IMU_AXES} axes", IMU_SETTINGS, IMU_AXES, "float32 window (window x 6 x 4 B) + static + stack reserved")


IMAGE_SETTINGS = {  # label -> ("image", params, source (h, w)): search_spaces/vision.yaml's sizes from MNIST's 28x28
    label: ("image", size, source) for label, (source, size) in {
        "28x28 -> 14x14": ((28, 28), 14), "28x28 -> 20x20": ((28, 28), 20), "28x28 (scale only)": ((28, 28), 28),
        "8x8 -> 28x28 (digits)": ((8, 8), 28), "96x96 -> 28x28": ((96, 96), 28)}.items()
}


def image_table() -> None:
    from autotiny.frontends.image import ImageParams

    settings = {label: (kind, ImageParams(size=size), source) for label, (kind, size, source) in IMAGE_SETTINGS.items()}
    cost_rows("", settings, ram_note="uint8 picture + static + stack reserved (the horizontal pass's rows)")


VIB_SETTINGS = {  # label -> (frontend.type, params): settings search_spaces/fault.yaml offers
    "fft_bands w1024 b32": ("fft_bands", vibration.BandParams(window=1024, n_bands=32)),
    "fft_bands w2048 b64": ("fft_bands", vibration.BandParams(window=2048, n_bands=64)),
    "log_spectrum w1024 f128": ("log_spectrum", vibration.SpectrumParams(window=1024, fft_size=128)),
    "log_spectrum w2048 f256": ("log_spectrum", vibration.SpectrumParams(window=2048, fft_size=256)),
    "time_stats w1024 x4": ("time_stats", vibration.StatsParams(window=1024, n_frames=4)),
    "time_stats w2048 x8": ("time_stats", vibration.StatsParams(window=2048, n_frames=8)),
}


def vib_table() -> None:
    cost_rows("", VIB_SETTINGS, ram_note="float32 window (window x 4 B) + static + stack reserved + scratch "
                                          "(the FFT buffers, in the arena)")


def match_rows(settings: dict, windows, numpy_fe: dict, hint=None, n: int | None = None) -> None:
    """Device C vs numpy features per setting on real windows (`windows(params)` -> (x, y)): float and int8
    differences, under a quantisation spanning the features (as a trained model's would)."""
    from autotiny.evaluate import quantize_input

    board = compose(["board=stm32f746"]).board
    for label, (kind, p) in settings.items():
        x, _ = windows(p)
        if n is not None:
            x = x[np.linspace(0, len(x) - 1, min(n, len(x))).astype(int)]
        ref = numpy_fe[kind](x, p)
        scale = float(np.abs(ref).max()) / 127
        dev = np.stack([device.run_input(board, kind, p, w, hint=hint, scale=scale, want_float=True)
                        .float_features.reshape(ref.shape[1:]) for w in x])
        d = np.abs(dev - ref)
        dq = np.abs(quantize_input(dev, scale, 0).astype(int) - quantize_input(ref, scale, 0))
        print(f"  {label:<24} {len(x):>4} windows: max |diff| {d.max():.1e}, max |diff| / (1 + |x|) "
              f"{(d / (1 + np.abs(ref))).max():.1e}; int8: max {dq.max()} step, {(dq > 0).mean():.3%} of values differ")


def vib_match(root: Path, n: int) -> None:
    from autotiny.data.cwru import CwruBearing

    numpy_fe = {"fft_bands": vibration.fft_bands, "log_spectrum": vibration.log_spectrum,
                "time_stats": vibration.time_stats}
    print(f"\nCWRU test windows (fault sizes unseen in training), device C vs numpy, {n} per setting")
    data = CwruBearing(root / "cwru_bearing")
    match_rows(VIB_SETTINGS, lambda p: data.windows("test", p.window), numpy_fe, n=n)


def imu_match() -> None:
    from autotiny.data.imu import watch

    rec = watch(val_pct=20, test_pct=20, seed=0)
    numpy_fe = {"imu_raw": imu.raw, "imu_stats": imu.stats, "imu_spectral": imu.spectral}
    print("\nWATCH test windows (subjects unseen in training), device C vs numpy")
    match_rows(IMU_SETTINGS, lambda p: rec.windows("test", p.window, p.hop), numpy_fe, hint=IMU_AXES)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--match", type=int, default=0, metavar="N", help="compare the front-ends on N real clips")
    ap.add_argument("--accuracy", action="store_true", help="score the MLPerf KWS model on both front-ends")
    ap.add_argument("--imu", action="store_true", help="the IMU front-ends instead of the MFCC")
    ap.add_argument("--imu-match", action="store_true", help="IMU device vs numpy on the WATCH test windows")
    ap.add_argument("--image", action="store_true", help="the image front-end instead of the MFCC")
    ap.add_argument("--vib", action="store_true", help="the vibration front-ends instead of the MFCC")
    ap.add_argument("--vib-match", type=int, default=0, metavar="N", help="vibration device vs numpy on N CWRU windows")
    args = ap.parse_args()
    root = Path(os.environ.get("AUTOTINY_DATA", "/work/shared/data"))
    if args.imu or args.imu_match or args.image or args.vib or args.vib_match:
        if args.imu:
            imu_table()
        if args.imu_match:
            imu_match()
        if args.image:
            image_table()
        if args.vib:
            vib_table()
        if args.vib_match:
            vib_match(root, args.vib_match)
        return
    cost_table(root)
    if args.match:
        match(root, args.match)
    if args.accuracy:
        accuracy(root)


if __name__ == "__main__":
    main()
