"""Make the throwaway verticals in tests/verticals installed plugins, here and in every process a test starts.

Done when this file is imported, before any test module (and the CLI module,
which loads the plugins when imported) is, so the process-wide plugin
registry sees them too.
"""

import os
import sys

from helpers import VERTICALS

sys.path.append(str(VERTICALS))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(VERTICALS)]))
