"""Serving: ``vautoml serve`` under HTTP load, beside a minimal hand-written endpoint on the same model.

For a table model and an image model (the golden bundles by default), wrk
(Debian's ``wrk``, on loopback) sends the same POST body over and over for a
fixed time at 1, 8 and 32 concurrent connections (``wrk -t1 -cN -dDs
--latency``), to three endpoints:

* vautoml ``POST /v2/models/{name}/infer``: one encoded row as a V2 tensor;
* vautoml ``POST /v2/models/{name}/predict``: the same example raw (a table
  record, an image's pixels), through the run's preprocessing;
* a hand-written endpoint taking the very same V2 tensor body and calling
  ``model.predict(x, verbose=0)`` on the same ``model.keras``, one request per
  model call, answering the model's output as a V2 tensor.

It prints requests/s, p50 and p99 latency and errors (HTTP 4xx/5xx, socket
errors and timeouts) per run, and the ratios of vautoml's ``/infer`` to the
hand-written endpoint (aim: >= 0.9x at one client, above 1x at 32 thanks to
batching, zero errors).  ``/predict`` does more work (the preprocessing), so
its ratio is shown too but is not the comparison the aim is about.  Nothing is
asserted.

The hand-written endpoint is the standard library's ``ThreadingHTTPServer``
(HTTP/1.1 keep-alive, Nagle's algorithm off): of the two minimal servers
tried, it was the faster.  A bare ASGI function on uvicorn (no framework,
``model.predict`` on the event loop) answered one client in about 8-12 ms
per request where it took 3-4 ms, and, calling one ``model.predict`` at a
time, fell further behind with more clients; a thread per connection lets
the clients' ``model.predict`` calls overlap (torch releases the GIL), the
strongest simple thing to beat without batching.  Each server runs alone
(never two measured at once), in its own process, with torch's default
thread count, warmed up before it is measured.  The two servers' answers to
one example are compared first, so a fast wrong server cannot win.

Run (from the repository root, with the serve extra installed):

    python benchmarks/serving.py [--duration 10] [--run RUN|PATH --data FILE ...]

``--run`` and ``--data`` pair up in order: a run, and a raw input file as
``vautoml predict`` reads it (its first example is sent).  It takes about 18
seconds per second of ``--duration`` (2 models, 3 endpoints, 3 concurrencies),
plus loading.  Nothing else heavy may run meanwhile (tests, searches, other
benchmarks): on a 2-core machine they take the cores the servers and wrk are
measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the checkout this script is in is what gets measured, here and in the servers
os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402

GOLDEN = REPO / "tests" / "golden"
DEFAULT_RUNS = (
    (GOLDEN / "registry" / "medical" / "golden-table-binary", GOLDEN / "inputs" / "loans.csv"),
    (GOLDEN / "registry" / "vision" / "golden-image", GOLDEN / "inputs" / "digits.npz"),
)
CLIENTS = (1, 8, 32)
READY_TIMEOUT_S = 300
# wrk's Lua: POST the body file's bytes, and print one machine-readable line when done.
WRK_SCRIPT = """\
local file = io.open(%s, "rb")
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Workload:
    """One run, its first example encoded (for the V2 tensor of ``/infer``), and that example raw (``/predict``)."""

    name: str
    path: Path
    x: np.ndarray
    raw_body: bytes


@dataclass(frozen=True)
class Measurement:
    """One wrk run: requests per second, latency percentiles (ms) and every kind of error counted together."""

    model: str
    endpoint: str
    clients: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def workload(run: Path, data: Path) -> Workload:
    """The run's first raw example from ``data``, raw and encoded by the run's preprocessing.

    Encoding uses :class:`~vertical_automl.predictor.Preprocessor`, which loads
    no Keras: this process stays light while it runs wrk.
    """
    from vertical_automl.predictor import Preprocessor
    from vertical_automl.registry.runs import read_run

    found = read_run(run)
    preprocessor = Preprocessor(found)
    kind = preprocessor.spec["kind"]
    raw = raw_example(kind, data, found.report.dataset.get("target"))
    x = preprocessor.encode(raw if kind in ("table", "text") else np.asarray(raw, dtype=np.float32)).x[:1]
    return Workload(found.run_id, found.path, x, json.dumps({"inputs": raw}).encode())


