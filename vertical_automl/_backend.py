"""Pin Keras to the PyTorch backend.

Keras reads `KERAS_BACKEND` once, at its first import, and falls back to
TensorFlow (not installed here) otherwise.  So the package sets the variable
before anything can import Keras, and refuses to run on a Keras that some
other code already imported with a different backend: mixing backends gives
errors far from their cause.
"""

from __future__ import annotations

import os
import sys

from .errors import BackendError

REQUIRED_BACKEND = "torch"


def ensure_torch_backend() -> None:
    """Set `KERAS_BACKEND=torch`, or fail if Keras already runs another backend."""
    keras = sys.modules.get("keras")
    if keras is not None:
        active = keras.config.backend()
        if active != REQUIRED_BACKEND:
            raise BackendError(
                f"Keras was already imported with the '{active}' backend, but vautoml runs on '{REQUIRED_BACKEND}'",
                "import vertical_automl before keras, or set KERAS_BACKEND=torch before starting Python",
            )
    os.environ["KERAS_BACKEND"] = REQUIRED_BACKEND
    # OpenMP threads that spin while idle make two torch processes on the same cores (two searches, a search
    # beside a server, a parallel search's workers) slow each other down 30-70x; sleeping ones cost nothing
    # measurable alone (shared/DESIGN.md section 8).  Read once, when torch loads; a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
