"""``vautoml export --format docker``: the build context's files, read as Docker and Kubernetes would, and run.

There is no Docker daemon on this machine, so no image is built.  Instead
the Dockerfile and ``kubernetes.yaml`` are parsed and checked against the
run's manifest, the wheel is checked and installed into a folder, and the
Dockerfile's own ``CMD`` and ``HEALTHCHECK`` are run here against the
context's copy of the bundle (``/srv/model`` read as the context's
``model/``, a free port for 8080, loopback for every interface), with the
image's ``ENV``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from email.parser import Parser
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner
from helpers import REPO, run_vautoml

from vertical_automl.cli import main
from vertical_automl.errors import UsageError
from vertical_automl.registry.runs import read_run
from vertical_automl.serving.container import export_docker
from vertical_automl.serving.kubernetes import Resources
from vertical_automl.serving.runtime import RuntimeKind
from vertical_automl.serving.wheels import wheel_for

GOLDEN = REPO / "tests" / "golden" / "registry" / "medical" / "golden-table-binary"
RUN_ID = GOLDEN.name
SERVE_EXTRA = ("fastapi", "uvicorn", "prometheus-client", "python-multipart")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the golden run with a stray file beside its listed ones, which the context must leave out."""
    copy = tmp_path_factory.mktemp("registry") / RUN_ID
    shutil.copytree(GOLDEN, copy)
    (copy / ".vautoml-export-1-abc-model.onnx").write_bytes(b"half-written")
    return copy


@pytest.fixture(scope="module")
def context(bundle: Path) -> Path:
    target = bundle.parent.parent / "context"
    done = run_vautoml("export", str(bundle), "--format", "docker", "--output", str(target))
    assert done.returncode == 0, done.stderr
    assert "docker build -t vautoml-golden-table-binary:0.1.0" in done.stdout
    return target


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped, as Docker reads them."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    found = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, arguments = line.strip().partition(" ")
            found.append((keyword.upper(), arguments.strip()))
    return found


def one(parsed: list[tuple[str, str]], keyword: str) -> str:
    matches = [arguments for name, arguments in parsed if name == keyword]
    assert len(matches) == 1, f"{keyword}: {matches}"
    return matches[0]


def environment(parsed: list[tuple[str, str]]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in one(parsed, "ENV").split())


