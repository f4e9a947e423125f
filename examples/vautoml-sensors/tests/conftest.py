"""Put this example's package first on sys.path, and install it for the tests that need an installed plugin."""

import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1]
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """What ``pip install -e examples/vautoml-sensors`` gives: the package and its entry point, found by
    importlib.metadata in this process and, through the returned environment, in the processes tests start."""
    site = tmp_path_factory.mktemp("site")
    info = site / "vautoml_sensors-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vautoml-sensors\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[vautoml]\nsensors = vautoml_sensors\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        yield {"PYTHONPATH": f"{EXAMPLE}:{site}", "VAUTOML_LOAD_PLUGINS": "vautoml-sensors"}
