"""The wheels a container installs vautoml (and a run's plugin) from, built here from their source trees.

An image must run the code that made and serves the run, which is often a
checkout not published anywhere (an editable install, a plugin in
development), so the build context carries its own wheels instead of naming
versions on an index.  A distribution's source is the checkout holding the
imported package (so a checkout on ``PYTHONPATH`` wins, as it does when this
process runs), else the folder ``direct_url.json`` says it was installed from
(``pip install /path/to/src``).  Only the checkout's top-level files and the
package itself are copied to a scratch folder and built there with ``pip wheel
--no-deps --no-build-isolation``: the checkout is left untouched (no ``build/``
or ``.egg-info`` written into it) and its registry or data never copied.
Something installed from an index has no source here: the user passes a wheel
with ``--wheel``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..errors import UsageError

BUILD_SECONDS = 300  # pip wheel of a pure-Python checkout takes seconds; a hung build must not hang the export
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".*")


@dataclass(frozen=True)
class Wheel:
    """A wheel file and what its metadata says: the distribution, its version and its ``Requires-Dist`` lines."""

    path: Path
    name: str
    version: str
    requires: tuple[str, ...]


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Vautoml_Medical`` is ``vautoml-medical``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_wheel(path: Path) -> Wheel:
    """A wheel's metadata, after checking it is one: a zip whose RECORD hashes match every file it lists.

    A wheel given with ``--wheel`` is checked here so that a truncated or
    wrong file is refused now in one line, not in the middle of a Docker build.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            info = sorted({name.split("/", 1)[0] for name in names if name.split("/", 1)[0].endswith(".dist-info")})
            if len(info) != 1:
                raise UsageError(f"'{path}' is not a wheel (it has {len(info)} .dist-info folders)", _WHEEL_FIX)
            metadata = Parser().parsestr(archive.read(f"{info[0]}/METADATA").decode("utf-8"))
            bad = _record_mismatch(archive, f"{info[0]}/RECORD")
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError) as error:
        raise UsageError(f"'{path}' is not a readable wheel ({type(error).__name__}: {error})", _WHEEL_FIX) from error
    if bad is not None:
        raise UsageError(f"the wheel '{path}' is damaged: {bad} does not match its RECORD hash", _WHEEL_FIX)
    if not metadata.get("Name") or not metadata.get("Version"):
        raise UsageError(f"the wheel '{path}' has no Name or Version in its METADATA", _WHEEL_FIX)
    return Wheel(path, metadata["Name"], metadata["Version"], tuple(metadata.get_all("Requires-Dist") or ()))


_WHEEL_FIX = "give a .whl file built with 'pip wheel --no-deps'"


def _record_mismatch(archive: zipfile.ZipFile, record: str) -> str | None:
    """The first file whose sha256 differs from the RECORD's (or that RECORD names but the zip lacks), else ``None``."""
    for line in archive.read(record).decode("utf-8").splitlines():
        name, digest, _ = line.rsplit(",", 2)
        if not digest:  # RECORD itself, and signatures, carry no hash
            continue
        algorithm, expected = digest.split("=", 1)
        actual = base64.urlsafe_b64encode(hashlib.new(algorithm, archive.read(name)).digest()).rstrip(b"=").decode()
        if actual != expected:
            return name
    return None


def wheel_for(distribution: str, module: str | None, into: Path, given: Sequence[Path] = ()) -> Wheel:
    """A wheel of ``distribution`` in ``into``: one of ``given``, or built here from its source.

    ``module`` is its top-level import (``None``: it is not installed here).

    ``given`` are the ``--wheel`` files; the first whose metadata names
    ``distribution`` is copied, so a user can ship a published build instead
    of the local source.
    """
    for path in given:
        wheel = read_wheel(path)
        if normalized(wheel.name) == normalized(distribution):
            copied = into / path.name
            shutil.copyfile(path, copied)
            return Wheel(copied, wheel.name, wheel.version, wheel.requires)
    source = source_tree(distribution, module) if module is not None else None
    if source is None or module is None:
        raise UsageError(
            f"cannot find the source of {distribution} to build the image's wheel of it "
            "(it is not installed here, or was installed from an index, not from a folder)",
            f"pass a wheel of it with --wheel PATH (e.g. made with 'pip wheel --no-deps {distribution}')",
        )
    return _build(distribution, module, source, into)


def source_tree(distribution: str, module: str) -> Path | None:
    """The folder whose ``pyproject.toml`` builds ``distribution``: the imported module's checkout, else its install's.

    ``None`` when there is none here (installed from an index, or a source moved away).
    """
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.origin is not None:
        for folder in Path(spec.origin).resolve().parents:
            if _builds(folder, distribution):
                return folder
    try:
        direct = importlib.metadata.distribution(distribution).read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return None
    if not direct:
        return None
    url = json.loads(direct)
    if "dir_info" not in url or not url.get("url", "").startswith("file:"):
        return None
    folder = Path(unquote(urlparse(url["url"]).path))
    return folder if _builds(folder, distribution) else None


def _builds(folder: Path, distribution: str) -> bool:
    """Whether ``folder/pyproject.toml`` declares the project ``distribution``."""
    try:
        project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return normalized(str(project.get("name", ""))) == normalized(distribution)


def _build(distribution: str, module: str, source: Path, into: Path) -> Wheel:
    """``pip wheel`` of a copy of the checkout's top-level files and of the package, into ``into``."""
    spec = importlib.util.find_spec(module)
    origin = Path(spec.origin).resolve() if spec is not None and spec.origin is not None else None
    package = origin.parent if origin is not None and origin.name == "__init__.py" else origin
    if package is None or not package.is_relative_to(source):
        raise UsageError(
            f"the package {module} of {distribution} is not inside its source folder '{source}'",
            "pass a wheel of it with --wheel PATH",
        )
    with tempfile.TemporaryDirectory(prefix="vautoml-wheel-") as scratch:
        copy = Path(scratch) / "source"
        copy.mkdir()
        for path in source.iterdir():
            if path.is_file() and not path.name.startswith("."):
                shutil.copy2(path, copy / path.name)
        inside = package.relative_to(source)
        if package.is_dir():
            shutil.copytree(package, copy / inside, ignore=IGNORED)
        else:
            (copy / inside).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(package, copy / inside)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
        try:
            done = subprocess.run(
                [*command, "--wheel-dir", str(Path(scratch) / "wheels"), str(copy)],
                capture_output=True,
                text=True,
                timeout=BUILD_SECONDS,
                env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},  # the check would reach for the network
            )
        except subprocess.TimeoutExpired as error:
            raise UsageError(
                f"building the wheel of {distribution} from '{source}' took over {BUILD_SECONDS} s",
                "pass a wheel of it with --wheel PATH",
            ) from error
        built = sorted((Path(scratch) / "wheels").glob("*.whl"))
        if done.returncode != 0 or len(built) != 1:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise UsageError(
                f"building the wheel of {distribution} from '{source}' failed ({last})",
                "install setuptools (the build backend) here, or pass a wheel of it with --wheel PATH",
            )
        return read_wheel(Path(shutil.move(built[0], into / built[0].name)))
