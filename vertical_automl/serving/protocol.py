"""The Open Inference Protocol (V2) over JSON: requests checked against a model's tensors, responses built.

KServe, Triton and MLServer clients send ``POST /v2/models/{name}/infer``
with ``{"id", "parameters", "inputs": [{"name", "shape", "datatype",
"data"}], "outputs": [{"name"}]}`` and read ``{"model_name",
"model_version", "id", "outputs": [{"name", "shape", "datatype", "data"}]}``
with ``data`` flat in row-major order.  Everything a client can get wrong
(a name, a datatype, a shape, the number of elements) is a
:class:`RequestError` naming it, which the app answers with 400 and V2's
``{"error": "..."}``.  Only JSON tensors are taken: the binary tensor data
extension is refused in one line rather than misread.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import VautomlError
from .runtime import ModelRuntime, TensorSpec

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024  # a request body beyond this is a 413 (serve --max-body-bytes)
MODEL_VERSION = "1"  # each served run is one model with one version; the run id is accepted as its alias

# The V2 datatypes a model input can have (runtime.v2_datatype names them), as numpy types.
NUMPY_TYPES = {"INT32": np.int32, "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64}


class RequestError(VautomlError):
    """A request the server refuses: its HTTP status and one line naming the problem and the fix."""

    def __init__(self, status: int, problem: str, fix: str | None = None) -> None:
        self.status = status
        super().__init__(problem, fix)


@dataclass(frozen=True)
class InferRequest:
    """A checked V2 inference request: the model-ready rows and which outputs to return."""

    id: str
    x: np.ndarray
    outputs: tuple[str, ...]  # names, in the order asked for (all of the model's when the request names none)


def output_specs(runtime: ModelRuntime) -> tuple[TensorSpec, ...]:
    """The model's V2 outputs: class probabilities and labels, or the predicted values of a regression."""
    if runtime.preprocessor.task == "regression":
        return (TensorSpec("prediction", "FP32", (-1,)),)
    classes = len(runtime.preprocessor.class_names)
    return TensorSpec("probabilities", "FP32", (-1, classes)), TensorSpec("label", "BYTES", (-1,))


def server_metadata(version: str) -> dict[str, Any]:
    """``GET /v2``: no protocol extensions are implemented, so none is claimed."""
    return {"name": "vautoml", "version": version, "extensions": []}


def model_metadata(runtime: ModelRuntime) -> dict[str, Any]:
    """``GET /v2/models/{name}``; ``parameters`` (as MLServer's schema allows) says what the outputs mean."""
    preprocessor = runtime.preprocessor
    parameters: dict[str, Any] = {"task": preprocessor.task, "input_kind": preprocessor.spec["kind"]}
    if preprocessor.task != "regression":
        parameters["class_names"] = preprocessor.class_names  # the column order of "probabilities"
    if preprocessor.threshold() is not None:
        parameters["decision_threshold"] = preprocessor.threshold()
    return {
        "name": runtime.name,
        "versions": [MODEL_VERSION],
        "platform": runtime.platform,
        "inputs": [runtime.input.to_json()],
        "outputs": [spec.to_json() for spec in output_specs(runtime)],
        "parameters": parameters,
    }


