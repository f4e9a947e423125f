"""``vautoml export RUN --format docker``: a Docker build context that serves one run, and its Kubernetes manifest.

The context holds everything the image needs, so ``docker build`` reads no
registry of ours and no checkout:

* ``Dockerfile``: a slim Python base of the run's Python minor version, torch
  from PyTorch's CPU index (the PyPI wheel bundles gigabytes of CUDA a CPU
  server never loads), the other libraries pinned in ``requirements.txt``,
  vautoml (and, for a plugin's input kind, the plugin) from wheels in
  ``wheels/``, the bundle under ``/srv/model/<run-id>`` owned by root so the
  non-root server cannot change it, a ``HEALTHCHECK`` on the live endpoint
  written in Python (slim images have no curl), and an exec-form ``CMD``
  running ``vautoml serve`` (signals reach it directly, no shell between);
* ``requirements.txt``: each library at the version the run's manifest names,
  else the one this export ran with, so the image scores as the run did;
* ``model/<run-id>/``: the files the run's manifest lists (nothing a killed
  export or an editor left beside them);
* ``kubernetes.yaml`` (:mod:`.kubernetes`) and a ``README.md`` with the commands.

The context is written in a hidden folder beside the target and renamed into
place, so a failed export leaves nothing that looks finished.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

from ..bundle.files import MANIFEST_FILE, PREPROCESSING_FILE, REPORT_FILE
from ..data.kinds import CORE_KINDS
from ..errors import UsageError
from ..plugins import ENTRY_POINT_GROUP
from ..registry.runs import Run, read_bundle_json
from .context_files import DOCKERIGNORE, MODELS, WHEELS, ContextPlan, dockerfile, readme, requirements_text
from .kubernetes import Resources, manifests, object_name, to_yaml
from .runtime import RuntimeKind
from .wheels import Wheel, normalized, wheel_for

DISTRIBUTION, PACKAGE = "vertical-automl", "vertical_automl"
NOT_PINNED = {"python", DISTRIBUTION, "torch"}  # the base image, the wheel, and the CPU index's torch


@dataclass(frozen=True)
class DockerContext:
    """A written build context: where, the image it builds, and the manifest's files that were not there to copy."""

    path: Path
    image: str
    wheels: tuple[str, ...]
    missing: tuple[str, ...]


def export_docker(
    run: Run, output: Path | None = None, runtime: RuntimeKind = RuntimeKind.KERAS, wheels: Sequence[Path] = ()
) -> DockerContext:
    """Write the build context serving ``run`` in ``output`` (default ``./<run-id>-docker``); see the module docstring.

    ``wheels`` are ``--wheel`` files used instead of building vautoml's or the
    plugin's wheel from source.  An existing non-empty ``output`` is refused.
    """
    target = (output if output is not None else Path(f"{run.run_id}-docker")).absolute()
    _check_target(target)
    files, missing = _bundle_files(run, runtime)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        (scratch / WHEELS).mkdir()
        built = tuple(wheel_for(name, module, scratch / WHEELS, wheels) for name, module in _distributions(run))
        plan = ContextPlan(
            run=run,
            runtime=runtime,
            image=f"{object_name(run.run_id)}:{built[0].version}",
            python=_python(run),
            torch=_public(run.manifest.libraries.get("torch")) or importlib.metadata.version("torch").split("+")[0],
            requirements=_requirements(run, runtime, built),
            wheels=built,
            resources=Resources.for_model((run.path / runtime.model_file).stat().st_size),
        )
        _copy_bundle(run, files, scratch / MODELS / run.run_id)
        texts = {
            "Dockerfile": dockerfile(plan),
            ".dockerignore": DOCKERIGNORE,
            "requirements.txt": requirements_text(plan),
            "kubernetes.yaml": to_yaml(manifests(run.run_id, plan.image, plan.resources)),
            "README.md": readme(plan),
        }
        for name, text in texts.items():
            (scratch / name).write_text(text, encoding="utf-8")
        _readable(scratch)
        try:
            os.rename(scratch, target)  # replaces an empty folder; refuses one that filled up meanwhile
        except OSError as error:
            raise UsageError(f"--output '{target}' was created or filled while exporting", _TARGET_FIX) from error
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return DockerContext(target, plan.image, tuple(w.path.name for w in built), missing)


_TARGET_FIX = "give a new or empty folder with --output, or remove that one first"


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"--output '{target}' already exists and is not an empty folder", _TARGET_FIX)
    if not target.parent.is_dir():
        raise UsageError(f"the folder holding --output '{target}' does not exist", "create it first")


