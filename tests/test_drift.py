"""Input drift monitoring: training profiles, PSI over a sliding window, out-of-range counts, Prometheus metrics."""

from __future__ import annotations

import json
import math
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from vertical_automl import UsageError
from vertical_automl.bundle.files import PROFILE_FILE
from vertical_automl.predictor import Preprocessor
from vertical_automl.registry.runs import find_run
from vertical_automl.serving.drift import MIN_ROWS, DriftCollector, DriftMonitor, InputProfile, load_monitor
from vertical_automl.serving.profile import MAX_TRAINING_ROWS, Method

GOLDEN = Path(__file__).parent / "golden"
BUNDLES = {
    "table": ("medical/golden-table-binary", "loans.csv"),
    "regression": ("finance/golden-table-regression", "prices.csv"),
    "text": ("text/golden-text", "tickets.csv"),
    "image": ("vision/golden-image", "digits.npz"),
}
ARRAYS = {"kind": "arrays", "layout": "channels_last"}


def golden(name: str) -> tuple[Path, Preprocessor, np.ndarray]:
    """A golden bundle's folder, its preprocessor and its raw input file encoded as the model sees it."""
    folder, inputs = BUNDLES[name]
    run = find_run(GOLDEN / "registry", str(GOLDEN / "registry" / folder))
    preprocessor = Preprocessor(run)
    return run.path, preprocessor, preprocessor.encode(str(GOLDEN / "inputs" / inputs)).x


@pytest.fixture(scope="module")
def loans() -> tuple[InputProfile, np.ndarray]:
    _, preprocessor, x = golden("table")
    return InputProfile.from_training(x, preprocessor.spec), x


def psi(monitor: DriftMonitor) -> dict[str, float]:
    return {feature.name: feature.psi for feature in monitor.snapshot().features}


@pytest.mark.parametrize(
    "name, method, features",
    [
        (
            "table",
            Method.COLUMNS,
            [
                "income",
                "income (missing)",
                "age",
                "region=south",
                "region=east",
                "region=north",
                "region=(other)",
                "debt",
            ],
        ),
        ("regression", Method.COLUMNS, ["area", "rooms", "city=a", "city=b", "city=(other)"]),
        ("text", Method.TEXT, ["tokens", "out-of-vocabulary share"]),
        ("image", Method.SUMMARY, ["mean", "std"]),
    ],
)
def test_golden_inputs_give_small_plain_json_profiles_that_round_trip(name, method, features):
    _, preprocessor, x = golden(name)
    profile = InputProfile.from_training(x, preprocessor.spec)
    assert profile.extraction.method is method
    assert [feature.name for feature in profile.monitored] == features
    text = json.dumps(profile.to_json(), allow_nan=False)
    assert len(text) < 4000 and InputProfile.from_json(json.loads(text)) == profile
    assert InputProfile.from_training(x, preprocessor.spec) == profile  # the same run writes the same file
    assert profile.training_rows == profile.sampled_rows == len(x)
    values = profile.features(x)
    for i, feature in enumerate(profile.monitored):
        assert (feature.minimum, feature.maximum) == (values[:, i].min(), values[:, i].max())
        assert sum(feature.proportions) == pytest.approx(1, abs=1e-5)
        assert len(feature.proportions) == len(feature.edges) + 1


def test_one_hot_and_constant_features_get_one_bin_per_value(loans):
    profile, x = loans
    by_name = {feature.name: feature for feature in profile.monitored}
    assert by_name["region=south"].edges == (0.5,)
    south = float(np.mean(x[:, 3] == 1))
    assert by_name["region=south"].proportions == pytest.approx((1 - south, south), abs=1e-6)
    assert by_name["region=(other)"].edges == () and by_name["region=(other)"].proportions == (1.0,)
    assert len(by_name["income"].edges) == 9  # deciles of a continuous column


def test_psi_is_near_zero_for_rows_like_training_and_large_for_a_scaled_column(loans):
    profile, x = loans
    rng = np.random.default_rng(1)
    same = DriftMonitor(profile)
    same.observe(x[rng.integers(0, len(x), 1000)])
    assert max(psi(same).values()) < 0.05
    shifted = x[rng.integers(0, len(x), 1000)].copy()
    shifted[:, 0] *= 3  # income in the wrong units
    moved = DriftMonitor(profile)
    moved.observe(shifted)
    assert psi(moved)["income"] > 0.25
    assert max(value for name, value in psi(moved).items() if name != "income") < 0.05
    assert moved.snapshot().max_psi == psi(moved)["income"]


