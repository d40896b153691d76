"""Training objectives. Importing registers the built-ins (see DESIGN.md)."""
from scaa.registry import LOSSES


@LOSSES.register("ce")
class CrossEntropy:
    """Class-weighted cross-entropy (placeholder interface; torch version in scaa.losses)."""

    def __init__(self, class_weight: str | None = "balanced"):
        self.class_weight = class_weight
