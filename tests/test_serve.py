"""``vautoml serve`` as users run it: a real server process on a free port, called over HTTP.

One server serves copies of the four golden bundles for the whole module
(the table one with an input profile, so drift shows on /metrics); its
predictions are checked against ``vautoml predict`` on the same inputs, run
while the server starts.  Then every kind of bad request, each followed by a
good one, and the metrics those requests left.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from helpers import REPO, run_vautoml
from PIL import Image

GOLDEN = REPO / "tests" / "golden"
BUNDLES = {
    "golden-table-binary": "medical",
    "golden-table-regression": "finance",
    "golden-text": "text",
    "golden-image": "vision",
}
MAX_BODY = 256 * 1024  # small, so a body over it is cheap to send; above app.INLINE_BODY_BYTES
TIMEOUT = 90  # seconds for the server to load four models and warm them up on a busy machine


def _write_profile(bundle: Path) -> None:
    """Give the table run the input profile new runs get (from loans.csv as its training rows)."""
    from vertical_automl.bundle.files import PROFILE_FILE
    from vertical_automl.predictor import Preprocessor
    from vertical_automl.registry.runs import read_run
    from vertical_automl.serving.profile import InputProfile

    preprocessor = Preprocessor(read_run(bundle))
    x = preprocessor.encode(GOLDEN / "inputs" / "loans.csv").x
    (bundle / PROFILE_FILE).write_text(json.dumps(InputProfile.from_training(x, preprocessor.spec).to_json()))


def _write_pngs(folder: Path) -> list[Path]:
    """digits.npz (values 0-16) as 8-bit grayscale PNG files, in the order predict reads the folder."""
    folder.mkdir()
    images = np.load(GOLDEN / "inputs" / "digits.npz")["x"]
    files = []
    for i, image in enumerate(images):
        path = folder / f"{i:02d}.png"
        Image.fromarray(np.round(image[..., 0] / 16 * 255).astype(np.uint8), mode="L").save(path)
        files.append(path)
    return files


def _copy_bundles(registry: Path, run_ids: list[str]) -> dict[str, Path]:
    copies = {}
    for run_id in run_ids:
        copies[run_id] = registry / BUNDLES[run_id] / run_id
        shutil.copytree(GOLDEN / "registry" / BUNDLES[run_id] / run_id, copies[run_id])
    return copies


class Server:
    """A running ``vautoml serve`` process (started at once; :meth:`wait_until_ready` before calling it)."""

    def __init__(self, bundles: list[Path], folder: Path, *options: str) -> None:
        self.out, self.err = folder / "serve.out", folder / "serve.err"
        command = [sys.executable, "-m", "vertical_automl.cli", "serve", *map(str, bundles), "--port", "0", *options]
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.process = subprocess.Popen(command, stdout=out, stderr=err, env=dict(os.environ))
        self.url = ""
        self.expected: dict[str, tuple[list[str], np.ndarray]] = {}

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not self.url:
            assert self.process.poll() is None, self.err.read_text()
            found = re.search(r"at (http://127\.0\.0\.1:\d+)/v2", self.out.read_text())
            self.url = found.group(1) if found else ""
            assert time.monotonic() < deadline, "the server never said where it listens"
            time.sleep(0.1)
        while httpx.get(self.url + "/v2/health/ready").status_code != 200:
            assert self.process.poll() is None, self.err.read_text()
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, as an orchestrator stops it: a clean exit 0 after the requests in flight, and no traceback."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0, self.err.read_text()
        assert "stopped (SIGTERM)" in self.out.read_text()
        assert "Traceback" not in self.err.read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    bundles = _copy_bundles(root / "registry", list(BUNDLES))
    _write_profile(bundles["golden-table-binary"])
    pngs = _write_pngs(root / "pngs")
    onnx = _copy_bundles(root / "onnx", ["golden-table-binary"])["golden-table-binary"]
    running = Server(list(bundles.values()), root, "--max-body-bytes", str(MAX_BODY))
    running.bundles, running.pngs, running.onnx_bundle = bundles, pngs, onnx
    inputs = GOLDEN / "inputs"
    jobs = {
        "table": (bundles["golden-table-binary"], inputs / "loans.csv"),
        "text": (bundles["golden-text"], inputs / "tickets.csv"),
        "arrays": (bundles["golden-image"], inputs / "digits.npz"),
        "pngs": (bundles["golden-image"], root / "pngs"),
    }
    try:  # vautoml predict (and the ONNX export) while the server loads, in one process: Keras is imported once
        predicting = _vautoml_predict(jobs, root, ["export", str(onnx), "--format", "onnx"])
        running.wait_until_ready()
        running.expected = predicting()
    except BaseException:
        running.process.kill()
        raise
    with httpx.Client(base_url=running.url, timeout=30) as client:
        running.client = client
        yield running
    running.stop()


def _vautoml_predict(jobs: dict[str, tuple[Path, Path]], work: Path, *more: list[str]) -> Callable[[], dict]:
    """Start ``vautoml predict --model RUN --data DATA --output CSV`` for each job, then the ``more`` commands, all in
    one process; the function returned waits for it and gives each job's labels and probabilities (class_names
    order), as predict wrote them.
    """
    commands = [["predict", "--model", str(run), "--data", str(data), "--output", str(work / f"{name}.csv")]
                for name, (run, data) in jobs.items()]  # fmt: skip
    script = (
        "import sys, json\nfrom vertical_automl.cli import main\n"
        f"for args in json.loads({json.dumps(json.dumps([*commands, *more]))}):\n"
        "    main(args, prog_name='vautoml', standalone_mode=False)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def results() -> dict:
        _, errors = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, errors.decode()
        expected = {}
        for name in jobs:
            with open(work / f"{name}.csv", newline="") as handle:
                rows = list(csv.DictReader(handle))
            columns = [column for column in rows[0] if column.startswith("probability_")]
            expected[name] = [r["label"] for r in rows], np.array([[float(r[c]) for c in columns] for r in rows])
        return expected

    return results


@pytest.fixture(scope="module")
def onnx_server(server, tmp_path_factory):
    """The table run's ONNX export (written by the predict process) served with --runtime onnx."""
    running = Server([server.onnx_bundle], tmp_path_factory.mktemp("onnx"), "--runtime", "onnx")
    try:
        running.wait_until_ready()
    except BaseException:
        running.process.kill()
        raise
    with httpx.Client(base_url=running.url, timeout=30) as client:
        running.client = client
        yield running
    running.stop()


