"""What can go wrong with a training request, as types the servicer maps to status codes.

InvalidTrainingSpecError -> INVALID_ARGUMENT, TrainingNotFoundError -> NOT_FOUND,
TrainingConflictError -> ALREADY_EXISTS (same request id, different spec).
"""


class InvalidTrainingSpecError(ValueError):
    """The request cannot become a Job; the message names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class TrainingNotFoundError(LookupError):
    """No training Job of ours has this name."""


class TrainingConflictError(RuntimeError):
    """The request id was already used for a different spec."""
