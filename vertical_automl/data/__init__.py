"""Data containers, splitting and the loaders shared across verticals."""
