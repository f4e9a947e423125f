"""``python -m vertical_automl.cli``: the console script itself, named ``vautoml`` in its usage lines."""

import sys

from . import main

sys.exit(main(prog_name="vautoml"))