def parse_json(body: bytes, what: str) -> Any:
    """A request body as JSON, or a 400 naming why it is not."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:  # ValueError: bad JSON or bad UTF-8; RecursionError: absurd nesting
        first_line = (str(error).splitlines() or ["too deeply nested"])[0] or "too deeply nested"
        raise RequestError(400, f"the body is not valid JSON ({first_line})", f"send {what} as a JSON object") from None


def parse_infer_request(body: bytes, runtime: ModelRuntime) -> InferRequest:
    """A V2 inference request for ``runtime``, checked: one input of its name, datatype and shape."""
    request = parse_json(body, 'the V2 request {"inputs": [{"name", "shape", "datatype", "data"}]}')
    if not isinstance(request, dict):
        raise RequestError(400, f"the V2 request is a JSON {_json_type(request)}, not an object", _INPUTS_FIX)
    unknown = sorted(set(request) - {"id", "parameters", "inputs", "outputs"})
    if unknown:
        raise RequestError(400, f"the V2 request has unknown field(s) {', '.join(unknown)}", _INPUTS_FIX)
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(400, "the request's 'id' is not a string", "send the id as a JSON string, or leave it out")
    _check_parameters(request.get("parameters"), "the request")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1:
        count = f"{len(inputs)} inputs" if isinstance(inputs, list) else "no list of inputs"
        raise RequestError(
            400, f"the request has {count}; model {runtime.name} takes exactly one, '{runtime.input.name}'", _INPUTS_FIX
        )
    x = tensor_of(inputs[0], runtime.input)
    return InferRequest(request_id or str(uuid.uuid4()), x, _requested_outputs(request.get("outputs"), runtime))


_INPUTS_FIX = (
    'send {"inputs": [{"name": ..., "shape": [...], "datatype": ..., "data": [...]}]} (see GET /v2/models/NAME)'
)


def tensor_of(tensor: Any, spec: TensorSpec) -> np.ndarray:
    """One V2 input tensor as the numpy array ``spec`` describes, refusing any mismatch by name."""
    if not isinstance(tensor, dict):
        raise RequestError(400, f"input {_json_type(tensor)} is not a tensor object", _INPUTS_FIX)
    unknown = sorted(set(tensor) - {"name", "shape", "datatype", "data", "parameters"})
    if unknown:
        raise RequestError(400, f"the input tensor has unknown field(s) {', '.join(unknown)}", _INPUTS_FIX)
    missing = [key for key in ("name", "shape", "datatype", "data") if key not in tensor]
    if missing:
        raise RequestError(400, f"the input tensor has no {', '.join(missing)}", _INPUTS_FIX)
    parameters = _check_parameters(tensor.get("parameters"), "the input tensor")
    if parameters.get("binary_data_size") is not None:
        raise RequestError(
            400, "binary tensor data is not supported", "send the tensor's values as JSON in 'data' instead"
        )
    if tensor["name"] != spec.name:
        raise RequestError(
            400, f"the input is named {tensor['name']!r}, but the model's input is '{spec.name}'", _INPUTS_FIX
        )
    if tensor["datatype"] != spec.datatype:
        raise RequestError(
            400,
            f"input '{spec.name}' has datatype {tensor['datatype']!r}, but the model takes {spec.datatype}",
            f'send "datatype": "{spec.datatype}"',
        )
    shape = tensor["shape"]
    wanted = "[N, " + ", ".join(str(d) for d in spec.shape[1:]) + "]" if len(spec.shape) > 1 else "[N]"
    if (
        not isinstance(shape, list)
        or len(shape) != len(spec.shape)
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        or any(want != -1 and d != want for d, want in zip(shape, spec.shape))
        or shape[0] == 0
    ):
        raise RequestError(
            400, f"input '{spec.name}' has shape {shape}, but the model takes {wanted}", f'send "shape": {wanted}'
        )
    values = _numbers(tensor["data"], spec)
    if values.size != math.prod(shape):
        raise RequestError(
            400,
            f"input '{spec.name}' has {values.size} values in 'data', but its shape {shape} needs {math.prod(shape)}",
            "send exactly as many values as the shape holds, flat in row-major order or nested",
        )
    return values.reshape(shape)


def _numbers(data: Any, spec: TensorSpec) -> np.ndarray:
    """``data`` (flat or nested lists of JSON numbers) as an array of the spec's datatype, refusing anything else."""
    if not isinstance(data, list):
        raise RequestError(400, f"'data' of input '{spec.name}' is not a list", "send the values as a JSON list")
    try:
        values = np.asarray(data)
    except ValueError:  # ragged nesting
        raise RequestError(
            400, f"'data' of input '{spec.name}' is ragged", "nest lists of equal lengths, or send them flat"
        ) from None
    integer = spec.datatype.startswith("INT")
    if values.dtype.kind not in ("iu" if integer else "iuf") or (values.size == 0 and values.ndim > 1):
        kind = "integers" if integer else "numbers"
        raise RequestError(
            400, f"'data' of input '{spec.name}' holds values that are not {kind}", f"send {kind} for {spec.datatype}"
        )
    if not integer and not np.isfinite(values).all():
        raise RequestError(400, f"'data' of input '{spec.name}' holds NaN or infinity", "send finite numbers")
    target = NUMPY_TYPES[spec.datatype]
    if integer and values.size and (values.min() < np.iinfo(target).min or values.max() > np.iinfo(target).max):
        raise RequestError(
            400, f"'data' of input '{spec.name}' holds integers out of {spec.datatype}'s range", "send smaller values"
        )
    return values.astype(target, copy=False).reshape(-1)


def _check_parameters(parameters: Any, where: str) -> dict[str, Any]:
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise RequestError(400, f"'parameters' of {where} is not an object", "send parameters as a JSON object")
    return parameters


def _requested_outputs(outputs: Any, runtime: ModelRuntime) -> tuple[str, ...]:
    names = [spec.name for spec in output_specs(runtime)]
    if outputs is None:
        return tuple(names)
    fix = f"ask for outputs among {', '.join(names)} as [{{\"name\": ...}}], or leave 'outputs' out for all"
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise RequestError(400, "'outputs' is not a list of {\"name\": ...} objects", fix)
    for output in outputs:
        if output["name"] not in names:
            raise RequestError(400, f"model {runtime.name} has no output {output['name']!r}", fix)
        if _check_parameters(output.get("parameters"), f"output '{output['name']}'").get("binary_data"):
            raise RequestError(400, "binary tensor data is not supported", "leave out the 'binary_data' parameter")
    return tuple(dict.fromkeys(o["name"] for o in outputs))


def infer_response(
    runtime: ModelRuntime, request: InferRequest, scores: np.ndarray, labels: list[Any]
) -> dict[str, Any]:
    """The V2 response: the requested outputs, each flat in row-major order."""
    rows = len(scores)
    tensors: dict[str, dict[str, Any]] = {}
    if runtime.preprocessor.task == "regression":
        tensors["prediction"] = {"shape": [rows], "datatype": "FP32", "data": scores.astype(np.float32).tolist()}
    else:
        probabilities = scores.astype(np.float32)
        tensors["probabilities"] = {
            "shape": list(probabilities.shape),
            "datatype": "FP32",
            "data": probabilities.reshape(-1).tolist(),
        }
        tensors["label"] = {"shape": [rows], "datatype": "BYTES", "data": [str(label) for label in labels]}
    return {
        "model_name": runtime.name,
        "model_version": MODEL_VERSION,
        "id": request.id,
        "outputs": [{"name": name, **tensors[name]} for name in request.outputs],
    }


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
