"""Errors a user can cause. The CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """A problem with the user's input: a bad token, a missing file, a wrong checkpoint."""


class InputsTogether(UserError):
    """A problem of several inputs together, none of them wrong alone (weights of 1e6 at T = 1e-300, whose gradient
    overflows float64): an edge that names the input at fault names none, and the message says which inputs."""


class NonFiniteLoss(UserError):
    """Training stopped because the loss became NaN or infinite (a learning rate too high, say).

    `note`, if given, follows the message: the likely cause and what was kept."""

    def __init__(self, where: str, value: float, note: str = "") -> None:
        super().__init__(f"training stopped: the loss became {value} at {where}" + (f" {note}" if note else ""))
        self.where, self.value = where, value