def _loans() -> list[dict[str, str]]:
    with open(GOLDEN / "inputs" / "loans.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "default"} for row in csv.DictReader(handle)]


def _tickets() -> list[str]:
    with open(GOLDEN / "inputs" / "tickets.csv", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def _check(answer: dict, expected: tuple[list[str], np.ndarray], classes: list[str]) -> None:
    labels, probabilities = expected
    predictions = answer["predictions"]
    assert [p["label"] for p in predictions] == labels
    served = np.array([[p["probabilities"][c] for c in classes] for p in predictions])
    np.testing.assert_allclose(served, probabilities, atol=1e-6)


def test_connections_the_server_accepts_turn_nagles_algorithm_off():
    """With Nagle's algorithm on, every answer waits ~40 ms for the client's delayed ACK; asyncio (uvicorn's loop)
    sets TCP_NODELAY only on connections whose listening socket says TCP, as ``bind``'s does and
    ``socket.create_server``'s does not."""
    from vertical_automl.serving.server import bind

    async def accepted_nodelay(listener: socket.socket) -> int:
        accepted = asyncio.get_running_loop().create_future()

        def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        value = await asyncio.wait_for(accepted, 10)
        writer.close()
        server.close()
        await server.wait_closed()
        return value

    assert asyncio.run(accepted_nodelay(bind("127.0.0.1", 0))) != 0
    assert asyncio.run(accepted_nodelay(socket.create_server(("127.0.0.1", 0)))) == 0  # what the check guards against


def test_v2_server_and_model_metadata(server):
    client = server.client
    assert client.get("/v2").json() == {"name": "vautoml", "version": "0.1.0", "extensions": []}
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    metadata = client.get("/v2/models/golden-table-binary").json()
    assert metadata["name"] == "golden-table-binary" and metadata["versions"] == ["1"]
    assert metadata["platform"] == "keras_torch"
    assert metadata["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 8]}]
    assert metadata["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
    ]
    assert metadata["parameters"]["class_names"] == ["bad", "good"]
    regression = client.get("/v2/models/golden-table-regression").json()
    assert regression["outputs"] == [{"name": "prediction", "datatype": "FP32", "shape": [-1]}]
    assert client.get("/v2/models/golden-text").json()["inputs"][0]["datatype"] == "INT32"
    for version in ("1", "golden-image"):
        assert client.get(f"/v2/models/golden-image/versions/{version}").json()["name"] == "golden-image"
        assert client.get(f"/v2/models/golden-image/versions/{version}/ready").json() == {
            "name": "golden-image",
            "ready": True,
        }
    assert client.get("/v2/models/golden-image/versions/2").status_code == 404


def test_v2_infer_on_encoded_rows_matches_vautoml_predict(server):
    from vertical_automl.predictor import Preprocessor
    from vertical_automl.registry.runs import read_run

    x = Preprocessor(read_run(server.bundles["golden-table-binary"])).encode(GOLDEN / "inputs" / "loans.csv").x
    labels, probabilities = server.expected["table"]
    request = {
        "id": "loans-1",
        "inputs": [{"name": "features", "shape": list(x.shape), "datatype": "FP32", "data": x.reshape(-1).tolist()}],
    }
    answer = server.client.post("/v2/models/golden-table-binary/infer", json=request).json()
    assert (answer["model_name"], answer["model_version"], answer["id"]) == ("golden-table-binary", "1", "loans-1")
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["probabilities"]["shape"] == [len(x), 2] and outputs["probabilities"]["datatype"] == "FP32"
    np.testing.assert_allclose(np.reshape(outputs["probabilities"]["data"], (-1, 2)), probabilities, atol=1e-6)
    assert outputs["label"] == {"name": "label", "shape": [len(x)], "datatype": "BYTES", "data": labels}
    three = {"name": "features", "shape": [3, 8], "datatype": "FP32", "data": x[:3].tolist()}  # nested, not flat
    nested = {"inputs": [three], "outputs": [{"name": "label"}]}
    only_labels = server.client.post("/v2/models/golden-table-binary/versions/1/infer", json=nested).json()
    assert [o["name"] for o in only_labels["outputs"]] == ["label"] and only_labels["outputs"][0]["data"] == labels[:3]
    assert only_labels["id"]  # one is made up when the request has none


def test_raw_predict_of_records_texts_and_images_matches_vautoml_predict(server):
    client = server.client
    table = client.post("/v2/models/golden-table-binary/predict", json={"inputs": _loans()}).json()
    _check(table, server.expected["table"], ["bad", "good"])
    assert table["decision_threshold"] == pytest.approx(0.5803922265768051)
    one = client.post("/v2/models/golden-table-binary/predict", json={"inputs": _loans()[1]}).json()
    assert one["predictions"][0]["label"] == server.expected["table"][0][1]
    text = client.post("/v2/models/golden-text/predict", json={"inputs": _tickets()}).json()
    _check(text, server.expected["text"], ["billing", "sales", "tech"])
    digits = [str(d) for d in range(10)]
    arrays = np.load(GOLDEN / "inputs" / "digits.npz")["x"]
    _check(
        client.post("/v2/models/golden-image/predict", json={"inputs": arrays.tolist()}).json(),
        server.expected["arrays"],
        digits,
    )
    encoded = [base64.b64encode(path.read_bytes()).decode() for path in server.pngs]
    _check(
        client.post("/v2/models/golden-image/predict", json={"inputs": encoded}).json(), server.expected["pngs"], digits
    )
    uploads = [("images", (path.name, path.read_bytes(), "image/png")) for path in server.pngs]
    _check(client.post("/v2/models/golden-image/predict", files=uploads).json(), server.expected["pngs"], digits)
    value = client.post("/v2/models/golden-table-regression/predict", json={"inputs": {"area": 80, "rooms": 3}})
    assert value.status_code == 400 and "city" in value.json()["error"]
    value = client.post(
        "/v2/models/golden-table-regression/predict", json={"inputs": {"area": 80, "rooms": 3, "city": "a"}}
    )
    assert list(value.json()["predictions"][0]) == ["prediction"] and 100 < value.json()["predictions"][0]["prediction"]


def test_onnx_runtime_serves_what_vautoml_predict_prints(server, onnx_server):
    metadata = onnx_server.client.get("/v2/models/golden-table-binary").json()
    assert metadata["platform"] == "onnxruntime_onnx" and metadata["inputs"][0]["shape"] == [-1, 8]
    answer = onnx_server.client.post("/v2/models/golden-table-binary/predict", json={"inputs": _loans()})
    _check(answer.json(), server.expected["table"], ["bad", "good"])


def test_a_large_request_is_encoded_off_the_event_loop_and_scored_whole(server):
    from vertical_automl.serving.app import INLINE_BODY_BYTES

    records = _loans() * 40
    assert INLINE_BODY_BYTES < len(json.dumps({"inputs": records})) < MAX_BODY
    answer = server.client.post("/v2/models/golden-table-binary/predict", json={"inputs": records})
    assert [p["label"] for p in answer.json()["predictions"]] == server.expected["table"][0] * 40


def test_concurrent_requests_share_model_calls(server):
    records, (labels, _) = _loans(), server.expected["table"]

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            calls = [
                client.post("/v2/models/golden-table-binary/predict", json={"inputs": records[i]}) for i in range(32)
            ]
            return await asyncio.gather(*calls)

    answers = asyncio.run(send_all())
    assert [a.status_code for a in answers] == [200] * 32
    assert [a.json()["predictions"][0]["label"] for a in answers] == labels[:32]
    families = _metrics(server)
    batches = {
        s.labels.get("le"): s.value
        for s in families["vautoml_batch_requests"].samples
        if s.labels.get("model") == "golden-table-binary" and s.name.endswith("_bucket")
    }
    assert batches["+Inf"] > batches["1.0"], "no model call took more than one request"


BAD_REQUESTS = [  # (method, path, request arguments, status, words the error must hold)
    ("POST", "/v2/models/golden-table-binary/predict", {"content": b'{"inputs": [{'}, 400, "not valid JSON"),
    ("POST", "/v2/models/golden-table-binary/predict", {"content": b"[" * 50000}, 400, "not valid JSON"),
    ("POST", "/v2/models/golden-table-binary/predict", {"json": {"inputs": [{"age": 3}]}}, 400, "lacks column"),
    ("POST", "/v2/models/golden-table-binary/predict", {"json": {"input": []}}, 400, "no 'inputs'"),
    ("POST", "/v2/models/golden-table-binary/predict", {"json": {"inputs": [[1, 2]]}}, 400, "records"),
    ("POST", "/v2/models/golden-text/predict", {"json": {"inputs": [1, 2]}}, 400, "strings"),
    ("POST", "/v2/models/golden-image/predict", {"json": {"inputs": [[1, 2]]}}, 400, "do not match"),
    ("POST", "/v2/models/golden-image/predict", {"json": {"inputs": [[[1], [2, 3]]]}}, 400, "ragged"),
    ("POST", "/v2/models/golden-image/predict", {"json": {"inputs": ["%%%"]}}, 400, "not valid base64"),
    ("POST", "/v2/models/golden-image/predict", {"json": {"inputs": ["aGVsbG8="]}}, 400, "not a PNG"),
    (
        "POST",
        "/v2/models/golden-image/predict",
        {"json": {"inputs": [base64.b64encode(b"\x89PNG\r\n\x1a\nbroken").decode()]}},
        400,
        "cannot read image",
    ),
    ("POST", "/v2/models/golden-table-binary/predict", {"files": [("f", ("a.png", b"x"))]}, 415, "not file uploads"),
    (
        "POST",
        "/v2/models/golden-text/infer",
        {"json": {"inputs": [{"name": "tokens", "shape": [1, 23], "datatype": "FP32", "data": [1] * 23}]}},
        400,
        "datatype",
    ),
    (
        "POST",
        "/v2/models/golden-text/infer",
        {"json": {"inputs": [{"name": "words", "shape": [1, 23], "datatype": "INT32", "data": [1] * 23}]}},
        400,
        "'tokens'",
    ),
    (
        "POST",
        "/v2/models/golden-text/infer",
        {"json": {"inputs": [{"name": "tokens", "shape": [1, 22], "datatype": "INT32", "data": [1] * 22}]}},
        400,
        "shape",
    ),
    (
        "POST",
        "/v2/models/golden-text/infer",
        {"json": {"inputs": [{"name": "tokens", "shape": [2, 23], "datatype": "INT32", "data": [1] * 23}]}},
        400,
        "needs 46",
    ),
    (
        "POST",
        "/v2/models/golden-table-binary/infer",
        {
            "content": b'{"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32", "data": [NaN'
            + b", 0" * 7
            + b"]}]}"
        },
        400,
        "NaN",
    ),
    ("POST", "/v2/models/golden-table-binary/infer", {"json": {"inputs": []}}, 400, "exactly one"),
    (
        "POST",
        "/v2/models/golden-table-binary/infer",
        {
            "json": {
                "inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32", "data": [0] * 8}],
                "outputs": [{"name": "logits"}],
            }
        },
        400,
        "no output 'logits'",
    ),
    ("POST", "/v2/models/nobody/infer", {"json": {}}, 404, "no model 'nobody'"),
    ("GET", "/v2/models/nobody", {}, 404, "no model 'nobody'"),
    ("GET", "/v2/nowhere", {}, 404, "no route"),
    ("GET", "/v2/models/golden-text/infer", {}, 405, "use POST"),
    ("POST", "/v2/health/live", {}, 405, "use GET"),
    ("POST", "/v2/models/golden-text/predict", {"content": b"x" * (MAX_BODY + 1)}, 413, "--max-body-bytes"),
    ("POST", "/v2/models/golden-text/predict", {"content": iter([b"x" * 100000] * 3)}, 413, "--max-body-bytes"),
]


@pytest.mark.parametrize("method, path, arguments, status, words", BAD_REQUESTS, ids=lambda v: str(v)[:40])
def test_bad_requests_get_one_json_line_and_the_server_keeps_serving(server, method, path, arguments, status, words):
    answer = server.client.request(method, path, **arguments)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert words in error and "Fix: " in error and "\n" not in error and "Traceback" not in error
    good = server.client.post("/v2/models/golden-text/predict", json={"inputs": "my bill payment"})
    assert good.status_code == 200 and good.json()["predictions"][0]["label"] == "billing"


def _metrics(server) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    answer = server.client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(answer.text)}


