"""Domain errors raised by services and mapped to HTTP answers once, in the
app factory (see ``portal.register_error_handlers``)."""

from __future__ import annotations


class PortalError(Exception):
    """Base class of the portal's own errors."""

    status = 400

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message


class NotFound(PortalError):
    """The thing does not exist, or the caller may not know that it does."""

    status = 404


class PermissionDenied(PortalError):
    """The caller is known but may not do this."""

    status = 403


class ValidationFailed(PortalError):
    """Input was refused. ``errors`` maps a field name to a list of messages
    in words a municipal employee understands."""

    status = 400

    def __init__(self, errors: dict[str, list[str]], message: str = ""):
        super().__init__(message or "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class Conflict(PortalError):
    """Someone else saved the same thing first."""

    status = 409
