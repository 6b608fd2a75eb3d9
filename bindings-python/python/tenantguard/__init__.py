"""tenantguard: per-tenant resource governance for multi-tenant SaaS, in process.

One deterministic Rust core (plans, quotas, rate limits, decisions with stable codes) behind
a thin Python layer. Every rule lives in the core; this package adds Python idioms only:
exceptions, context managers for leases, waiting out throttle/queue delays (sync and asyncio),
and a ``contextvars`` tenant context.

>>> import tenantguard
>>> gov = tenantguard.Governor()
>>> _ = gov.register("acme", plan="free")
>>> gov.check("acme", now_ms=1_000).allowed
True
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from contextlib import asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Dict, Iterator, List, Mapping, Optional, Sequence

from . import errors
from ._native import Decision, RateLimiter, TenantHandle, UserQuotaManager, __version__
from ._native import Governor as _NativeGovernor
from .errors import (
    Conflict,
    ConfigError,
    InvalidArgument,
    NotFound,
    PolicySyntaxError,
    PolicyViolation,
    QuotaExceeded,
    StoreError,
    TenantGuardError,
)

_current_tenant: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("tenantguard_tenant", default=None)


@contextmanager
def use_tenant(tenant: str) -> Iterator[str]:
    """Sets the current tenant for this context (thread or asyncio task) and restores the
    previous one on exit. Concurrent requests never see each other's tenant."""
    token = _current_tenant.set(tenant)
    try:
        yield tenant
    finally:
        _current_tenant.reset(token)


def current_tenant() -> str:
    """The tenant set by :func:`use_tenant`; raises ``LookupError`` outside one."""
    t = _current_tenant.get()
    if t is None:
        raise LookupError("no current tenant: wrap the call in tenantguard.use_tenant(...)")
    return t


class Transaction:
    """A duration lease (transaction) opened by :meth:`Governor.transaction`."""

    def __init__(self, gov: "Governor", tenant: str, resource: str, decision: Decision) -> None:
        self._gov = gov
        self.tenant = tenant
        self.resource = resource
        self.decision = decision
        self.ended: Optional[Decision] = None

    @property
    def lease_id(self) -> int:
        """The lease id."""
        assert self.decision.lease_id is not None
        return self.decision.lease_id

    def touch(self, now_ms: Optional[int] = None) -> Decision:
        """Records activity; raises ``QuotaExceeded`` (``TRANSACTION_TIMEOUT`` or
        ``IDLE_IN_TRANSACTION_TIMEOUT``) if a deadline has passed: roll back."""
        d = self._gov.touch(self.tenant, self.lease_id, self.resource, now_ms)
        if not d.allowed:
            raise QuotaExceeded.from_decision(d)
        return d

    def _end(self) -> Decision:
        if self.ended is None:
            self.ended = self._gov.end(self.tenant, self.lease_id, self.resource)
        return self.ended


