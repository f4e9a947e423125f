"""The text files of a docker export's build context: the Dockerfile, requirements.txt, .dockerignore, README.md.

They are written from a :class:`ContextPlan` that :mod:`.container` makes
from the run; why each line of the Dockerfile is there is said beside it, in
the file itself, for whoever reads the context.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..registry.runs import Run
from .kubernetes import BASE_MIB, CPU_LIMIT, LIVE, MODEL_FACTOR, PORT, UID, Resources, object_name
from .runtime import RuntimeKind
from .wheels import Wheel

TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
SERVED = "/srv/model"  # the bundle's folder in the image: SERVED/<run-id>
MODELS = "model"  # ... and in the context
WHEELS = "wheels"
INSTALL = "/tmp/install"  # where the image build unpacks requirements.txt and the wheels, then removes them
DOCKERIGNORE = f"# Only what the Dockerfile copies is sent to the daemon.\n*\n!requirements.txt\n!{WHEELS}\n!{MODELS}\n"
# The image's environment; the Deployment sets OMP_NUM_THREADS too, beside the CPU limit it matches.
ENVIRONMENT = {
    "PYTHONDONTWRITEBYTECODE": "1",  # the root file system is read-only in the pod
    "PYTHONUNBUFFERED": "1",  # log lines reach `docker logs` as they are written
    "KERAS_BACKEND": "torch",
    "OMP_NUM_THREADS": str(CPU_LIMIT),  # torch sizes its pool to the host's cores otherwise
    "MKL_NUM_THREADS": str(CPU_LIMIT),
    "HOME": "/tmp",  # writable in the pod (an emptyDir) and in the image
    "KERAS_HOME": "/tmp/.keras",  # Keras writes keras.json there on import
    "MPLCONFIGDIR": "/tmp/matplotlib",
}


@dataclass(frozen=True)
class ContextPlan:
    """What the files of a context are written from."""

    run: Run
    runtime: RuntimeKind
    image: str
    python: str
    torch: str
    requirements: tuple[str, ...]
    wheels: tuple[Wheel, ...]
    resources: Resources


def serve_command(run_id: str, runtime: RuntimeKind) -> list[str]:
    """The image's ``CMD``: the run served on every interface of the container, on :data:`PORT`."""
    command = ["vautoml", "serve", f"{SERVED}/{run_id}", "--host", "0.0.0.0", "--port", str(PORT)]
    return [*command, "--runtime", runtime.value] if runtime.uses_onnx else command


def healthcheck_command() -> list[str]:
    """Python's urllib, since slim images have no curl: any failure or non-2xx answer raises, and exits 1."""
    code = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}{LIVE}', timeout=4)"
    return ["python", "-c", code]


def dockerfile(plan: ContextPlan) -> str:
    run_id = plan.run.run_id
    environment = " \\\n    ".join(f"{key}={value}" for key, value in ENVIRONMENT.items())
    wheels = " ".join(f"{INSTALL}/{wheel.path.name}" for wheel in plan.wheels)
    return f"""\
# Serves run {run_id} ({plan.run.manifest.vertical}) with `vautoml serve` on port {PORT}: the Open Inference
# Protocol (V2), /v2/models/{run_id}/predict and /metrics.  Written by `vautoml export --format docker`.
#   docker build -t {plan.image} .
FROM python:{plan.python}-slim

ENV {environment}

# CPU-only torch from PyTorch's own index: the PyPI wheel pulls gigabytes of GPU libraries a CPU server never loads.
RUN pip install --no-cache-dir --disable-pip-version-check --index-url {TORCH_INDEX} "torch=={plan.torch}"

# Every other library pinned (requirements.txt), then vautoml's wheel built for this image.
COPY requirements.txt {WHEELS}/ {INSTALL}/
RUN pip install --no-cache-dir --disable-pip-version-check -r {INSTALL}/requirements.txt {wheels} \\
    && rm -rf {INSTALL}

RUN groupadd --system --gid {UID} vautoml \\
    && useradd --system --uid {UID} --gid {UID} --home-dir /tmp --no-create-home --shell /usr/sbin/nologin vautoml

# Owned by root: the server reads the bundle and cannot change it.
COPY {MODELS}/{run_id}/ {SERVED}/{run_id}/

USER {UID}:{UID}
EXPOSE {PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \\
    CMD {json.dumps(healthcheck_command())}
CMD {json.dumps(serve_command(run_id, plan.runtime))}
"""


