"""MFCC front-end: shapes, recipe sanity, validation, and the reference-model check."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autotiny.errors import ConfigError
from autotiny.frontends import FRONTENDS, get_frontend
from autotiny.frontends.mfcc import (
    MfccParams,
    dct_matrix,
    frame_count,
    log_mel,
    mel_centers_hz,
    mfcc,
    output_shape,
    quantize,
)

SR = 16000
REF_CLASSES = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "_silence_", "_unknown_")


def tone(freq: float, amp: float = 0.5, n: int = SR) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / SR)).astype(np.float32)


def test_default_shape_is_mlperf_49x10():
    p = MfccParams()
    assert (p.window_samples, p.hop_samples, p.n_fft) == (480, 320, 512)
    assert frame_count(p) == 49 and output_shape(p) == (49, 10)
    out = mfcc(np.zeros((3, SR), np.float32), p)
    assert out.shape == (3, 49, 10) and out.dtype == np.float32


def test_fft_size_none_is_next_power_of_two():
    assert MfccParams(window_ms=40, fft_size=None).n_fft == 1024  # 640 samples
    assert MfccParams(window_ms=32, fft_size=None).n_fft == 512  # exactly 512


def test_pads_short_and_crops_long_clips():
    x = np.random.default_rng(0).uniform(-0.5, 0.5, SR + 500).astype(np.float32)
    short = x[:12000]
    padded = np.concatenate([short, np.zeros(SR - 12000, np.float32)])
    np.testing.assert_array_equal(mfcc(short[None]), mfcc(padded[None]))
    np.testing.assert_array_equal(mfcc(x[None]), mfcc(x[None, :SR]))


@pytest.mark.parametrize("freq", [300.0, 1000.0, 2500.0])
def test_pure_tone_peaks_in_its_mel_band(freq):
    p = MfccParams()
    energies = log_mel(tone(freq)[None], p)[0].mean(axis=0)
    centers = mel_centers_hz(p)
    band = int(np.argmax(energies))
    nearest = int(np.argmin(np.abs(centers - freq)))
    assert abs(band - nearest) <= 1, (centers[band], freq)


def test_c0_is_scaled_sum_of_log_mel():
    # DCT-II row 0 scaled by sqrt(2/N) (TF's mfccs_from_log_mel_spectrograms).
    x = tone(700.0)[None] + 0.01 * np.random.default_rng(1).standard_normal((1, SR)).astype(np.float32)
    lm, c = log_mel(x)[0], mfcc(x)[0]
    np.testing.assert_allclose(c[:, 0], lm.sum(axis=1) * np.sqrt(2 / 40), rtol=1e-4, atol=1e-3)
    basis = dct_matrix(40, 40)
    gram = basis.T @ basis
    np.testing.assert_allclose(np.diag(gram)[1:], 1.0, atol=1e-12)  # orthonormal for k>0
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-12)


def test_peak_normalisation_makes_gain_irrelevant():
    x = tone(440.0, 0.8)[None] + 0.02 * np.random.default_rng(2).standard_normal((1, SR)).astype(np.float32)
    np.testing.assert_allclose(mfcc(x), mfcc(0.1 * x), atol=1e-4)
    raw = MfccParams(normalize_peak=False)
    assert not np.allclose(mfcc(x, raw), mfcc(0.1 * x, raw), atol=1e-2)
    assert np.isfinite(mfcc(np.zeros((1, SR), np.float32))).all()  # silent clip: no 0/0


def test_deterministic_and_batch_independent():
    x = np.random.default_rng(3).uniform(-1, 1, (5, SR)).astype(np.float32)
    a, b = mfcc(x), mfcc(x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(mfcc(x[2:3])[0], a[2], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"hop_ms": 40}, "hop_ms"),
        ({"n_mfcc": 41}, "n_mfcc"),
        ({"fmax_hz": 9000.0}, "fmax_hz"),
        ({"fmin_hz": 4000.0}, "fmin_hz"),
        ({"fft_size": 256}, "fft_size"),
        ({"window_ms": 2000}, "window_ms"),
        ({"sample_rate": 0}, "sample_rate"),
    ],
)
def test_invalid_params_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"MfccParams\.{field}="):
        MfccParams(**kwargs)


@settings(max_examples=25, deadline=None)
@given(
    window_ms=st.sampled_from([20, 25, 30, 40, 64]),
    hop_frac=st.sampled_from([0.25, 0.5, 2 / 3, 1.0]),
    n_mels=st.integers(10, 64),
    n_mfcc=st.integers(1, 20),
    clip_ms=st.sampled_from([500, 1000]),
)
def test_any_valid_params_match_output_shape(window_ms, hop_frac, n_mels, n_mfcc, clip_ms):
    p = MfccParams(
        clip_ms=clip_ms, window_ms=window_ms, hop_ms=window_ms * hop_frac, fft_size=None,
        n_mels=n_mels, n_mfcc=min(n_mfcc, n_mels),
    )
    out = mfcc(np.random.default_rng(0).uniform(-1, 1, (2, 12000)).astype(np.float32), p)
    assert out.shape == (2, *output_shape(p)) and np.isfinite(out).all()


def test_quantize_truncates_and_saturates():
    scale, zp = 0.5847, 83
    x = np.array([0.9 * scale, -0.9 * scale, (-83 - 3.5) * scale, 1000.0, -1000.0])
    # 83.9 -> 83, 82.1 -> 82, -3.5 -> -3 (toward zero), then clipped to int8
    np.testing.assert_array_equal(quantize(x, scale, zp), np.array([83, 82, -3, 127, -128], np.int8))
    assert quantize(x, scale, zp).dtype == np.int8


def test_registry_by_name():
    fe = get_frontend("mfcc")
    assert fe is FRONTENDS["mfcc"] and fe.params_type is MfccParams
    assert fe.output_shape(MfccParams(n_mfcc=13)) == (49, 13)
    x = tone(500.0)[None]
    np.testing.assert_array_equal(fe.compute(x, MfccParams()), mfcc(x))
    # the line lists every registered front-end, sorted
    available = ", ".join(sorted(FRONTENDS))
    with pytest.raises(ConfigError, match=f"unknown front-end 'logmel': available {available}$"):
        get_frontend("logmel")


def test_matches_tf_signal_recipe():
    # Project convention (NOTES §1): legacy Keras must be chosen before TF's first import,
    # and this test may be the first importer in a pytest session.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(4)
    x = (rng.uniform(-0.3, 0.3, (6, SR)) + tone(rng.uniform(200, 3000))).astype(np.float32)
    t = tf.constant(x)
    t = t / tf.reduce_max(t, axis=1, keepdims=True)
    spec = tf.abs(tf.signal.stft(t, 480, 320, 512))
    m = tf.signal.linear_to_mel_weight_matrix(40, 257, SR, 20.0, 4000.0)
    ref = tf.signal.mfccs_from_log_mel_spectrograms(tf.math.log(tf.tensordot(spec, m, 1) + 1e-6))[..., :10]
    np.testing.assert_allclose(mfcc(x), ref.numpy(), atol=2e-3)


def test_reference_int8_model_accuracy_on_shared_clips(data_root):
    from ai_edge_litert.interpreter import Interpreter

    from autotiny.data.speech_commands import CLASSES, SpeechCommands

    assert CLASSES == REF_CLASSES
    model = data_root / "mlperf_tiny" / "kws_ref_model_int8.tflite"
    waves, labels = SpeechCommands(data_root / "speech_commands_v0.02").load("all")
    t0 = time.perf_counter()
    feats = mfcc(waves)
    t_mfcc = time.perf_counter() - t0
    it = Interpreter(model_path=str(model))
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    scale, zp = inp["quantization"]
    assert abs(scale - 0.5847) < 1e-3 and zp == 83
    q = quantize(feats, scale, zp)[..., None]
    # Batched invoke matches per-clip invokes for this model (checked) and is ~20x faster.
    it.resize_tensor_input(inp["index"], [len(q), *q.shape[1:]])
    it.allocate_tensors()
    it.set_tensor(inp["index"], q)
    it.invoke()
    pred = it.get_tensor(out["index"]).argmax(axis=1)
    correct = int((pred == labels).sum())
    acc = correct / len(labels)
    print(f"\nreference int8 KWS model: {correct}/{len(labels)} = {acc:.4f} top-1; mfcc {t_mfcc:.2f}s")
    assert len(labels) == 3581
    assert acc >= 0.90