class Governor(_NativeGovernor):
    """The governor, with Python idioms on top of the native checks.

    Native methods (``check``, ``peek``, ``register``, ``acquire_lease``, ``release``,
    ``add_usage``, ``status``, ``reload``, ...) take keyword arguments with defaults;
    ``now_ms`` is optional everywhere (the system clock by default).
    """

    # ----- waiting out throttle / queue decisions -------------------------------------------

    def acquire(self, tenant: str, resource: str = "qps", cost: int = 1, now_ms: Optional[int] = None) -> Decision:
        """Checks ``cost`` units and blocks for a throttle/queue delay if the decision asks
        for one; raises :class:`QuotaExceeded` if refused. Async twin: :meth:`acquire_async`."""
        d = self.check(tenant, resource, cost, now_ms)
        if not d.allowed:
            raise QuotaExceeded.from_decision(d)
        if d.delay_ms:
            time.sleep(d.delay_ms / 1000)
        return d

    async def acquire_async(
        self, tenant: str, resource: str = "qps", cost: int = 1, now_ms: Optional[int] = None
    ) -> Decision:
        """Like :meth:`acquire`, waiting with ``asyncio.sleep`` so the event loop keeps running."""
        d = self.check(tenant, resource, cost, now_ms)
        if not d.allowed:
            raise QuotaExceeded.from_decision(d)
        if d.delay_ms:
            await asyncio.sleep(d.delay_ms / 1000)
        return d

    def check_current(self, resource: str = "qps", cost: int = 1, now_ms: Optional[int] = None) -> Decision:
        """:meth:`check` for the tenant set by :func:`use_tenant`."""
        return self.check(current_tenant(), resource, cost, now_ms)

    # ----- row-level security ----------------------------------------------------------------

    def filter(
        self, table: str, rows: Sequence[Mapping[str, Any]], context: Optional[Mapping[str, Any]] = None
    ) -> List[Mapping[str, Any]]:
        """The rows of ``rows`` visible to SELECT under ``context`` (see :meth:`rls_context`)."""
        return [rows[i] for i in self.filter_indices(table, rows, context)]

    @staticmethod
    def rls_context(
        *,
        tenant: Optional[str] = None,
        user: str = "",
        roles: Sequence[str] = (),
        settings: Optional[Mapping[str, str]] = None,
        bypass: bool = False,
        owner: bool = False,
        now_ms: Optional[int] = None,
    ) -> Dict[str, Any]:
        """A context for the RLS checks; ``tenant`` defaults to :func:`current_tenant` when
        inside :func:`use_tenant`; ``now()`` is the system clock unless ``now_ms`` is given."""
        return {
            "tenant": tenant if tenant is not None else _current_tenant.get(),
            "user": user,
            "roles": list(roles),
            "settings": dict(settings or {}),
            "bypass": bypass,
            "owner": owner,
            "now_ms": now_ms,
        }

    # ----- leases -----------------------------------------------------------------------------

    def _lease_step(self, tenant: str, resource: str, ticket: Optional[int]) -> Decision:
        d = self.acquire_lease(tenant, resource, ticket)
        if d.allowed:
            return d
        if d.action == "queue" and d.ticket is not None:
            return d
        raise QuotaExceeded.from_decision(d)

    def acquire_connection(self, tenant: str, resource: str = "connections") -> Decision:
        """Acquires a lease, waiting (blocking) in the tenant's first-come first-served queue
        when the plan queues; raises :class:`QuotaExceeded` if refused or timed out."""
        d = self._lease_step(tenant, resource, None)
        while not d.allowed:
            time.sleep(max(d.retry_after_ms, 1) / 1000)
            d = self._lease_step(tenant, resource, d.ticket)
        return d

    async def acquire_connection_async(self, tenant: str, resource: str = "connections") -> Decision:
        """Like :meth:`acquire_connection`, waiting with ``asyncio.sleep``."""
        d = self._lease_step(tenant, resource, None)
        while not d.allowed:
            await asyncio.sleep(max(d.retry_after_ms, 1) / 1000)
            d = self._lease_step(tenant, resource, d.ticket)
        return d

    @contextmanager
    def connection(self, tenant: str, resource: str = "connections") -> Iterator[Decision]:
        """``with gov.connection("acme"):`` holds a lease for the block and releases it on
        exit, also when the block raises."""
        d = self.acquire_connection(tenant, resource)
        try:
            yield d
        finally:
            assert d.lease_id is not None
            self.release(tenant, d.lease_id, resource)

    @asynccontextmanager
    async def connection_async(self, tenant: str, resource: str = "connections") -> AsyncIterator[Decision]:
        """``async with gov.connection_async("acme"):``, the asyncio twin of :meth:`connection`."""
        d = await self.acquire_connection_async(tenant, resource)
        try:
            yield d
        finally:
            assert d.lease_id is not None
            self.release(tenant, d.lease_id, resource)

    @contextmanager
    def transaction(self, tenant: str, resource: str = "transaction") -> Iterator[Transaction]:
        """``with gov.transaction("acme") as tx:`` begins a duration lease and ends it on exit.

        If the transaction overran its deadline, leaving the block raises
        :class:`QuotaExceeded` (``TRANSACTION_TIMEOUT``): the host must roll back. An exception
        from the block is re-raised after the lease is ended.
        """
        tx = Transaction(self, tenant, resource, self.begin(tenant, resource))
        try:
            yield tx
        except BaseException:
            tx._end()
            raise
        ended = tx._end()
        if not ended.allowed:
            raise QuotaExceeded.from_decision(ended)

    @asynccontextmanager
    async def transaction_async(self, tenant: str, resource: str = "transaction") -> AsyncIterator[Transaction]:
        """``async with gov.transaction_async("acme") as tx:``, the asyncio twin of :meth:`transaction`."""
        with self.transaction(tenant, resource) as tx:
            yield tx


__all__ = [
    "Governor",
    "Decision",
    "TenantHandle",
    "Transaction",
    "UserQuotaManager",
    "RateLimiter",
    "use_tenant",
    "current_tenant",
    "errors",
    "TenantGuardError",
    "QuotaExceeded",
    "ConfigError",
    "NotFound",
    "InvalidArgument",
    "Conflict",
    "StoreError",
    "PolicyViolation",
    "PolicySyntaxError",
    "__version__",
]
