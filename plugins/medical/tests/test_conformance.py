"""The medical vertical passes the conformance suite, on a small subset of its built-in breast cancer data.

Eight of the 30 features keep it quick: the clinical report sections run a
permutation importance per feature in each search and in ``evaluate``.
"""

from __future__ import annotations

import numpy as np
import pytest
from vautoml_medical import MEDICAL

from vertical_automl.testing import CHECK_NAMES, conformance_checks


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    """The suite's checks on 160 training and 60 test patients (8 features) as CSV files, sharing one search."""
    folder = tmp_path_factory.mktemp("medical-conformance")
    data = MEDICAL.default_data()
    frame = data.x.iloc[:, :8].assign(**{data.target: np.asarray(data.class_names)[data.y]})
    rows = np.random.default_rng(0).permutation(len(frame))
    frame.iloc[rows[:160]].to_csv(folder / "train.csv", index=False)
    frame.iloc[rows[160:220]].to_csv(folder / "test.csv", index=False)
    return {
        check.name: check
        for check in conformance_checks(
            "medical", folder / "train.csv", test_data=folder / "test.csv", workdir=folder, epochs=1
        )  # one epoch: the checks are about the contract, not the fit
    }


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_medical_conforms(checks, name):
    checks[name]()