def test_psi_of_a_continuous_feature_follows_its_distribution():
    rng = np.random.default_rng(2)
    profile = InputProfile.from_training(rng.normal(size=(5000, 2)).astype(np.float32), ARRAYS)
    same, moved = DriftMonitor(profile), DriftMonitor(profile)
    same.observe(rng.normal(size=(1000, 2)))
    moved.observe(rng.normal(size=(1000, 2)) + [1.0, 0.0])  # the first feature moves by one standard deviation
    assert max(psi(same).values()) < 0.05
    assert psi(moved)["x[0]"] > 0.25 and psi(moved)["x[1]"] < 0.05


def test_psi_is_the_textbook_formula():
    profile = InputProfile.from_training(np.array([[0.0], [1.0]] * 50, dtype=np.float32), ARRAYS)
    monitor = DriftMonitor(profile, window=100)
    monitor.observe(np.array([[0.0]] * 80 + [[1.0]] * 20, dtype=np.float32))
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi(monitor)["x[0]"] == pytest.approx(expected, rel=1e-3)


def test_out_of_range_counts_are_exact_and_kept_since_start(loans):
    profile, x = loans
    income, age, debt = (next(f for f in profile.monitored if f.name == name) for name in ("income", "age", "debt"))
    monitor = DriftMonitor(profile, window=MIN_ROWS)
    for _ in range(3):  # 3 x 40 rows: more than the window holds, counted all the same
        rows = x.copy()
        rows[:7, 0] = income.maximum + 1
        rows[7:10, 2] = age.minimum - 1
        rows[10, 7] = np.nan  # not finite: out of range too
        rows[11, 7] = debt.maximum  # the maximum itself is in range
        monitor.observe(rows)
    snapshot = monitor.snapshot()
    counts = {feature.name: feature.out_of_range for feature in snapshot.features}
    assert counts == {name: 0 for name in counts} | {"income": 21, "age": 9, "debt": 3}
    assert (snapshot.rows, snapshot.observed) == (MIN_ROWS, 120)


def test_the_window_holds_the_last_rows_only(loans):
    profile, x = loans
    rng = np.random.default_rng(3)
    scaled = x[rng.integers(0, len(x), 150)] * 3
    monitor = DriftMonitor(profile, window=200)
    monitor.observe(scaled)
    assert monitor.snapshot().max_psi > 1
    for _ in range(3):  # 3 x 100 rows like training push the scaled ones out of the window
        monitor.observe(x[rng.integers(0, len(x), 100)])
    assert monitor.snapshot().max_psi < 0.1 and monitor.snapshot().rows == 200
    monitor.observe(np.concatenate([x[rng.integers(0, len(x), 300)], scaled]))  # one batch larger than the window
    assert monitor.snapshot().max_psi > 1


def test_psi_waits_for_enough_rows(loans):
    profile, x = loans
    monitor = DriftMonitor(profile)
    monitor.observe(x)
    snapshot = monitor.snapshot()
    assert snapshot.rows == 40 and snapshot.max_psi is None and all(f.psi is None for f in snapshot.features)
    with pytest.raises(UsageError, match=f"at least {MIN_ROWS} rows"):
        DriftMonitor(profile, window=10)


def test_observe_is_thread_safe(loans):
    profile, x = loans
    rows = x.copy()
    rows[0, 0] = 1e9  # one income out of range per batch
    monitor = DriftMonitor(profile, window=500)

    def send() -> None:
        for _ in range(50):
            monitor.observe(rows)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = monitor.snapshot()
    assert (snapshot.observed, snapshot.rows) == (8 * 50 * 40, 500)
    assert next(f for f in snapshot.features if f.name == "income").out_of_range == 8 * 50


def test_text_features_are_token_counts_and_the_out_of_vocabulary_share():
    _, preprocessor, x = golden("text")
    profile = InputProfile.from_training(x, preprocessor.spec)
    spec = preprocessor.spec
    ids = np.zeros((2, spec["shape"][0]), dtype=np.int32)
    ids[0, :3] = [5, spec["out_of_vocabulary_index"], 7]
    ids[1, : spec["sequence_length"]] = 9  # a full sequence, all known; the n-gram ids after it do not count
    ids[1, spec["sequence_length"] :] = 4
    assert profile.features(ids).tolist() == [[3, 1 / 3], [spec["sequence_length"], 0]]
    unknown = preprocessor.encode(["qwxz vbnm plkj"]).x
    assert profile.features(unknown).tolist() == [[3, 1.0]]


