"""``vautoml plugin new NAME``: a new vertical plugin package, ready to install, search and test.

The package is written from the files in ``template/`` (package data, so an
installed vautoml has them): ``*.tmpl`` files with ``${name}``,
``${package}`` and ``${distribution}`` filled in, the rest (the sample data)
copied as they are, and ``package/`` renamed to the plugin's module.  What it
writes passes vautoml's conformance suite out of the box, which the core's
tests check by installing it and running its tests.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from ..errors import UsageError

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")  # what a vertical's name may be (vertical.NAME_PATTERN)
TEMPLATE_SUFFIX = ".tmpl"
PACKAGE_FOLDER = "package"


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin goes by: vertical and entry point, Python package, distribution."""

    name: str

    @property
    def package(self) -> str:
        return "vautoml_" + self.name.replace("-", "_")

    @property
    def distribution(self) -> str:
        return "vautoml-" + self.name.replace("_", "-")

    def values(self) -> dict[str, str]:
        return {"name": self.name, "package": self.package, "distribution": self.distribution}


def plugin_names(name: str) -> PluginNames:
    """The plugin's names, or a one-line error saying what a name may be."""
    if not NAME.match(name) or name.endswith(("-", "_")):
        raise UsageError(
            f"'{name}' is not a plugin name: use lowercase letters, digits, '-' and '_', starting with a letter "
            "and ending with a letter or digit (at most 40)",
            "pass e.g. 'vautoml plugin new sensors'",
        )
    return PluginNames(name)


def new_plugin(name: str, directory: str | Path = ".") -> Path:
    """Write the package ``vautoml-NAME/`` into ``directory`` and return its path; an existing one is refused."""
    names = plugin_names(name)
    parent = Path(directory)
    if not parent.is_dir():
        raise UsageError(f"--directory '{parent}' is not a folder", "create it first, or give an existing folder")
    target = parent / names.distribution
    if target.exists():
        raise UsageError(f"'{target}' already exists", "choose another name or --directory, or remove it first")
    staging = parent / f".{names.distribution}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write(resources.files(__package__) / "template", staging, names)
        staging.rename(target)  # whole or not at all: a failed write leaves no half-made package behind
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _write(source: Traversable, target: Path, names: PluginNames) -> None:
    target.mkdir(parents=True)
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        name = names.package if entry.name == PACKAGE_FOLDER and entry.is_dir() else entry.name
        if entry.is_dir():
            _write(entry, target / name, names)
        elif name.endswith(TEMPLATE_SUFFIX):
            text = Template(entry.read_text(encoding="utf-8")).substitute(names.values())
            (target / name.removesuffix(TEMPLATE_SUFFIX)).write_text(text, encoding="utf-8")
        else:
            (target / name).write_bytes(entry.read_bytes())
