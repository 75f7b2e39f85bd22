"""Vibration front-ends on generated signals with known answers, and the CWRU splits' promises
(one rate, no healthy time block and no fault size on both sides) on the real recordings."""

from __future__ import annotations

import numpy as np
import pytest

from autotiny.data import cwru
from autotiny.errors import DataError
from autotiny.frontends import FRONTENDS
from autotiny.frontends import vibration as vib

RATE = cwru.RATE


def _sine(freq: float, n: int = 2048, amp: float = 1.0) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / RATE))[None]


# ---- front-ends ----------------------------------------------------------------------------------

@pytest.mark.parametrize("freq", [950.0, 2650.0, 4150.0])  # inside a band, not on an edge
def test_a_sines_band_energy_lands_in_its_band(freq):
    p = vib.BandParams(window=1024, n_bands=16)
    energy = 10.0 ** vib.fft_bands(_sine(freq, amp=2.0), p)[0]
    band = int(freq / (RATE / 2) * p.n_bands)  # bands are equal-width from DC to Nyquist
    assert energy.argmax() == band
    assert energy[band] / energy.sum() > 0.9
    assert energy.sum() == pytest.approx(2.0 ** 2 / 2, rel=0.05)  # a sine's mean square A^2/2


def test_log_spectrum_peaks_at_the_sines_bin_and_has_fft_size_over_2_bins():
    p = vib.SpectrumParams(window=2048, fft_size=128)
    spec = vib.log_spectrum(_sine(3000.0), p)[0]
    assert spec.shape == vib.spectrum_shape(p) == (64,)
    bin_hz = RATE / p.fft_size
    assert spec.argmax() + 1 == round(3000.0 / bin_hz)  # bin 0 of the output is the first bin above DC


def test_time_statistics_of_known_signals():
    rng = np.random.default_rng(0)
    s = vib.statistics(rng.normal(0, 2.0, size=(1, 200_000)))
    assert s["kurtosis"][0] == pytest.approx(3.0, abs=0.05)
    assert s["skewness"][0] == pytest.approx(0.0, abs=0.03)
    assert s["rms"][0] == pytest.approx(2.0, rel=0.01)
    sine = vib.statistics(_sine(100.0, n=RATE, amp=3.0))  # whole periods
    assert sine["crest"][0] == pytest.approx(np.sqrt(2), rel=1e-3)
    assert sine["kurtosis"][0] == pytest.approx(1.5, rel=1e-3)
    assert sine["rms"][0] == pytest.approx(3.0 / np.sqrt(2), rel=1e-3)
    impulses = np.zeros((1, 1000))
    impulses[0, ::100] = 1.0  # a bearing fault's signature: sparse impacts, very high kurtosis
    assert vib.statistics(impulses)["kurtosis"][0] > 50


def test_time_stats_layout_is_frame_major_and_logged():
    p = vib.StatsParams(window=1024, n_frames=4)
    x = np.concatenate([_sine(200.0, n=512, amp=1.0), _sine(200.0, n=512, amp=4.0)], axis=1)
    f = vib.time_stats(x, p)[0].reshape(p.n_frames, len(vib.STATS))
    rms = f[:, vib.STATS.index("rms")]
    assert rms[2] - rms[0] == pytest.approx(np.log10(4.0), abs=0.02)  # louder second half, log10


@pytest.mark.parametrize("name,params", [("fft_bands", {"window": 1000}), ("fft_bands", {"n_bands": 1}),
                                         ("log_spectrum", {"window": 256, "fft_size": 512}),
                                         ("time_stats", {"n_frames": 3})])
def test_bad_frontend_params_are_refused(name, params):
    with pytest.raises(ValueError):
        FRONTENDS[name].params_type(**params)


