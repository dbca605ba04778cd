"""The case service's errors: a refusal the person is told about (ServiceError), and one for want of permission.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session


class ServiceError(Exception):
    """A clear, user-facing reason why something was not done. Nothing was changed.

    ``record``, when given, writes the refusal's audit entry into a session: a service never commits its caller's
    session (which may hold half of the caller's work), so whoever owns the unit of work rolls back and then keeps
    the record (storage.db.keep_after_rollback; a session from storage.db.session_factory does it by itself when
    the error leaves its ``with`` block)."""

    def __init__(self, message: str, *, record: Callable[[Session], object] | None = None):
        super().__init__(message)
        self.message = message
        self.record = record


class PermissionDenied(ServiceError):
    pass
