"""The shape of the core: no import cycles, small modules, prediction without training code.

Imports are read from the source (every ``import``, at module level, inside
functions and under ``TYPE_CHECKING``), so a cycle hidden in a lazy import
counts too.  Two levels are checked: modules, and the core's parts (each
top-level module and each subpackage), so that for example ``data/`` may not
import a module that imports ``data/``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest
from helpers import run_vautoml

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "vertical_automl"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(CORE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The core module ``name`` refers to: itself, or the package holding it (``from .x import Name``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(module: str) -> set[str]:
    """The core modules ``module`` imports, anywhere in its source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            stem = ".".join(part for part in (base, node.module or "") if part)
            targets = [f"{stem}.{alias.name}" for alias in node.names]  # a submodule, or a name in ``stem``
        else:
            continue
        found |= {resolved for target in targets if (resolved := _resolve(target)) and resolved != module}
    return found


def part(module: str) -> str:
    """``vertical_automl.search.loop`` -> ``vertical_automl.search``; top-level modules are their own part."""
    return ".".join(module.split(".")[:2])


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        return error.args[1]
    return None


def test_no_import_cycle_between_modules():
    graph = {module: imports(module) for module in MODULES}
    assert cycle(graph) is None, " -> ".join(cycle(graph) or [])


def test_no_import_cycle_between_the_cores_parts():
    """Each subpackage and top-level module; the package's own ``__init__`` (the public API) may import any."""
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        if module == "vertical_automl":
            continue
        graph.setdefault(part(module), set()).update(
            part(target) for target in imports(module) if target != "vertical_automl" and part(target) != part(module)
        )
    assert cycle(graph) is None, " -> ".join(cycle(graph) or [])


def test_the_cycle_check_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
    assert cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    "path",
    [*sorted(CORE.rglob("*.py")), *sorted(REPO.glob("plugins/*/vautoml_*/*.py"))],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_no_module_over_400_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(REPO)} has {lines} lines; split it by what its parts do"


def test_prediction_imports_no_training_code():
    """``vautoml predict`` loads Keras and the model, never KerasTuner or the search."""
    bundle = REPO / "tests" / "golden" / "registry" / "finance" / "golden-table-regression"
    script = (
        "import sys, vertical_automl.predictor as p\n"
        f"run = p.load({str(bundle)!r})\n"
        f"print(run.predict({str(REPO / 'tests' / 'golden' / 'inputs' / 'prices.csv')!r})[:1])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('keras_tuner', 'vertical_automl.search', "
        "'vertical_automl.pipeline'))))\n"
    )
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    assert "keras_tuner" not in done.stderr  # -X importtime lists every module imported
    assert "keras" in done.stderr  # the check can see imports at all


def test_a_one_process_search_loads_no_parallel_engine(tmp_path):
    """Optuna and SQLAlchemy load for ``--workers``/``--storage`` only: a machine without them (the GPU check's)
    still searches in one process, and a one-process search pays nothing for them."""
    done = run_vautoml(
        *("search", "--plugin", "tiny-table", "--max-trials", "1", "--epochs", "1", "--quiet"),
        *("--registry", str(tmp_path / "registry")),
        env={"PYTHONPROFILEIMPORTTIME": "1"},  # stderr lists every module imported
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "keras_tuner" in imported  # the check can see the search's imports at all
    assert not {m for m in imported if m.split(".")[0] in ("optuna", "sqlalchemy", "alembic")}


PUBLIC_FOR_PLUGINS = {"vertical_automl.plugin_api", "vertical_automl.testing"}
PLUGIN_SOURCES = sorted([*REPO.glob("plugins/*/vautoml_*/**/*.py"), *REPO.glob("examples/*/vautoml_*/**/*.py")])


def _vautoml_imports(path: Path) -> set[str]:
    """Every ``vertical_automl`` module a file imports, lazy ones included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "vertical_automl"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("vertical_automl"):
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_use_the_public_plugin_api_only(path):
    """The built-in and example plugins are shaped like third-party ones: they import what the guide documents."""
    private = _vautoml_imports(path) - PUBLIC_FOR_PLUGINS
    assert not private, f"{path.relative_to(REPO)} imports {sorted(private)}; import from vertical_automl.plugin_api"
