"""The ``vautoml`` command line: the ``main`` group with the built-in commands, then the plugins' own.

Start-up stays light: the package imports click, rich and the plugin
registry only; Keras and torch load inside a command once it needs them
(``search``, ``predict``, ``evaluate``, ``export``), so ``vautoml --help`` and
``plugins list`` answer at once.  Every
:class:`~vertical_automl.errors.VautomlError` becomes one line on stderr and a
non-zero exit code; ``--debug`` shows the traceback instead (:mod:`.group`).

Plugins' ``register_commands`` hook runs here, on import, because only then
does the group hold every built-in command a plugin's may sit beside.
"""

from ..plugins import get_plugins
from .group import main

get_plugins().call_each("register_commands", lambda record: {"cli": main})

__all__ = ["main"]
