"""The decision threshold of a binary run: the positive class is predicted at or above it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Decision:
    """A threshold on the positive-class probability, chosen on validation data.

    ``method`` says how, in words the report and the model card print.  A
    threshold moved to a refit cut short by the time budget also keeps the
    trials' own threshold and the share of validation examples it called
    positive (:func:`vertical_automl.evaluate.transfer_threshold`).
    """

    threshold: float
    method: str
    validation_examples: int
    trials_threshold: float | None = None
    positive_share: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The fields, leaving out the transfer's two when the threshold was not moved (as earlier bundles)."""
        value: dict[str, Any] = {
            "threshold": self.threshold,
            "method": self.method,
            "validation_examples": self.validation_examples,
        }
        if self.trials_threshold is not None:
            value["trials_threshold"] = self.trials_threshold
            value["positive_share"] = self.positive_share
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Decision:
        return cls(
            threshold=float(value["threshold"]),
            method=str(value.get("method", "")),
            validation_examples=int(value.get("validation_examples", 0)),
            trials_threshold=value.get("trials_threshold"),
            positive_share=value.get("positive_share"),
        )
