"""Pin Keras to the torch backend before any test module imports keras directly."""

import vertical_automl  # noqa: F401  (importing it sets KERAS_BACKEND=torch)