def raw_example(kind: str, data: Path, target: str | None) -> Any:
    """The first example of ``data`` as ``/predict``'s JSON ``inputs``: a record, a string, or nested lists."""
    if kind == "table":
        import pandas as pd

        row = pd.read_csv(data, nrows=1).drop(columns=[target] if target else [], errors="ignore")
        return json.loads(row.to_json(orient="records"))  # plain JSON values, a missing one null
    if kind == "text":
        return [data.read_text(encoding="utf-8").splitlines()[0]]
    if data.suffix == ".npz":
        return np.load(data)["x"][:1].tolist()
    if data.suffix == ".npy":
        return np.load(data)[:1].tolist()
    raise SystemExit(f"--data {data}: give a CSV (tables), a .txt (text) or an .npz/.npy file (images, arrays)")


def tensor_body(port: int, item: Workload) -> bytes:
    """The example as a V2 tensor named and typed as vautoml's model metadata says (the baseline reads it too)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{item.name}", timeout=10) as answer:
        spec = json.loads(answer.read())["inputs"][0]
    tensor = {"name": spec["name"], "shape": list(item.x.shape), "datatype": spec["datatype"]}
    return json.dumps({"inputs": [{**tensor, "data": item.x.ravel().tolist()}]}).encode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_environment() -> dict[str, str]:
    """This checkout (and its plugins) first on the servers' path, as in this process."""
    paths = [str(REPO), *(str(p) for p in sorted((REPO / "plugins").iterdir()) if p.is_dir())]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}


