"""A conformance suite for verticals: does a plugin get everything the core promises every vertical?

In the spirit of scikit-learn's ``check_estimator``.  Run it from a plugin's
tests on small sample data::

    from vertical_automl.testing import check_vertical

    def test_conformance(tmp_path):
        check_vertical("myvertical", SAMPLE / "train.csv", test_data=SAMPLE / "test.csv", workdir=tmp_path)

or one test per check, sharing one search (``conformance_checks``, with a
module-scoped fixture and ``pytest.mark.parametrize("name", CHECK_NAMES)``).
The checks (:data:`CHECK_NAMES`): the plugin's declarations are valid; each
loader reads its sample into valid labelled data; the space builds distinct
compiled models fit for the task; a tiny search publishes a bundle; the bundle
loads in safe mode where no vautoml or plugin code can be imported and
predicts the same; ``predict`` and ``evaluate`` reproduce the search's test
metrics; the ONNX export round-trips (skipped without the ONNX packages); the
same seed gives the same trials.  A failure is a :class:`ConformanceError`
(an ``AssertionError``) naming the check, the problem and the fix.

Importing this package loads no Keras, torch or KerasTuner; the checks do, when run.
"""

from .failure import ConformanceError
from .suite import CHECK_NAMES, Check, ConformanceReport, check_vertical, conformance_checks

__all__ = ["CHECK_NAMES", "Check", "ConformanceError", "ConformanceReport", "check_vertical", "conformance_checks"]