def test_every_vibration_frontend_gives_its_declared_shape():
    x = np.random.default_rng(1).normal(size=(3, 2048))
    for name in ("fft_bands", "log_spectrum", "time_stats"):
        fe = FRONTENDS[name]
        p = fe.params_type(window=2048)
        out = fe.compute(x, p)
        assert out.shape == (3, *fe.output_shape(p)) and out.dtype == np.float32 and np.isfinite(out).all()


# ---- the CWRU data -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cwru_root(data_root):
    root = data_root / cwru.CWRU_DIR
    if not root.is_dir():
        pytest.skip("AUTOTINY_DATA has no cwru_bearing/")
    return root


def test_healthy_recording_is_resampled_to_the_fault_rate_with_an_anti_alias_filter(tmp_path):
    t = np.arange(cwru.HEALTHY_RATE) / cwru.HEALTHY_RATE  # one second at 48 kHz
    path = tmp_path / cwru.HEALTHY_FILE
    np.savez(path, DE=(np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 9000 * t)).astype(np.float32))
    x = cwru.read_signal(cwru.Recording(path, "healthy", None))
    assert len(x) == RATE  # 12 kHz now
    spec = vib.power_spectrum(x[1000:-1000].astype(np.float64))
    freqs = np.fft.rfftfreq(len(x) - 2000, 1 / RATE)
    assert spec[np.abs(freqs - 1000) < 30].sum() == pytest.approx(0.5, rel=0.05)  # the 1 kHz tone kept
    # 9 kHz is above the new 6 kHz Nyquist: without the filter it would fold to 3 kHz
    assert spec[np.abs(freqs - 3000) < 30].sum() < 1e-4


@pytest.mark.parametrize("labeling", ["fault", "anomaly"])
def test_splits_share_no_fault_size_and_no_healthy_time(cwru_root, labeling):
    ds = cwru.CwruBearing(cwru_root, labeling, per_class=40)
    sizes = {s: {r.size_mils for r in ds.split_recordings(s) if r.kind != "healthy"} for s in cwru.SPLITS}
    files = {s: {r.path for r in ds.split_recordings(s) if r.kind != "healthy"} for s in cwru.SPLITS}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not sizes[a] & sizes[b] and not files[a] & files[b]
    # the healthy recording: each split's windows lie inside its own block, and the blocks do not meet
    healthy = ds._signals[ds.recordings[0].path]
    spans = {}
    for split in cwru.SPLITS:
        lo, hi = cwru.HEALTHY_BLOCKS[split]
        spans[split] = (round(lo * len(healthy)), round(hi * len(healthy)))
        x, y = ds.windows(split, 1024)
        block = healthy[spans[split][0]:spans[split][1]]
        for w in x[y == 0][:5]:  # a healthy window is a contiguous piece of its block
            starts = np.flatnonzero(block[:len(block) - 1023] == w[0])
            assert any(np.array_equal(block[s:s + 1024], w) for s in starts)
    assert spans["train"][1] <= spans["val"][0] and spans["val"][1] <= spans["test"][0]
    if labeling == "anomaly":
        assert set(ds.windows("train", 512)[1].tolist()) == {0}  # a one-class model never sees a fault
        assert set(ds.windows("test", 512)[1].tolist()) == {0, 1}
    else:
        for split in cwru.SPLITS:  # every split is scored on every class
            assert set(ds.windows(split, 512)[1].tolist()) == {0, 1, 2, 3}


def test_a_missing_or_unreadable_recording_is_one_line_naming_it(tmp_path, cwru_root):
    with pytest.raises(DataError, match=f"data.root={tmp_path}: CWRU bearing data needs"):
        cwru.cwru_root(str(tmp_path))
    folder = tmp_path / cwru.RECORDINGS_DIR
    folder.mkdir()
    for rec in cwru.recordings(cwru_root):
        (folder / rec.path.name).symlink_to(rec.path)
    bad = folder / "1797_IR_7_DE12.npz"
    bad.unlink()
    bad.write_bytes(b"not an npz")
    ds = cwru.CwruBearing(tmp_path, "fault", per_class=8)
    with pytest.raises(DataError) as err:
        ds.windows("train", 512)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{bad}: unreadable recording")