@contextmanager
def running(command: list[str], port: int) -> Iterator[None]:
    """A server process, from when ``/v2/health/ready`` answers 200 (models loaded and warmed up) until stopped."""
    server = subprocess.Popen(command, env=child_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready(port):
            if server.poll() is not None:
                raise SystemExit(f"the server stopped: {server.stderr.read().decode() if server.stderr else ''}")
            if time.monotonic() > deadline:
                raise SystemExit(f"the server on port {port} was not ready in {READY_TIMEOUT_S} s")
            time.sleep(0.3)
        yield
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def post(url: str, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def wrk(url: str, body: bytes, clients: int, seconds: int, work: Path) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, errors) of ``wrk -t1 -c clients`` POSTing ``body`` to ``url``."""
    (work / "body.json").write_bytes(body)
    (work / "post.lua").write_text(WRK_SCRIPT % json.dumps(str(work / "body.json")))
    command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    done = subprocess.run([*command, "-s", str(work / "post.lua"), url], capture_output=True, text=True)
    found = re.search(r"^RESULT (.+)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    requests, duration_us, *errors, p50_us, p99_us = (int(v) for v in found[1].split())
    return requests / (duration_us / 1e6), p50_us / 1000, p99_us / 1000, sum(errors)


@dataclass(frozen=True)
class Load:
    """How long each endpoint is loaded (after a warm-up), and where wrk's files go."""

    seconds: int  # wrk takes whole seconds
    warmup: int
    work: Path

    def measure(self, label: str, urls: dict[str, tuple[str, bytes]]) -> list[Measurement]:
        """Every model's endpoint of one server at every concurrency, each warmed up first."""
        found = []
        for model, (url, body) in urls.items():
            wrk(url, body, 8, self.warmup, self.work)
            for clients in CLIENTS:
                rate, p50, p99, errors = wrk(url, body, clients, self.seconds, self.work)
                found.append(Measurement(model, label, clients, rate, p50, p99, errors))
                print(f"  {model:<22} {label:<18} {clients:>3} clients {rate:>9.1f} req/s", flush=True)
        return found


def agreement(ours: dict[str, Any], theirs: dict[str, Any]) -> float:
    """Largest difference between vautoml's probabilities and the model's raw output on one example.

    A binary model's single sigmoid output is the positive class's
    probability, vautoml's second column; otherwise they are the same numbers.
    """
    probabilities = np.asarray(ours["outputs"][0]["data"], dtype=np.float64)
    output = np.asarray(theirs["outputs"][0]["data"], dtype=np.float64)
    expected = probabilities[1::2] if output.size * 2 == probabilities.size else probabilities
    return float(np.max(np.abs(expected - output)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint and concurrency")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of load before each endpoint is measured")
    parser.add_argument("--run", action="append", type=Path, help="a run folder (repeatable; pairs with --data)")
    parser.add_argument("--data", action="append", type=Path, help="a raw input file for the --run at its position")
    parser.add_argument("--baseline-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server is not None:
        return baseline_server(args.baseline_server, args.run)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    if len(args.run or []) != len(args.data or []):
        raise SystemExit("give one --data per --run")
    workloads = [workload(run, data) for run, data in (list(zip(args.run, args.data)) if args.run else DEFAULT_RUNS)]
    print(
        f"{os.cpu_count()} cores; {args.duration:g} s per measurement; models: {', '.join(w.name for w in workloads)}"
    )
    runs = [str(item.path) for item in workloads]
    ours, theirs = free_port(), free_port()
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory() as scratch:
        load = Load(args.duration, args.warmup, Path(scratch))
        print("vautoml serve:", flush=True)
        with running([sys.executable, "-m", "vertical_automl.cli", "serve", *runs, "--port", str(ours)], ours):
            base = f"http://127.0.0.1:{ours}/v2/models"
            tensors = {item.name: tensor_body(ours, item) for item in workloads}
            answers = {name: post(f"{base}/{name}/infer", body) for name, body in tensors.items()}
            results += load.measure("vautoml /infer", {n: (f"{base}/{n}/infer", b) for n, b in tensors.items()})
            raw = {item.name: (f"{base}/{item.name}/predict", item.raw_body) for item in workloads}
            results += load.measure("vautoml /predict", raw)
        print("hand-written model.predict endpoint:", flush=True)
        baseline = [sys.executable, __file__, "--baseline-server", str(theirs), *(f"--run={run}" for run in runs)]
        with running(baseline, theirs):
            base = f"http://127.0.0.1:{theirs}/v2/models"
            for name, body in tensors.items():
                difference = agreement(answers[name], post(f"{base}/{name}/infer", body))
                print(f"  {name}: vautoml's answer and model.predict's differ by {difference:.2g}")
            results += load.measure("model.predict", {n: (f"{base}/{n}/infer", b) for n, b in tensors.items()})
    report(results)


def report(results: list[Measurement]) -> None:
    print()
    print(f"{'model':<22} {'endpoint':<18} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for m in results:
        print(
            f"{m.model:<22} {m.endpoint:<18} {m.clients:>7} {m.requests_per_second:>9.1f} "
            f"{m.p50_ms:>8.2f} {m.p99_ms:>8.2f} {m.errors:>7}"
        )
    rates = {(m.model, m.endpoint, m.clients): m.requests_per_second for m in results}
    print()
    print("requests/s of vautoml over the hand-written endpoint (aim: /infer >= 0.9x at 1 client, > 1x at 32):")
    for model in dict.fromkeys(m.model for m in results):
        for endpoint in ("vautoml /infer", "vautoml /predict"):
            ratios = [rates[(model, endpoint, c)] / rates[(model, "model.predict", c)] for c in CLIENTS]
            shown = "  ".join(f"{c} clients {r:.2f}x" for c, r in zip(CLIENTS, ratios))
            print(f"  {model:<22} {endpoint:<18} {shown}")
    print(f"errors in all: {sum(m.errors for m in results)}")


def baseline_server(port: int, runs: list[Path]) -> None:
    """The hand-written endpoint: the standard library's ThreadingHTTPServer calling ``model.predict`` per request.

    ``POST /v2/models/{name}/infer`` with a V2 tensor answers the model's
    output as a V2 tensor; ``GET /v2/health/ready`` answers once every model
    is loaded and has predicted once.  HTTP/1.1 keeps connections open, as
    wrk's are, and Nagle's algorithm is off, as it is for vautoml's sockets.
    """
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import keras

    models = {}
    for run in runs:
        manifest = json.loads((run / "manifest.json").read_text())
        model = keras.saving.load_model(run / "model.keras")
        dtype = np.dtype(model.inputs[0].dtype)
        model.predict(np.zeros((1, *model.inputs[0].shape[1:]), dtype=dtype), verbose=0)
        models[manifest["run_id"]] = (model, dtype)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a line per request on stderr would cost more than some requests."""

        def do_GET(self) -> None:
            if self.path == "/v2/health/ready":
                return self.answer(200, {"ready": True})
            return self.answer(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            parts = self.path.strip("/").split("/")
            if len(parts) != 4 or parts[3] != "infer" or parts[2] not in models:
                return self.answer(404, {"error": "not found"})
            model, dtype = models[parts[2]]
            tensor = json.loads(body)["inputs"][0]
            x = np.asarray(tensor["data"], dtype=dtype).reshape(tensor["shape"])
            y = np.asarray(model.predict(x, verbose=0), dtype=np.float32)
            output = {"name": "output", "shape": list(y.shape), "datatype": "FP32", "data": y.ravel().tolist()}
            self.answer(200, {"model_name": parts[2], "outputs": [output]})

        def answer(self, status: int, payload: dict[str, Any]) -> None:
            content = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()  # until SIGTERM ends the process


if __name__ == "__main__":
    main()
