"""``kubernetes.yaml`` of a docker export: a Deployment serving the image and a ClusterIP Service in front of it.

Resources are sized from the model file, the one part that varies between
runs.  Measured on the golden bundles (models under 1 MiB), a warmed-up
server (Python, torch, Keras, FastAPI, uvicorn) peaks at about 540 MiB
resident; the request adds 100 MiB of headroom to that and three times the
model file, since loading holds the ``.keras`` archive, its unpacked weights
and the built tensors at once (about one times it stays resident).  The limit
is twice the request: a batch of large inputs (images) or the load peak must
not be killed for memory, a leak still is.  CPU is not sized by the model:
one inference thread runs every batch, so one core is requested, and the
limit of two is also ``OMP_NUM_THREADS``, because torch would otherwise size
its thread pool to the node's cores and be throttled past the limit.

The pod runs as the image's non-root user with a read-only root file
system; ``/tmp`` is an ``emptyDir``, where ``HOME``, ``KERAS_HOME`` and
``MPLCONFIGDIR`` point (Keras writes ``keras.json`` on import, and multipart
uploads spool to the temporary folder).

The file is written by :func:`to_yaml`, a small block-style emitter with
every string quoted, because PyYAML is not a vertical-automl dependency; it
parses with any YAML 1.1 or 1.2 reader, so ``kubectl apply -f`` reads it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

PORT = 8080  # the container's; the Service answers on 80
UID = 10001  # the image's non-root user and group (numeric, so runAsNonRoot can be checked without /etc/passwd)
BASE_MIB = 640  # measured peak of a warmed-up server with a sub-MiB model (540 MiB), plus 100 MiB headroom
MODEL_FACTOR = 3  # archive, unpacked weights and tensors, at once while loading
CPU_REQUEST = "1"
CPU_LIMIT = 2
TMP_SIZE = "256Mi"
LIVE, READY = "/v2/health/live", "/v2/health/ready"
NAME_LIMIT = 63  # a Service name is an RFC 1035 label


@dataclass(frozen=True)
class Resources:
    """The container's requests and limits, memory in MiB."""

    memory_request_mib: int
    memory_limit_mib: int
    cpu_request: str = CPU_REQUEST
    cpu_limit: int = CPU_LIMIT

    @classmethod
    def for_model(cls, model_bytes: int) -> Resources:
        """Sized from the model file (see the module docstring), rounded up to 64 MiB."""
        request = 64 * math.ceil((BASE_MIB + MODEL_FACTOR * model_bytes / 2**20) / 64)
        return cls(request, 2 * request)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": f"{self.memory_request_mib}Mi"},
            "limits": {"cpu": str(self.cpu_limit), "memory": f"{self.memory_limit_mib}Mi"},
        }


def object_name(run_id: str) -> str:
    """``vautoml-<run id>`` as a Kubernetes name: lower case, letters, digits and '-', at most 63 characters.

    A run id may hold '.', '_' and capitals, and be longer; one cut short
    ends in a hash of the whole id, so two long ids do not collide.
    """
    name = re.sub(r"[^a-z0-9-]+", "-", f"vautoml-{run_id}".lower()).strip("-")
    if len(name) <= NAME_LIMIT and name == f"vautoml-{run_id}":
        return name
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{name[: NAME_LIMIT - len(digest) - 1].rstrip('-')}-{digest}"


def manifests(run_id: str, image: str, resources: Resources) -> list[dict[str, Any]]:
    """The Deployment and the Service of a run's image.

    ``OMP_NUM_THREADS`` is set beside the CPU limit (the image sets the same
    default), so that whoever changes one sees the other.
    """
    name = object_name(run_id)
    labels = {"app.kubernetes.io/name": "vautoml", "app.kubernetes.io/instance": name}
    probe = {"port": "http"}
    container = {
        "name": "server",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [
            {"name": "OMP_NUM_THREADS", "value": str(resources.cpu_limit)},
            {
                "name": "VAUTOML_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": f"{name}-api-key", "key": "api-key", "optional": True}},
            },
        ],
        "resources": resources.to_json(),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        # Loading and the warm-up request come before ready: up to 5 minutes, then liveness takes over.
        "startupProbe": {"httpGet": {"path": READY, **probe}, "periodSeconds": 5, "failureThreshold": 60},
        "readinessProbe": {"httpGet": {"path": READY, **probe}, "periodSeconds": 10, "timeoutSeconds": 3},
        "livenessProbe": {
            "httpGet": {"path": LIVE, **probe},
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "annotations": {"vautoml/run-id": run_id}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": labels,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    return [deployment, service]


def to_yaml(documents: list[dict[str, Any]]) -> str:
    """YAML documents separated by ``---``, block style, strings JSON-quoted (valid YAML double-quoted scalars)."""
    return "".join("---\n" + "\n".join(_lines(document, 0)) + "\n" for document in documents)


def _lines(value: dict[str, Any] | list[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if _block(item):
                lines += [f"{pad}{_key(key)}:", *_lines(item, indent + 2)]
            else:
                lines.append(f"{pad}{_key(key)}: {_scalar(item)}")
        return lines
    for item in value:
        if _block(item):
            nested = _lines(item, indent + 2)
            lines += [f"{pad}- {nested[0].lstrip()}", *nested[1:]]
        else:
            lines.append(f"{pad}- {_scalar(item)}")
    return lines


def _block(value: Any) -> bool:
    return isinstance(value, (dict, list)) and bool(value)


def _key(key: str) -> str:
    """A key as it is when plainly safe (``app.kubernetes.io/name``), else quoted."""
    return key if re.fullmatch(r"[A-Za-z][A-Za-z0-9_./-]*", key) else json.dumps(key)


def _scalar(value: Any) -> str:
    """Booleans and numbers as YAML reads them; strings always quoted, so "8080" or "true" stay strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):  # empty ones
        return json.dumps(value)
    return json.dumps(str(value))