def requirements_text(plan: ContextPlan) -> str:
    header = (
        f"# The libraries of run {plan.run.run_id}'s image: at the versions its manifest.json names, else those\n"
        f"# `vautoml export --format docker` ran with.  torch=={plan.torch} comes from {TORCH_INDEX}\n"
        "# (see the Dockerfile), and vautoml from wheels/.\n"
    )
    return header + "".join(f"{line}\n" for line in plan.requirements)


def readme(plan: ContextPlan) -> str:
    run_id, image, name, size = plan.run.run_id, plan.image, object_name(plan.run.run_id), plan.resources
    runtime = (
        f" with onnxruntime (`--runtime {plan.runtime.value}`)" if plan.runtime.uses_onnx else " with Keras on torch"
    )
    return f"""\
# Run {run_id}, served

This folder is a Docker build context written by `vautoml export {run_id} --format docker`.  The image
serves the run{runtime} on port {PORT}, as a user without root, CPU only: the Open Inference
Protocol (V2) at `/v2/models/{run_id}/infer`, raw inputs at `/v2/models/{run_id}/predict`,
health at `{LIVE}` and `/v2/health/ready`, and Prometheus metrics at `/metrics`.

## Docker

    docker build -t {image} .
    docker run --rm -p {PORT}:{PORT} {image}
    curl http://127.0.0.1:{PORT}/v2/health/ready
    curl http://127.0.0.1:{PORT}/v2/models/{run_id}
    curl -H 'Content-Type: application/json' -d '{{"inputs": ...}}' http://127.0.0.1:{PORT}/v2/models/{run_id}/predict

`inputs` are what `vautoml predict` reads, as JSON: records (`{{"column": value}}`) for a table, strings
for text, base64 strings (or a multipart upload) for images, nested lists for arrays.

Bearer tokens: `docker run -e VAUTOML_API_KEY=... ...` requires `Authorization: Bearer ...` on every
route but the two health ones (`/metrics` too: give the scraper the token).  The `HEALTHCHECK` asks
`{LIVE}` with Python's urllib (the slim base image has no curl); `docker ps` shows the result.

## Kubernetes

Push the image where the cluster pulls from (or `kind load docker-image {image}`), set that
name as the Deployment's `image` in `kubernetes.yaml` if it differs, then:

    kubectl create secret generic {name}-api-key --from-literal=api-key=...   # optional: require a token
    kubectl apply -f kubernetes.yaml
    kubectl port-forward service/{name} {PORT}:80

The Deployment runs one replica with a read-only root file system (`/tmp` is an `emptyDir`), a
startup probe that allows five minutes for loading and the warm-up request, then readiness
(`/v2/health/ready`) and liveness (`{LIVE}`) probes.  Memory is sized from the model file:
the request is {BASE_MIB} MiB (a warmed-up server with a small model peaks near 540 MiB) plus
{MODEL_FACTOR} times the model file (held that often while loading), the limit twice the request;
here {size.memory_request_mib} MiB and {size.memory_limit_mib} MiB.  CPU: {size.cpu_request} core requested,
{size.cpu_limit} at most, matching `OMP_NUM_THREADS`.  The Service answers on port 80.

The base image `python:{plan.python}-slim` is a moving tag; pin its digest in the Dockerfile for
builds that must be byte-for-byte repeatable.
"""
