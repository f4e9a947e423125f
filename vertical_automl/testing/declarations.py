"""Check (a): the plugin loaded cleanly and everything it declares is valid.

The core runs these checks too, but spreads their results over ``vautoml
plugins list`` and the first failing search; here they fail together, before
any data is read.
"""

from __future__ import annotations

from .failure import Failure
from .subject import Subject


def check_declarations(subject: Subject) -> None:
    """The plugin's record has no errors, and the vertical, its loaders and their input kinds are valid."""
    vertical, record = subject.vertical()
    if record.errors:
        raise Failure(
            f"plugin {record.label} loaded with errors: {'; '.join(record.errors)}",
            "fix what each error names (vautoml plugins list shows them too)",
        )
    if "register_verticals" not in record.hooks:
        raise Failure(
            f"plugin {record.label} registers {subject.name} without a register_verticals hook",
            "register the vertical from a @hookimpl register_verticals(register) function",
        )
    problems = list(vertical.problems())
    loaders = subject.plugins.loaders_for(subject.name)
    problems += [problem for loader in loaders[len(vertical.loaders) :] for problem in loader.problems()]
    if not loaders:
        problems.append(f"vertical {subject.name!r} has no loaders, so no --data can be read")
    names = [loader.name for loader in loaders]
    problems += [f"two loaders are named {name!r}" for name in sorted({n for n in names if names.count(n) > 1})]
    for loader in loaders:
        if loader.kind is None:
            continue
        declared = subject.plugins.input_kinds.get(loader.kind.name)
        if declared is None or declared[0] != loader.kind:
            owner = f"{declared[1].label}'s" if declared is not None else "no"
            problems.append(
                f"loader {loader.name!r} declares input kind {loader.kind.name!r}, but it resolves to {owner} kind"
            )
    if problems:
        raise Failure("; ".join(problems), "correct the declarations named")
