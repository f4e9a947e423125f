"""The text vertical passes the conformance suite on small, deterministic message tables and a text folder.

The vertical has no built-in dataset, so the sample is drawn here from a
fixed seed: short support messages about billing or about login trouble,
sharing filler words, so the classes differ in their vocabulary only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vertical_automl.testing import CHECK_NAMES, conformance_checks

WORDS = {
    "billing": ("invoice", "charged", "refund", "payment", "card", "price", "bill", "twice"),
    "login": ("password", "login", "locked", "account", "reset", "code", "sign", "email"),
}
FILLER = ("please", "help", "my", "the", "is", "again", "today", "i", "cannot", "was", "a", "with")


def messages(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.choice(sorted(WORDS), rows)
    texts = [" ".join(rng.permutation([*rng.choice(WORDS[label], 3), *rng.choice(FILLER, 4)])) for label in labels]
    return pd.DataFrame({"message": texts, "topic": labels})


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text-conformance")
    messages(200, seed=0).to_csv(folder / "train.csv", index=False)
    messages(60, seed=1).to_csv(folder / "test.csv", index=False)
    for index, row in messages(12, seed=2).iterrows():
        place = folder / "tickets" / row["topic"]
        place.mkdir(parents=True, exist_ok=True)
        (place / f"{index}.txt").write_text(row["message"] + "\n")
    found = conformance_checks(
        "text",
        folder / "train.csv",
        test_data=folder / "test.csv",
        samples={"text-folder": folder / "tickets"},
        workdir=folder,
        epochs=1,  # the checks are about the contract, not the fit
    )
    return {check.name: check for check in found}


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_text_conforms(checks, name):
    checks[name]()
