"""User-facing errors: the CLI prints their message on one line and exits with their code."""


class UserError(Exception):
    """A mistake in the user's input (bad path, unknown key, malformed file): exit code 2, no traceback."""

    exit_code = 2