# ---- the tasks' seams: spaces with several front-ends, the anomaly score, wrong families -----------

class _Last:
    """A Suggester that picks the last choice and the low end of ranges, recording the names asked."""

    def __init__(self):
        self.names: list[str] = []

    def suggest_categorical(self, name, choices):
        self.names.append(name)
        return choices[-1]

    def suggest_int(self, name, low, high, step=1, log=False):
        self.names.append(name)
        return low

    def suggest_float(self, name, low, high, step=None, log=False):
        self.names.append(name)
        return low


@pytest.mark.parametrize("space_name", ["fault", "anomaly"])
def test_the_vibration_spaces_choose_the_front_end_type_with_conditional_params(space_name):
    from autotiny.space import load_space, suggest

    trial = _Last()
    spec = suggest(load_space(space_name), trial)
    assert spec.frontend == "time_stats" and "frontend.type" in trial.names
    assert "frontend.time_stats.window" in trial.names and "frontend.fft_bands.window" not in trial.names
    assert spec.frontend_params == vib.StatsParams(window=2048, n_frames=8)


def test_anomaly_score_auc_and_threshold_tuned_under_costs():
    from autotiny.decisions import cost_matrix, tune
    from autotiny.tasks.anomaly import scores_from_errors

    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(200, int), np.ones(200, int)]
    errors = np.r_[rng.lognormal(0.0, 0.5, 200), rng.lognormal(1.0, 0.5, 200)]  # overlapping
    s = scores_from_errors(errors, labels, ref=float(np.quantile(errors[:200], 0.99)))
    from sklearn.metrics import roc_auc_score
    assert s.metrics["auc"] == pytest.approx(roc_auc_score(labels, errors)) and 0.8 < s.metrics["auc"] < 0.99
    assert s.figures()["auc"] == s.metrics["auc"] and s.probs.shape == (400, 2)
    assert np.all(np.diff(s.probs[np.argsort(errors), 1]) >= 0)  # p(fault) rises with the error
    # a missed fault that costs more moves the tuned alarm threshold down: more alarms, fewer misses
    alarms = []
    for miss in (1.0, 20.0):
        from autotiny.config import Costs

        cost = cost_matrix(Costs(miss={"fault": miss}, false_alarm={"fault": 1.0}), ["healthy", "fault"])
        alarms.append(int(tune(s.probs, labels, cost).decide(s.probs).sum()))
    assert alarms[1] > alarms[0]


def test_each_vibration_task_refuses_the_other_kind_of_model_in_one_line():
    from autotiny.config import compose
    from autotiny.errors import ConfigError
    from autotiny.models.autoencoder import FcAutoencoderParams
    from autotiny.models.mlp import MlpParams
    from autotiny.space import CandidateSpec, TrainingSpec
    from autotiny.tasks import get_task

    def spec(family, params, frontend="fft_bands", fe=vib.BandParams()):
        return CandidateSpec(frontend, fe, family, params, TrainingSpec(1, 0.01, 16), "int8_ptq")

    fault, anomaly = get_task(compose(["task=fault"]).task), get_task(compose(["task=anomaly"]).task)
    assert fault.input_shape(spec("mlp", MlpParams())) == (32, 1)
    with pytest.raises(ConfigError, match="model.family=fc_autoencoder: an autoencoder reconstructs"):
        fault.input_shape(spec("fc_autoencoder", FcAutoencoderParams()))
    with pytest.raises(ConfigError, match="model.family=mlp: the anomaly task trains a one-class model"):
        anomaly.input_shape(spec("mlp", MlpParams()))
    from autotiny.frontends.image import ImageParams
    with pytest.raises(ConfigError, match="frontend.type=image: the fault task reads vibration windows"):
        fault.input_shape(spec("mlp", MlpParams(), "image", ImageParams()))