def test_metrics_count_routes_predictions_batches_and_drift(server):
    server.client.post(
        "/v2/models/golden-table-regression/predict", json={"inputs": {"area": 80, "rooms": 3, "city": "b"}}
    )
    server.client.get("/v2/models/nobody")
    families = _metrics(server)
    for name in (
        "vautoml_http_requests",
        "vautoml_http_request_duration_seconds",
        "vautoml_predictions",
        "vautoml_batch_rows",
        "vautoml_batch_requests",
        "vautoml_model_ready",
        "vautoml_predicted_value",
        "vautoml_predicted_value_zscore",
        "vautoml_input_drift_window_rows",
        "vautoml_input_out_of_range",
    ):
        assert name in families, name
    requests = {(s.labels["route"], s.labels["status"]) for s in families["vautoml_http_requests"].samples}
    assert ("/v2/models/{name}", "404") in requests and ("/v2/models/{name}/predict", "200") in requests
    assert not any("golden" in route or "nobody" in route for route, _ in requests)  # templates, never raw paths
    predicted = {
        s.labels["class"] for s in families["vautoml_predictions"].samples if s.labels["model"] == "golden-text"
    }
    assert "billing" in predicted
    ready = {s.labels["model"]: s.value for s in families["vautoml_model_ready"].samples}
    assert ready == dict.fromkeys(BUNDLES, 1.0)
    window = {s.labels["model"]: s.value for s in families["vautoml_input_drift_window_rows"].samples}
    assert window["golden-table-binary"] >= 40  # the rows served so far, not the warm-up's


