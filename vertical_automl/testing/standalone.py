"""Check (e): the bundle's model stands alone: Keras loads it in safe mode where no vautoml code can be imported.

A downstream app has Keras and the bundle, never vautoml or the plugin; a
model that needs a custom layer, a plugin function or unsafe code works in the
search's process and fails there.  So the model is loaded in a fresh process
whose import system refuses ``vertical_automl`` and every module of the
plugin, and its predictions are compared with the same model's in this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from ..bundle.files import MODEL_FILE
from .failure import Failure
from .runs import Shared
from .subject import Subject

TOLERANCE = 1e-5
ROWS = 32
SECONDS = 300

SCRIPT = textwrap.dedent(
    """
    import json, sys
    blocked = tuple(json.loads(sys.argv[1]))
    class Blocked:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked:
                raise ImportError(f"{name} is blocked: a bundle must load without it")
            return None
    sys.meta_path.insert(0, Blocked())
    for name in list(sys.modules):
        if name.split(".")[0] in blocked:
            del sys.modules[name]
    import keras
    import numpy as np
    model = keras.saving.load_model(sys.argv[2], safe_mode=True)
    x = np.load(sys.argv[3])
    np.save(sys.argv[4], np.asarray(model.predict(x, verbose=0)))
    """
)


def plugin_packages(subject: Subject) -> list[str]:
    """The top-level packages of the vertical's code (builder, loaders, kinds), and vautoml: what an app lacks.

    A package another distribution installs (NumPy, say, when a loader is a
    NumPy function) is left importable: the app would have it too.
    """
    from importlib.metadata import packages_distributions

    vertical, record = subject.vertical()
    functions = [vertical.build_model, vertical.default_data, vertical.usage_code, vertical.report_sections]
    for loader in subject.plugins.loaders_for(subject.name):
        functions += [loader.can_load, loader.load]
        if loader.kind is not None:
            functions += [loader.kind.read, loader.kind.encoder]
    tops = {module.split(".")[0] for f in functions if f is not None and (module := getattr(f, "__module__", None))}
    owners = packages_distributions()
    theirs = {top for top in tops if owners.get(top) and record.distribution not in owners[top]}
    return sorted({"vertical_automl", *(tops - theirs)})


def check_standalone(subject: Subject, shared: Shared) -> None:
    """``keras.saving.load_model(safe_mode=True)`` without vautoml or the plugin predicts as this process does."""
    from ..predictor import load_model

    bundle = shared.first().path
    x = np.asarray(shared.dataset().test.x[:ROWS])
    expected = np.asarray(load_model(bundle).predict(x, verbose=0))
    folder = subject.workdir / "standalone"
    folder.mkdir(exist_ok=True)
    np.save(folder / "x.npy", x)
    blocked = plugin_packages(subject)
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    arguments = [json.dumps(blocked), str(bundle / MODEL_FILE), str(folder / "x.npy"), str(folder / "out.npy")]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *arguments], capture_output=True, text=True, env=env, cwd=folder, timeout=SECONDS
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        raise Failure(
            f"the bundle's {MODEL_FILE} does not load in safe mode without {', '.join(blocked)}: {last}",
            "build the model from stock Keras layers only (no custom layers, Lambda layers or plugin functions)",
        )
    got = np.load(folder / "out.npy")
    difference = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")
    if not difference <= TOLERANCE:
        raise Failure(
            f"loaded without vautoml, the model predicts up to {difference:.3g} away from this process "
            f"(shapes {got.shape} and {expected.shape}; at most {TOLERANCE:g} allowed)",
            "keep everything the model computes in its layers and weights (no state outside the saved model)",
        )
