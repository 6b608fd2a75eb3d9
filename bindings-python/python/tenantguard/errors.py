"""The exception hierarchy. Every error carries the core's stable ``code``.

The native module raises these classes; they are plain Python so they can also inherit the
built-in exception a Python caller would catch (``ValueError``, ``LookupError``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pragma: no cover
    from ._native import Decision


class TenantGuardError(Exception):
    """Base of every tenantguard error.

    Attributes: ``code`` (stable, e.g. ``"TENANT_NOT_FOUND"``), ``key`` (config key path or
    argument name), ``line`` and ``column`` (config position), when known.
    """

    code: str = "TENANTGUARD_ERROR"
    key: Optional[str] = None
    line: Optional[int] = None
    column: Optional[int] = None

    def __init__(self, message: str = "", *, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class QuotaExceeded(TenantGuardError):
    """A request was refused: ``code`` says why (``RATE_LIMITED``, ``CONNECTION_LIMIT``, ...)."""

    resource: Optional[str] = None
    limit: Optional[int] = None
    remaining: Optional[int] = None
    retry_after_ms: int = 0
    decision: Optional["Decision"] = None

    @classmethod
    def from_decision(cls, decision: "Decision") -> "QuotaExceeded":
        """The error for a refused decision."""
        exc = cls(
            f"{decision.code or 'QUOTA_EXCEEDED'} on `{decision.resource}` "
            f"(limit {decision.limit}, retry after {decision.retry_after_ms} ms)",
            code=decision.code or "QUOTA_EXCEEDED",
        )
        exc.resource = decision.resource
        exc.limit = decision.limit
        exc.remaining = decision.remaining
        exc.retry_after_ms = decision.retry_after_ms
        exc.decision = decision
        return exc


class ConfigError(TenantGuardError, ValueError):
    """A configuration is invalid (``code == "CONFIG_INVALID"``); ``key`` and ``line`` say where."""


class NotFound(TenantGuardError, LookupError):
    """No such tenant, plan, resource or lease."""


class InvalidArgument(TenantGuardError, ValueError):
    """An argument is invalid (``key`` names it), or a resource of the wrong kind was used."""


class Conflict(TenantGuardError):
    """The operation conflicts with existing state (tenant or plan exists, protected plan,
    isolation mode not allowed by the plan)."""


class StoreError(TenantGuardError):
    """The state store failed."""


class PolicyViolation(TenantGuardError):
    """A row-level-security check refused a write (raised by the RLS API)."""


class PolicySyntaxError(TenantGuardError, ValueError):
    """A row-level-security policy expression does not parse (raised by the RLS API)."""


__all__ = [
    "TenantGuardError",
    "QuotaExceeded",
    "ConfigError",
    "NotFound",
    "InvalidArgument",
    "Conflict",
    "StoreError",
    "PolicyViolation",
    "PolicySyntaxError",
]