def test_api_key_guards_everything_but_the_probes():
    from vertical_automl.serving.app import AppSettings, create_app

    app = create_app([], AppSettings("0.1.0", api_key="s3cret"))

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            token = {"Authorization": "Bearer s3cret"}
            return [
                await client.get("/v2/health/live"),
                await client.get("/v2/health/ready"),
                await client.get("/v2"),
                await client.get("/v2", headers={"Authorization": "Bearer s3cre"}),
                await client.get("/metrics"),
                await client.post("/v2/models/x/infer", json={}),
                await client.get("/v2", headers=token),
                await client.get("/v2/models/x", headers=token),
                await client.get("/v2", headers={"Authorization": "bearer s3cret"}),  # the scheme's case is free
                await client.get("/v2", headers={"Authorization": "Basic s3cret"}),
            ]

    answers = asyncio.run(calls())
    assert [a.status_code for a in answers] == [200, 200, 401, 401, 401, 401, 200, 404, 200, 401]
    assert "needs a bearer token" in answers[2].json()["error"] and answers[2].headers["www-authenticate"] == "Bearer"
    assert "token is wrong" in answers[3].json()["error"]


def test_an_unexpected_failure_is_a_json_500_without_traceback_and_is_counted(caplog):
    from vertical_automl.serving.app import AppSettings, create_app

    app = create_app([], AppSettings("0.1.0"))

    async def broken() -> None:
        raise ZeroDivisionError("a bug")

    app.add_api_route("/v2/broken", broken)

    async def calls() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return [await client.get("/v2/broken"), await client.get("/v2/health/live"), await client.get("/metrics")]

    failed, live, metrics = asyncio.run(calls())
    assert failed.status_code == 500 and "Traceback" not in failed.text and "a bug" not in failed.text
    assert failed.json()["error"].startswith("the server failed unexpectedly. Fix: see the server's log")
    assert live.status_code == 200
    assert 'vautoml_http_requests_total{method="GET",route="/v2/broken",status="500"} 1.0' in metrics.text
    assert "ZeroDivisionError: a bug" in caplog.text  # the traceback is in the log, not the answer


def test_serve_refuses_in_one_line(tmp_path):
    from vertical_automl.errors import UsageError
    from vertical_automl.serving.server import bind

    missing = run_vautoml("serve", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and missing.stderr.startswith("Error: ") and "Traceback" not in missing.stderr
    flag = run_vautoml("serve", "some-run", "--max-wait-ms", "-1")
    assert flag.returncode == 2 and "--max-wait-ms" in flag.stderr and flag.stderr.count("\n") == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(UsageError, match=r"port \d+ on 127.0.0.1 is already in use. Fix: "):
            bind("127.0.0.1", taken.getsockname()[1])
    with pytest.raises(UsageError, match="not an address of this machine"):
        bind("203.0.113.7", 0)