def test_image_features_are_per_channel_means_and_standard_deviations():
    _, preprocessor, x = golden("image")
    profile = InputProfile.from_training(x, preprocessor.spec)
    flat = x.reshape(len(x), -1).astype(np.float64)
    assert np.allclose(profile.features(x), np.stack([flat.mean(axis=1), flat.std(axis=1)], axis=1))
    rgb = np.random.default_rng(4).random((6, 4, 4, 3)).astype(np.float32)
    colour = InputProfile.from_training(rgb, {"kind": "image", "layout": "channels_last"})
    assert [f.name for f in colour.monitored] == [f"{s} (channel {c})" for s in ("mean", "std") for c in range(3)]
    red = rgb[..., 0].reshape(6, -1).astype(np.float64)
    assert np.allclose(colour.features(rgb)[:, [0, 3]], np.stack([red.mean(axis=1), red.std(axis=1)], axis=1))
    first = InputProfile.from_training(np.moveaxis(rgb, -1, 1), {"kind": "image", "layout": "channels_first"})
    assert np.allclose(first.features(np.moveaxis(rgb, -1, 1)), colour.features(rgb))


def test_wide_and_many_channel_inputs_keep_few_features():
    rng = np.random.default_rng(5)
    for x in (rng.random((20, 300)), rng.random((20, 4, 4, 32)), rng.random((20, 3, 50, 2, 2))):
        profile = InputProfile.from_training(x.astype(np.float32), ARRAYS)
        assert len(profile.monitored) <= 32 and profile.extraction.method is Method.SUMMARY
    with pytest.raises(ValueError, match="shape"):
        profile.features(rng.random((2, 7)))


def test_big_training_splits_are_sampled_but_keep_their_whole_range():
    x = np.random.default_rng(6).normal(size=(MAX_TRAINING_ROWS * 2, 3)).astype(np.float32)
    profile = InputProfile.from_training(x, ARRAYS)
    assert (profile.training_rows, profile.sampled_rows) == (len(x), MAX_TRAINING_ROWS)
    assert [f.minimum for f in profile.monitored] == x.min(axis=0).tolist()
    assert [f.maximum for f in profile.monitored] == x.max(axis=0).tolist()


def test_load_monitor_without_a_profile_with_one_and_with_a_damaged_one(tmp_path, loans):
    folder, _, _ = golden("table")
    assert load_monitor(folder) is None  # runs from before profiles existed
    bundle = tmp_path / "run"
    shutil.copytree(folder, bundle)
    profile, _ = loans
    (bundle / PROFILE_FILE).write_text(json.dumps(profile.to_json()))
    monitor = load_monitor(bundle, window=300)
    assert monitor.profile == profile and monitor.window == 300
    good = profile.to_json()
    damaged = [
        json.dumps(good)[:200],  # truncated
        "[1, 2]",
        json.dumps({**good, "profile_version": 99}),
        json.dumps({**good, "features": good["features"][:-1]}),
        json.dumps({**good, "features": [{**good["features"][0], "proportions": [0.5]}, *good["features"][1:]]}),
        json.dumps({**good, "extraction": {**good["extraction"], "method": "guess"}}),
    ]
    for text in damaged:
        (bundle / PROFILE_FILE).write_text(text)
        with pytest.raises(UsageError) as refused:
            load_monitor(bundle)
        assert f"the input profile '{bundle / PROFILE_FILE}' is damaged" in str(refused.value)
        assert "Fix: copy the run folder again" in str(refused.value) and "\n" not in str(refused.value)


def test_the_collector_reports_every_family_with_model_and_feature_labels(loans):
    profile, x = loans
    busy, quiet = DriftMonitor(profile), DriftMonitor(profile)
    rows = x[np.random.default_rng(7).integers(0, len(x), 150)].copy()
    rows[:4, 0] = -1.0  # below the training minimum
    busy.observe(rows)
    quiet.observe(x[:10])
    registry = CollectorRegistry()
    registry.register(DriftCollector({"busy": busy, "quiet": quiet}))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert {name: families[name].type for name in families} == {
        "vautoml_input_drift_psi": "gauge",
        "vautoml_input_out_of_range": "counter",
        "vautoml_input_drift_window_rows": "gauge",
        "vautoml_input_drift_max_psi": "gauge",
    }

    def samples(family: str, suffix: str = "") -> dict[tuple[str, ...], float]:
        found = [s for s in families[family].samples if s.name == family + suffix]
        return {tuple(s.labels[key] for key in ("model", "feature") if key in s.labels): s.value for s in found}

    names = [feature.name for feature in profile.monitored]
    assert samples("vautoml_input_drift_window_rows") == {("busy",): 150, ("quiet",): 10}
    assert set(samples("vautoml_input_drift_psi")) == {("busy", name) for name in names}  # quiet has too few rows
    assert samples("vautoml_input_drift_psi")[("busy", "income")] == pytest.approx(psi(busy)["income"])
    assert samples("vautoml_input_drift_max_psi") == {("busy",): pytest.approx(busy.snapshot().max_psi)}
    out_of_range = samples("vautoml_input_out_of_range", "_total")
    assert len(out_of_range) == 2 * len(names) and out_of_range[("busy", "income")] == 4
    assert sum(out_of_range.values()) == 4
