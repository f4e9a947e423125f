"""Make the throwaway verticals in tests/verticals installed plugins, here and in every process a test starts.

Done when this file is imported, before any test module (and the CLI module,
which loads the plugins when imported) is, so the process-wide plugin
registry sees them too.
"""

import os
import sys

from helpers import VERTICALS

sys.path.append(str(VERTICALS))
if "PYTEST_XDIST_WORKER" in os.environ:
    # Several workers share the cores: two torch processes each spinning 2 OpenMP threads on 2 cores slow each
    # other 30-70x, one thread each costs nothing on these small models (DESIGN.md, section 8). Processes the
    # tests start (searches, servers) inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
# A search left to its default runs one worker process per core; pytest-xdist already runs one test process per
# core, and a test's tiny search costs less than starting a worker. So tests search in one process unless they pass
# --workers (the parallel tests) or unset this (the test of the default, in test_study.py).
os.environ.setdefault("VAUTOML_WORKERS", "1")
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(VERTICALS)]))


# Modules whose tests start real search processes and take minutes between them. With --dist loadscope a module
# runs on one worker; started last, such a module leaves the other worker idle at the end of the suite, so they
# start first and the short modules fill in around them.
LONG_MODULES = ("test_parallel_search.py", "test_parallel_postgres.py", "test_resume.py", "test_search_status.py")


def pytest_collection_modifyitems(items: list) -> None:
    items.sort(key=lambda item: item.path.name not in LONG_MODULES)  # stable: each module keeps its own order
