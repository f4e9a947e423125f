"""Checks for loader options (``-O KEY=VALUE``), shared by every loader."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import DataError


def check_options(options: Mapping[str, str], allowed: tuple[str, ...], source: str) -> None:
    """Reject loader options this loader does not use, so a typo is not silently ignored."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) if allowed else "none"
        raise DataError(f"unknown data option(s) {', '.join(unknown)} for {source}", f"use only these: {accepted}")


def parse_bool(text: str, option: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise DataError(f"option {option}={text!r} is not true or false", f"use {option}=true or {option}=false")
