"""A trial's record: its trials.json row, its JSON round trip, and its status as KerasTuner's strings."""

from __future__ import annotations

import json

import pytest

from vertical_automl.search_engine.records import TrialRecord, TrialStatus


def test_the_statuses_are_keras_tuners_strings():
    kt = pytest.importorskip("keras_tuner")
    ours = {status.name: status.value for status in TrialStatus}
    theirs = {name: value for name, value in vars(kt.engine.trial.TrialStatus).items() if name.isupper()}
    assert ours == theirs


def test_the_trials_json_row_holds_plain_values_in_its_fixed_order():
    record = TrialRecord("3", TrialStatus.FAILED, None, None, 2, 1.25, {"units": 8}, "ValueError: bad")
    row = record.to_json()
    assert row == {
        "trial_id": "3",
        "status": "FAILED",
        "score": None,
        "best_epoch": None,
        "epochs_run": 2,
        "seconds": 1.25,
        "hyperparameters": {"units": 8},
        "error": "ValueError: bad",
    }
    assert type(row["status"]) is str and list(row) == list(json.loads(json.dumps(row)))
    assert f"{record.status:<9}|" == "FAILED   |"  # the progress line's column


def test_a_record_round_trips_through_json():
    record = TrialRecord("0", TrialStatus.COMPLETED, 0.91, 4, 6, 12.5, {"units": 16, "lr": 0.001})
    again = TrialRecord.from_json(record.to_json())
    assert again == record and again.status is TrialStatus.COMPLETED
    assert json.loads(json.dumps(record.to_json())) == record.to_json()  # plain JSON values