def _bundle_files(run: Run, runtime: RuntimeKind) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The manifest's files that are in the run folder, and those it lists that are not (left out).

    The files a server reads must be there; a listed name that leaves the run
    folder (``../x``, an absolute path, a link out) is refused, never copied.
    """
    present, missing = [], []
    root = run.path.resolve()
    for name in dict.fromkeys((*run.manifest.files, MANIFEST_FILE)):
        path = (run.path / name).resolve()
        if not path.is_relative_to(root) or path == root:
            raise UsageError(
                f"the run '{run.path}' lists '{name}' among its files, which is outside the run folder",
                "remove that name from its manifest.json, or search again",
            )
        (present if path.is_file() else missing).append(name)
    model = runtime.model_file
    for needed in (MANIFEST_FILE, REPORT_FILE, PREPROCESSING_FILE, model):
        if needed not in present:
            fix = (
                f"write it first with 'vautoml export {run.run_id} {runtime.export_command}'"
                if needed == model and runtime.uses_onnx
                else "copy the whole run folder again, or search again"
            )
            raise UsageError(f"the run '{run.path}' has no {needed}, which the server needs", fix)
    return tuple(present), tuple(missing)


def _distributions(run: Run) -> list[tuple[str, str | None]]:
    """vautoml, and the plugin for an input kind that is not the core's: (distribution, top-level module or None)."""
    found: list[tuple[str, str | None]] = [(DISTRIBUTION, PACKAGE)]
    kind = read_bundle_json(run.path, PREPROCESSING_FILE)["input"]["kind"]
    if kind in CORE_KINDS:
        return found  # a core kind predicts with its vertical's plugin uninstalled
    plugin = run.manifest.plugin
    if plugin is None or not plugin.distribution:
        raise UsageError(
            f"the run's input kind '{kind}' comes from a plugin, but its manifest.json names none",
            "search again with the plugin installed",
        )
    return [*found, (plugin.distribution, _plugin_module(plugin.distribution))]


def _plugin_module(distribution: str) -> str | None:
    """The top-level module of an installed plugin's ``vautoml`` entry point (``None``: not installed here)."""
    try:
        points = importlib.metadata.distribution(distribution).entry_points
    except importlib.metadata.PackageNotFoundError:
        return None
    modules = [point.module.split(".")[0] for point in points if point.group == ENTRY_POINT_GROUP]
    return modules[0] if modules else None


def _python(run: Run) -> str:
    """The run's Python minor version (``3.11``), this one's for a manifest without it."""
    found = re.match(r"(\d+)\.(\d+)", run.manifest.libraries.get("python", ""))
    return f"{found[1]}.{found[2]}" if found else f"{sys.version_info.major}.{sys.version_info.minor}"


def _public(version: str | None) -> str | None:
    """A version without its local label (``2.13.0+cpu`` is ``2.13.0``); ``None`` for none or "not installed"."""
    try:
        return Version(version).public if version else None
    except InvalidVersion:
        return None


def _requirements(run: Run, runtime: RuntimeKind, wheels: tuple[Wheel, ...]) -> tuple[str, ...]:
    """``name==version`` for every library the image installs beside the wheels, sorted by name.

    Which: the wheels' own requirements, vautoml's ``serve`` extra, and
    onnxruntime for ``--runtime onnx``.  The version: the run's manifest's
    (for onnxruntime, the one its ONNX export was checked with), else the one
    installed here, which ran the export.  A manifest version the wheel does
    not accept is refused: pip would fail the image build on it.
    """
    ours = {normalized(wheel.name) for wheel in wheels}
    wanted: dict[str, Requirement] = {}
    for wheel in wheels:
        for requirement in _needed(wheel, runtime):
            wanted.setdefault(normalized(requirement.name), requirement)
    recorded = {normalized(name): version for name, version in run.manifest.libraries.items()}
    onnx = run.manifest.exports.get("onnx")
    if runtime.uses_onnx and onnx is not None and "onnxruntime" in onnx.libraries:
        recorded["onnxruntime"] = onnx.libraries["onnxruntime"]
    lines = []
    for name in sorted(set(wanted) - ours - NOT_PINNED):
        requirement = wanted[name]
        pin = _public(recorded.get(name)) or _public(_installed(name))
        if pin is None:
            lines.append(str(requirement))  # installed nowhere here: pip picks within the wheel's range
            continue
        if not requirement.specifier.contains(pin, prereleases=True):
            raise UsageError(
                f"the run was made with {name}=={pin}, which {DISTRIBUTION} {wheels[0].version} does not accept "
                f"({requirement.specifier})",
                f"export with the vertical-automl version named in the run's {MANIFEST_FILE}, or search again",
            )
        lines.append(f"{requirement.name}=={pin}")
    return tuple(lines)


def _needed(wheel: Wheel, runtime: RuntimeKind) -> list[Requirement]:
    """A wheel's requirements without extras; for vautoml's, also the ``serve`` extra and (ONNX) onnxruntime."""
    needed = []
    ours = normalized(wheel.name) == DISTRIBUTION
    for line in wheel.requires:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or marker.evaluate({"extra": ""}):
            needed.append(requirement)
        elif ours and marker.evaluate({"extra": "serve"}):
            needed.append(requirement)
        elif ours and runtime.uses_onnx and normalized(requirement.name) == "onnxruntime":
            needed.append(requirement)  # the onnx extra's onnx and onnxscript only export; serving needs neither
    return needed


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _copy_bundle(run: Run, files: tuple[str, ...], into: Path) -> None:
    for name in files:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run.path / name, into / name)


def _readable(folder: Path) -> None:
    """Folders 0755 and files 0644: the image's root owns the bundle, and the server reads it as another user."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
