"""``vautoml plugin new NAME`` writes a plugin that installs offline, lists, and passes its own conformance tests."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib

import pytest
from helpers import REPO, run_vautoml

from vertical_automl.scaffold import PluginNames

SCAFFOLD = REPO / "vertical_automl" / "scaffold"


def with_site(site):
    """This process's environment with ``site`` first on PYTHONPATH, as if the plugin were pip-installed."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


def test_a_new_plugin_installs_lists_and_passes_its_conformance_tests(tmp_path):
    done = run_vautoml("plugin", "new", "acme-sensors", "--directory", str(tmp_path))
    assert done.returncode == 0, done.stderr
    package = tmp_path / "vautoml-acme-sensors"
    assert f"Wrote {package}" in done.stdout
    module = package / "vautoml_acme_sensors" / "__init__.py"
    assert {p.name for p in (package / "vautoml_acme_sensors" / "sample").iterdir()} == {"train.csv", "test.csv"}
    assert 'acme-sensors = "vautoml_acme_sensors"' in (package / "pyproject.toml").read_text()
    imported = {
        node.module
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vertical_automl")
    }
    assert imported == {"vertical_automl.plugin_api"}

    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--target", str(site), str(package)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    assert (site / "vautoml_acme_sensors" / "sample" / "train.csv").is_file()  # the sample is package data

    listed = run_vautoml("plugins", "list", "--json", env={"PYTHONPATH": str(site)})
    assert listed.returncode == 0, listed.stderr
    assert '"acme-sensors"' in listed.stdout and '"vautoml-acme-sensors"' in listed.stdout

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
        capture_output=True,
        text=True,
        cwd=package,
        env=with_site(site),
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert "8 passed" in tests.stdout


@pytest.mark.parametrize("name", ["Sensors", "9lives", "no spaces", "trailing-", "x" * 41, "dots.bad"])
def test_a_bad_name_is_refused_in_one_line(tmp_path, name):
    done = run_vautoml("plugin", "new", name, "--directory", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith(f"Error: '{name}' is not a plugin name") and done.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_an_existing_package_or_a_missing_directory_is_refused(tmp_path):
    (tmp_path / "vautoml-sensors").mkdir()
    done = run_vautoml("plugin", "new", "sensors", "--directory", str(tmp_path))
    assert done.returncode == 2 and "already exists" in done.stderr and done.stderr.count("\n") == 1
    assert list((tmp_path / "vautoml-sensors").iterdir()) == []
    done = run_vautoml("plugin", "new", "sensors", "--directory", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and "is not a folder" in done.stderr


def test_names_use_underscores_for_the_package_and_dashes_for_the_distribution():
    names = PluginNames("my_shop-floor")
    assert (names.package, names.distribution) == ("vautoml_my_shop_floor", "vautoml-my-shop-floor")


def test_the_wheel_carries_every_template_file():
    """pyproject's package-data patterns match each file under template/, so an installed vautoml can scaffold."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["vertical_automl.scaffold"]
    shipped = {path for pattern in patterns for path in SCAFFOLD.glob(pattern) if path.is_file()}
    files = {path for path in (SCAFFOLD / "template").rglob("*") if path.is_file() and "__pycache__" not in path.parts}
    assert files and files <= shipped
