"""Errors a user can cause. The CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """A problem with the user's input: a bad token, a missing file, a wrong checkpoint."""
