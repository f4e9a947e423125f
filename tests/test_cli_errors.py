"""Every bad input: one line naming the problem and the fix, non-zero exit, registry untouched."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import run_vautoml, throwaway_plugins
from PIL import Image

import vertical_automl.cli as cli
import vertical_automl.pipeline.run as pipeline
from vertical_automl.cli import main


def image(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)


def make_case(root, case):
    data = root / "data"
    if case == "empty":
        data.mkdir()
    elif case == "one_class":
        for i in range(5):
            image(data / "cat" / f"{i}.png")
    elif case == "corrupt":
        for i in range(5):
            image(data / "cat" / f"{i}.png")
            image(data / "dog" / f"{i}.png", 255)
        (data / "dog" / "5.png").write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    elif case == "nan":
        data = root / "data.npz"
        x = np.zeros((30, 8, 8), dtype="float32")
        x[3, 2, 2] = np.nan
        np.savez(data, x=x, y=np.arange(30) % 2)
    elif case == "unknown_option":
        for i in range(5):
            image(data / "cat" / f"{i}.png")
            image(data / "dog" / f"{i}.png", 255)
    elif case == "registry_in_a_file":
        (root / "file.txt").write_text("not a folder")
    elif case == "unreadable_format":
        data = root / "data.csv"
        data.write_text("a,b\n1,2\n")
    return data


CASES = [
    (
        "missing",
        ["--plugin", "tiny-image", "--data", "{root}/nowhere"],
        "--data path '{root}/nowhere' does not exist",
        2,
    ),
    ("empty", ["--plugin", "tiny-image", "--data", "{data}"], "has no class sub-folders", 2),
    ("one_class", ["--plugin", "tiny-image", "--data", "{data}"], "has only one class ('cat')", 2),
    ("corrupt", ["--plugin", "tiny-image", "--data", "{data}"], "cannot read image '{data}/dog/5.png'", 2),
    ("nan", ["--plugin", "tiny-image", "--data", "{data}"], "contain NaN or infinite values", 2),
    ("unreadable_format", ["--plugin", "tiny-image", "--data", "{data}"], "the tiny-image vertical cannot read", 2),
    (
        "unknown_plugin",
        ["--plugin", "tiny-imgae"],
        "unknown plugin or vertical 'tiny-imgae' (available: tiny-image, tiny-table, tiny-text)",
        3,
    ),
    (
        "missing_test",
        ["--plugin", "tiny-image", "--test-data", "{root}/none.npz"],
        "--test-data path '{root}/none.npz' does not exist",
        2,
    ),
    (
        "unknown_option",
        ["--plugin", "tiny-image", "--data", "{data}", "-O", "imagesize=32"],
        "unknown data option(s) imagesize",
        2,
    ),
    (
        "registry_in_a_file",
        ["--plugin", "tiny-image", "--registry", "{root}/file.txt/registry"],
        "cannot create a run folder in the registry",
        2,
    ),
]


@pytest.fixture
def only_test_verticals(monkeypatch):
    """The in-process CLI sees only the test verticals, so the list of available ones is known."""
    plugins = throwaway_plugins()
    monkeypatch.setattr(cli, "get_plugins", lambda: plugins)
    monkeypatch.setattr(pipeline, "get_plugins", lambda: plugins)


@pytest.mark.parametrize("case, args, message, code", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_and_leaves_no_run(tmp_path, case, args, message, code, only_test_verticals):
    data = make_case(tmp_path, case)
    registry = tmp_path / "registry"
    fill = {"root": tmp_path, "data": data}
    args = [a.format(**fill) for a in args]
    if "--registry" not in args:
        args += ["--registry", str(registry)]
    result = CliRunner().invoke(main, ["search", *args])
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and message.format(**fill) in lines[0] and "Fix: " in lines[0]
    assert isinstance(result.exception, SystemExit)  # handled: no exception escaped the CLI
    assert not registry.exists()


def test_existing_registry_is_left_exactly_as_it_was(tmp_path):
    registry = tmp_path / "registry"
    (registry / "tiny-image" / "older-run").mkdir(parents=True)
    before = sorted(p.relative_to(registry) for p in registry.rglob("*"))
    make_case(tmp_path, "one_class")
    result = CliRunner().invoke(
        main, ["search", "--plugin", "tiny-image", "--data", str(tmp_path / "data"), "--registry", str(registry)]
    )
    assert result.exit_code == 2
    assert sorted(p.relative_to(registry) for p in registry.rglob("*")) == before


def test_debug_shows_the_traceback(tmp_path):
    done = run_vautoml(
        "--debug",
        "search",
        "--plugin",
        "tiny-image",
        "--data",
        str(tmp_path / "nowhere"),
        "--registry",
        str(tmp_path / "r"),
    )
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "DataError" in done.stderr


def test_bad_data_option_and_seed_are_usage_errors(tmp_path):
    result = CliRunner().invoke(
        main, ["search", "--plugin", "tiny-image", "-O", "image_size", "--registry", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "is not KEY=VALUE" in result.output
    result = CliRunner().invoke(
        main, ["search", "--plugin", "tiny-image", "--seed", "-1", "--registry", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "--seed" in result.output
    assert not (tmp_path / "r").exists()


def test_empty_registry_variable_means_the_default_folder(monkeypatch):
    from vertical_automl.registry import default_root

    monkeypatch.setenv("VAUTOML_REGISTRY", "")
    assert str(default_root()) == "registry"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["search", "--plugin", "tiny-image", "--time-budget", "0s"],
            "Invalid value for --time-budget: '0s' is not a duration",
        ),
        (["predict", "--data", "x.csv"], "Missing option '--model'"),
        (["search", "--no-such-flag"], "No such option '--no-such-flag'"),
        (["registry", "show"], "Missing argument 'RUN'"),
    ],
)
def test_a_bad_flag_is_one_line_naming_the_help_to_read(args, message):
    done = run_vautoml(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], done.stderr
    assert f"Fix: see 'vautoml {' '.join(a for a in args[:2] if not a.startswith('-'))}" in lines[0]
