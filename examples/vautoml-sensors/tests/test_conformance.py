"""The sensors vertical gets everything vertical-automl promises a vertical: its conformance suite.

One test per check, sharing one tiny search on the committed sample (a module
fixture): the long CSV for the searches, the ``.npz`` as the other loader's
sample.  The plugin is installed for the run (the ``installed`` fixture), as a
user's would be: the suite's predict and ONNX checks look the input kind up
among the installed plugins.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import vautoml_sensors

from vertical_automl.plugins import InstalledPlugins
from vertical_automl.testing import CHECK_NAMES, conformance_checks

SAMPLE = Path(vautoml_sensors.__file__).resolve().parents[1] / "sample_data"


@pytest.fixture(scope="module")
def checks(tmp_path_factory, installed):
    plugins = InstalledPlugins({"VAUTOML_LOAD_PLUGINS": installed["VAUTOML_LOAD_PLUGINS"]})
    found = conformance_checks(
        "sensors",
        SAMPLE / "train.csv",
        test_data=SAMPLE / "test.csv",
        samples={"npz": SAMPLE / "train.npz"},
        plugins=plugins,
        workdir=tmp_path_factory.mktemp("sensors-conformance"),
    )
    return {check.name: check for check in found}


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_sensors_conforms(checks, name):
    checks[name]()
