"""The finance vertical passes the conformance suite on a small, deterministic credit table.

The vertical has no built-in dataset, so the sample is drawn here from a
fixed seed: numeric and categorical columns, a missing cell, and a default
flag that depends on them, so a trained model has something to find.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vertical_automl.testing import CHECK_NAMES, conformance_checks

PURPOSES = ("car", "house", "education", "business")


def credit_table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.5, rows).round(-2)
    debt_ratio = rng.uniform(0, 1.2, rows).round(3)
    age = rng.integers(19, 75, rows)
    purpose = rng.choice(PURPOSES, rows)
    risk = 2.5 * debt_ratio - (income - 36000) / 20000 - (age - 45) / 40 + (purpose == "business") * 0.8
    default = np.where(risk + rng.normal(0, 0.6, rows) > 1.3, "bad", "good")
    frame = pd.DataFrame({"income": income, "debt_ratio": debt_ratio, "age": age, "purpose": purpose})
    frame.loc[3, "income"] = np.nan  # one missing cell: the table encoder's imputation is part of the contract
    return frame.assign(default=default)


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finance-conformance")
    credit_table(240, seed=0).to_csv(folder / "train.csv", index=False)
    credit_table(80, seed=1).to_csv(folder / "test.csv", index=False)
    found = conformance_checks(
        "finance", folder / "train.csv", test_data=folder / "test.csv", workdir=folder, epochs=1
    )  # one epoch: the checks are about the contract, not the fit
    return {check.name: check for check in found}


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_finance_conforms(checks, name):
    checks[name]()
