"""Throwaway verticals for the core's tests: one per kind of data (images, texts, tables).

The core's tests must not depend on a built-in vertical: a change to the
vision or medical plugin would otherwise break, or silently weaken, tests of
the registry, resuming, exports or error messages.  These verticals are built
from the core's public API only and keep their models tiny so the tests stay
fast.  ``throwaway_verticals-0.1.0.dist-info`` beside this package gives them
entry points in the ``vautoml`` group, so a folder holding both, put on
``sys.path`` or ``PYTHONPATH`` (``tests/conftest.py`` does), makes them
installed plugins for the CLI in a fresh process exactly as a third-party
distribution would be.  Modules import Keras only inside ``build_model``, so
``vautoml plugins list`` stays light.
"""

DISTRIBUTION = "throwaway-verticals"
