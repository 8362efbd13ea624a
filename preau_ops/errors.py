"""The one exception the CLI turns into a clear message and a non-zero exit."""


class OpsError(Exception):
    """A failure the operator can act on: `message` says what, `hint` what to do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
