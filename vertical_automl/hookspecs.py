"""The hooks a vautoml plugin can implement.

This module is the plugin author's reference.  A plugin is any importable
module or object named by an entry point in the ``vautoml`` group::

    [project.entry-points.vautoml]
    acme = "vautoml_acme"

and decorates functions with :data:`hookimpl`::

    from vertical_automl import hookimpl, Vertical

    @hookimpl
    def register_verticals(register):
        register(Vertical(name="acme", ...))

Hooks receive a ``register`` callback instead of returning values, so one
implementation can register several things and a broken one is reported
against the plugin that owns it.  Keep plugin modules light to import: import
Keras, torch or PIL inside the functions that use them, so ``vautoml --help``
and ``vautoml plugins list`` stay fast.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("vautoml")
hookimpl = pluggy.HookimplMarker("vautoml")


@hookspec
def register_verticals(register):
    """Register industry verticals.

    Call ``register(vertical)`` once per :class:`vertical_automl.Vertical`.
    Vertical names are global: two plugins registering the same name is an
    error that names both, and neither is used until one is disabled
    (``VAUTOML_DISABLE_PLUGINS``).
    """


@hookspec
def register_data_loaders(register):
    """Register extra data loaders for existing verticals.

    Call ``register(loader, vertical="name")`` with a
    :class:`vertical_automl.DataLoader`.  Loaders registered here are tried
    after the vertical's own loaders, in registration order; the first whose
    ``can_load(path)`` is true reads the data.  A loader for a vertical no
    installed plugin provides, or whose declaration has problems
    (``DataLoader.problems()``), is refused: ``vautoml plugins list`` shows
    why, against your plugin.

    ``load`` returns :class:`vertical_automl.LabeledData`.  Arrays the model
    can take as they are go in ``x``; inputs that need statistics learned
    from data (categories, a vocabulary) go in raw, with an unfitted
    :class:`vertical_automl.Encoder` in ``encoder``: the core fits it on the
    training split only, encodes every split with it and writes its
    ``spec()`` into ``preprocessing.json``.  The core's table and text
    loaders (``vertical_automl.data.tabular``, ``vertical_automl.data.text``)
    work this way.
    """


@hookspec
def register_commands(cli):
    """Add commands to the ``vautoml`` command-line interface.

    ``cli`` is the top-level :class:`click.Group`; use ``@cli.command()`` or
    ``cli.add_command(...)``.  Commands should import heavy libraries inside
    their callback, not at module level.
    """
