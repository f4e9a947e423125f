"""Start-up stays light and the backend is pinned to torch."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest

from vertical_automl import BackendError
from vertical_automl._backend import ensure_torch_backend


def python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=120
    )


def test_help_and_plugins_list_import_neither_torch_nor_keras():
    done = python(
        "import sys\n"
        "from vertical_automl.cli import main\n"
        "for args in (['--help'], ['plugins', 'list'], ['plugins', 'list', '--json'], ['search', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0, (args, exit.code)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'keras', 'keras_tuner', 'tensorflow'))\n"
        "print('HEAVY', heavy)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout


def test_import_sets_the_torch_backend_even_if_another_was_asked_for():
    done = python(
        "import os, vertical_automl, keras; print(os.environ['KERAS_BACKEND'], keras.config.backend())",
        KERAS_BACKEND="jax",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["torch", "torch"]


def test_keras_already_running_another_backend_is_a_clear_error(monkeypatch):
    # Only torch is installed here (Keras's other backends need TensorFlow or JAX),
    # so stand in a Keras module that reports another backend.
    fake_keras = types.SimpleNamespace(config=types.SimpleNamespace(backend=lambda: "jax"))
    monkeypatch.setitem(sys.modules, "keras", fake_keras)
    with pytest.raises(BackendError) as raised:
        ensure_torch_backend()
    assert "Keras was already imported with the 'jax' backend, but vautoml runs on 'torch'" in str(raised.value)
    assert "import vertical_automl before keras" in str(raised.value)
    assert isinstance(raised.value, ImportError)


def test_the_search_function_survives_a_search(tmp_path):
    """Importing the KerasTuner glue must not replace ``vertical_automl.search`` (a module named search once did)."""
    import vertical_automl
    from vertical_automl import pipeline  # noqa: F401  (what a search imports)
    from vertical_automl.search_engine import loop, refit  # noqa: F401

    assert callable(vertical_automl.search) and vertical_automl.search.__module__ == "vertical_automl"