def requirements(context: Path) -> dict[str, str]:
    lines = [line for line in (context / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    return dict(line.split("==") for line in lines)


def test_dockerfile_serves_the_run_as_a_non_root_user_on_cpu_wheels(context: Path) -> None:
    text = (context / "Dockerfile").read_text()
    parsed = instructions(text)
    assert parsed[0] == ("FROM", "python:3.11-slim")  # the manifest's Python 3.11.7
    assert not re.search("cuda|nvidia", text + (context / "requirements.txt").read_text(), re.IGNORECASE)
    torch_install = [arguments for name, arguments in parsed if name == "RUN" and '"torch==' in arguments]
    assert torch_install == [
        "pip install --no-cache-dir --disable-pip-version-check --index-url https://download.pytorch.org/whl/cpu "
        '"torch==2.13.0"'
    ]
    user = one(parsed, "USER")
    uid, gid = (int(part) for part in user.split(":"))
    assert uid > 0 and gid > 0
    names = [name for name, _ in parsed]
    assert names.index("USER") > max(i for i, name in enumerate(names) if name in ("RUN", "COPY"))
    assert one(parsed, "EXPOSE") == "8080"
    health = one(parsed, "HEALTHCHECK")
    options, _, command = health.partition(" CMD ")
    assert "--start-period=" in options
    assert json.loads(command)[:2] == ["python", "-c"] and "/v2/health/live" in json.loads(command)[2]
    assert json.loads(one(parsed, "CMD")) == [
        "vautoml",
        *("serve", f"/srv/model/{RUN_ID}", "--host", "0.0.0.0", "--port", "8080"),
    ]
    assert environment(parsed)["PYTHONDONTWRITEBYTECODE"] == "1"
    copies = [arguments.split() for name, arguments in parsed if name == "COPY"]
    assert [f"model/{RUN_ID}/", f"/srv/model/{RUN_ID}/"] in copies
    installed = [arguments for name, arguments in parsed if name == "RUN" and "requirements.txt" in arguments]
    wheels = re.findall(r"/tmp/install/(\S+\.whl)", installed[0])
    assert wheels == [path.name for path in (context / "wheels").iterdir()]
    ignored = (context / ".dockerignore").read_text().splitlines()
    assert "*" in ignored and {"!requirements.txt", "!wheels", "!model"} <= set(ignored)


def test_requirements_pin_the_manifests_versions_and_the_serve_extra(context: Path) -> None:
    pins = requirements(context)
    manifest = json.loads((GOLDEN / "manifest.json").read_text())
    for name, version in manifest["libraries"].items():
        if name not in ("python", "vertical-automl", "torch"):
            assert pins[name] == version, name
    from importlib.metadata import version

    for name in SERVE_EXTRA:
        assert pins[name] == version(name)
    assert "torch" not in pins and "vertical-automl" not in pins and "onnxruntime" not in pins


def test_the_bundle_copy_is_the_manifests_files(context: Path, bundle: Path) -> None:
    copied = context / "model" / RUN_ID
    listed = json.loads((bundle / "manifest.json").read_text())["files"]
    present = sorted(name for name in listed if (bundle / name).is_file())
    assert sorted(str(path.relative_to(copied)) for path in copied.rglob("*") if path.is_file()) == present
    for name in present:
        assert (copied / name).read_bytes() == (bundle / name).read_bytes()
        assert (copied / name).stat().st_mode & 0o777 == 0o644
    assert read_run(copied).run_id == RUN_ID


def test_kubernetes_manifest_wires_probes_ports_and_resources(context: Path) -> None:
    deployment, service = yaml.safe_load_all((context / "kubernetes.yaml").read_text())
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    assert (service["apiVersion"], service["kind"]) == ("v1", "Service")
    template = deployment["spec"]["template"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["selector"]["matchLabels"] == template["metadata"]["labels"]
    assert service["spec"]["selector"] == template["metadata"]["labels"]
    (container,) = template["spec"]["containers"]
    (port,) = container["ports"]
    assert port["containerPort"] == 8080
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": port["name"], "protocol": "TCP"}]
    probes = {name: container[name]["httpGet"] for name in ("readinessProbe", "livenessProbe", "startupProbe")}
    assert {name: probe["path"] for name, probe in probes.items()} == {
        "readinessProbe": "/v2/health/ready",
        "livenessProbe": "/v2/health/live",
        "startupProbe": "/v2/health/ready",
    }
    assert all(probe["port"] == port["name"] for probe in probes.values())
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
    pod = template["spec"]["securityContext"]
    uid = int(one(instructions((context / "Dockerfile").read_text()), "USER").split(":")[0])
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == uid
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {volume["name"]: volume for volume in template["spec"]["volumes"]}
    assert [mount["mountPath"] for mount in container["volumeMounts"]] == ["/tmp"]
    assert "emptyDir" in volumes[container["volumeMounts"][0]["name"]]
    resources = container["resources"]
    size_mib = (GOLDEN / "model.keras").stat().st_size / 2**20
    request = int(resources["requests"]["memory"].removesuffix("Mi"))
    assert request >= 640 + 3 * size_mib and int(resources["limits"]["memory"].removesuffix("Mi")) == 2 * request
    env = {item["name"]: item for item in container["env"]}
    assert env["OMP_NUM_THREADS"]["value"] == resources["limits"]["cpu"]
    secret = env["VAUTOML_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert secret["optional"] is True and secret["key"] == "api-key"
    readme = (context / "README.md").read_text()
    assert (
        "docker build -t vautoml-golden-table-binary:0.1.0 ." in readme and "kubectl apply -f kubernetes.yaml" in readme
    )
    assert f"kubectl create secret generic {secret['name']} --from-literal=api-key=" in readme


def test_resources_grow_with_the_model_file() -> None:
    small, large = Resources.for_model(150_000), Resources.for_model(200 * 2**20)
    assert small.memory_request_mib == 704 and large.memory_request_mib == 1280
    assert large.memory_limit_mib == 2560


def test_the_wheel_is_a_complete_wheel_of_vertical_automl(context: Path, tmp_path: Path) -> None:
    (wheel,) = (context / "wheels").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = Parser().parsestr(archive.read("vertical_automl-0.1.0.dist-info/METADATA").decode())
        assert (metadata["Name"], metadata["Version"]) == ("vertical-automl", "0.1.0")
        record = archive.read("vertical_automl-0.1.0.dist-info/RECORD").decode().splitlines()
        for name, digest, _ in (line.rsplit(",", 2) for line in record):
            if digest:
                actual = base64.urlsafe_b64encode(hashlib.sha256(archive.read(name)).digest()).rstrip(b"=").decode()
                assert digest == f"sha256={actual}", name
        names = set(archive.namelist())
    assert {"vertical_automl/serving/container.py", "vertical_automl/cli/serve_command.py"} <= names
    assert not any("__pycache__" in name for name in names)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(tmp_path), wheel],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    entry_points = (tmp_path / "vertical_automl-0.1.0.dist-info" / "entry_points.txt").read_text()
    assert "vautoml = vertical_automl.cli:main" in entry_points


def test_a_plugin_input_kind_ships_the_plugins_wheel_too(context: Path, bundle: Path, tmp_path: Path) -> None:
    """A kind only a plugin reads needs the plugin in the image: built from its source, beside a given vautoml wheel."""
    run = tmp_path / RUN_ID
    shutil.copytree(bundle, run)
    preprocessing = json.loads((run / "preprocessing.json").read_text())
    preprocessing["input"]["kind"] = "clinical-table"
    (run / "preprocessing.json").write_text(json.dumps(preprocessing))
    (given,) = (context / "wheels").glob("*.whl")
    result = export_docker(read_run(run), tmp_path / "plugin-context", wheels=[given])
    assert result.wheels == (given.name, "vautoml_medical-0.1.0-py3-none-any.whl")
    parsed = instructions((result.path / "Dockerfile").read_text())
    (install,) = [arguments for name, arguments in parsed if name == "RUN" and "requirements.txt" in arguments]
    assert re.findall(r"/tmp/install/(\S+\.whl)", install) == [given.name, "vautoml_medical-0.1.0-py3-none-any.whl"]
    assert "vertical-automl" not in requirements(result.path) and "vautoml-medical" not in requirements(result.path)

    manifest = json.loads((run / "manifest.json").read_text())
    manifest["plugin"]["distribution"] = "vautoml-not-installed"
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match="source of vautoml-not-installed.*Fix: pass a wheel of it with --wheel"):
        export_docker(read_run(run), tmp_path / "refused", wheels=[given])
    assert sorted(path.name for path in tmp_path.iterdir()) == [RUN_ID, "plugin-context"]  # no half-written context


def test_refusals_are_one_line(context: Path, bundle: Path, tmp_path: Path) -> None:
    def refused(*args: str) -> str:
        result = CliRunner().invoke(main, ["export", str(bundle), "--format", "docker", *args])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("Error: ") and "Fix: " in result.output
        assert len(result.output.strip().splitlines()) == 1
        return result.output

    assert "already exists and is not an empty folder" in refused("--output", str(context))
    assert "unknown --runtime 'tensorflow'" in refused("--runtime", "tensorflow", "--output", str(tmp_path / "a"))
    # The golden run lists model.onnx, but its file was removed.
    assert "no model.onnx" in refused("--runtime", "onnx", "--output", str(tmp_path / "b"))
    assert "--format onnx" in refused("--runtime", "onnx", "--output", str(tmp_path / "b"))
    (tmp_path / "fake.whl").write_bytes(b"not a zip")
    assert "not a readable wheel" in refused("--wheel", str(tmp_path / "fake.whl"), "--output", str(tmp_path / "c"))
    result = CliRunner().invoke(main, ["export", str(bundle), "--format", "onnx", "--runtime", "onnx"])
    assert result.exit_code == 2 and "apply to --format docker only" in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fake.whl"]

    with pytest.raises(UsageError, match="cannot find the source of pluggy.*--wheel PATH"):
        wheel_for("pluggy", "pluggy", tmp_path)  # installed from an index: no source here
    hostile = tmp_path / "hostile"
    shutil.copytree(bundle, hostile)
    manifest = json.loads((hostile / "manifest.json").read_text())
    (hostile / "manifest.json").write_text(json.dumps({**manifest, "files": [*manifest["files"], "../secret"]}))
    with pytest.raises(UsageError, match="'../secret' among its files, which is outside the run folder"):
        export_docker(read_run(hostile), tmp_path / "d", RuntimeKind.KERAS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_dockerfiles_command_serves_the_bundle_copy_and_passes_its_healthcheck(
    context: Path, tmp_path: Path
) -> None:
    """The image's CMD and HEALTHCHECK, run here: the context's bundle served, live and ready, the check exit 0."""
    parsed = instructions((context / "Dockerfile").read_text())
    port = str(free_port())
    command = json.loads(one(parsed, "CMD"))
    assert command[0] == "vautoml"
    swap = {"0.0.0.0": "127.0.0.1", "8080": port}
    args = [swap.get(arg, arg.replace("/srv/model", str(context / "model"))) for arg in command[1:]]
    # The image's environment, its /tmp being a folder of this test's.
    env = {**os.environ, **{k: v.replace("/tmp", str(tmp_path)) for k, v in environment(parsed).items()}}
    health = json.loads(one(parsed, "HEALTHCHECK").partition(" CMD ")[2])
    assert health[0] == "python"
    check = [sys.executable, *(part.replace(":8080/", f":{port}/") for part in health[1:])]
    bundle = {path: path.read_bytes() for path in (context / "model").rglob("*") if path.is_file()}
    server = subprocess.Popen(
        [sys.executable, "-m", "vertical_automl.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                if httpx.get(f"{base}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready in 120 s"
            time.sleep(0.3)
        assert httpx.get(f"{base}/v2/health/live", timeout=5).status_code == 200
        assert httpx.get(f"{base}/v2/models/{RUN_ID}", timeout=5).json()["name"] == RUN_ID
        assert subprocess.run(check, capture_output=True, timeout=30).returncode == 0
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert (
        subprocess.run(check, capture_output=True, timeout=30).returncode == 1
    )  # and it fails once the server is gone
    # The image's bundle is read-only to the server: serving wrote nothing into it.
    assert {path: path.read_bytes() for path in (context / "model").rglob("*") if path.is_file()} == bundle


def test_onnx_runtime_serves_model_onnx_with_the_onnxruntime_it_was_checked_with(
    context: Path, bundle: Path, tmp_path: Path
) -> None:
    """``--runtime onnx``: the CMD says so, and onnxruntime is pinned to the manifest's export record."""
    run = tmp_path / RUN_ID
    shutil.copytree(bundle, run)
    (run / "model.onnx").write_bytes(b"stands in for the export: the context copies it, only the server reads it")
    (given,) = (context / "wheels").glob("*.whl")
    (tmp_path / "onnx-context").mkdir()  # an empty folder is taken, replaced in one rename
    result = export_docker(read_run(run), tmp_path / "onnx-context", RuntimeKind.ONNX, wheels=[given])
    parsed = instructions((result.path / "Dockerfile").read_text())
    assert json.loads(one(parsed, "CMD"))[-2:] == ["--runtime", "onnx"]
    manifest = json.loads((GOLDEN / "manifest.json").read_text())
    assert requirements(result.path)["onnxruntime"] == manifest["exports"]["onnx"]["libraries"]["onnxruntime"]
    assert (result.path / "model" / RUN_ID / "model.onnx").read_bytes() == (run / "model.onnx").read_bytes()
    assert "onnx" not in requirements(result.path) and "onnxscript" not in requirements(result.path)
