"""Errors a user can fix: the CLI prints them as one line and exits with code 2, never a traceback."""


class UserError(Exception):
    """Bad input or environment that the user can correct (wrong flag, missing file, missing extra)."""


class ConfigError(UserError):
    """A config value or file is invalid."""


class MissingExtraError(UserError):
    """An optional dependency group is not installed."""

    def __init__(self, what: str, extra: str, cause: BaseException | None = None):
        detail = f" ({cause})" if cause else ""
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'jamba-eval[{extra}]'{detail}")
        self.extra = extra


class NotAvailableYet(UserError):
    """A command that exists in the command tree but is not built yet."""
