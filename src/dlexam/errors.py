"""Errors a user can cause. The CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """A problem with the user's input: a bad token, a missing file, a wrong checkpoint."""


class NonFiniteLoss(UserError):
    """Training stopped because the loss became NaN or infinite (a learning rate too high, say)."""

    def __init__(self, where: str, value: float) -> None:
        super().__init__(f"training stopped: the loss became {value} at {where}")
        self.where, self.value = where, value

