"""A Starlette (ASGI) app whose middleware enforces per-tenant limits with tenantguard.

The tenant comes from the ``X-Tenant`` header. A refused check answers ``429 Too Many
Requests`` with ``Retry-After`` (seconds, rounded up) and the decision's stable code; a
throttle or queue decision waits (without blocking the event loop) and then proceeds.

Run: ``uvicorn starlette_app:app`` (any ASGI server). Tested in
``bindings-python/tests/test_starlette_example.py`` with Starlette's test client.
"""

from __future__ import annotations

import math
from typing import Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import tenantguard as tg

CONFIG = """
[tenant_quotas]
default_tier = "free"

[[tenant_quotas.tiers]]
name = "free"
max_qps = 5
burst_allowance = 1.0
enforcement_action = "reject"

[[tenant_quotas.assignments]]
tenant_pattern = "pro_*"
tier = "pro"
"""


class TenantLimitMiddleware(BaseHTTPMiddleware):
    """429 with Retry-After when a tenant is over its limit; unknown tenants get 401."""

    def __init__(self, app: Callable[..., Awaitable[None]], governor: tg.Governor) -> None:
        super().__init__(app)
        self.gov = governor

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        tenant = request.headers.get("x-tenant")
        if not tenant:
            return JSONResponse({"error": "missing X-Tenant header"}, status_code=401)
        try:
            await self.gov.acquire_async(tenant)
        except tg.NotFound:
            return JSONResponse({"error": f"unknown tenant {tenant!r}"}, status_code=401)
        except tg.QuotaExceeded as e:
            retry_s = max(1, math.ceil(e.retry_after_ms / 1000))
            return JSONResponse(
                {"error": "rate limit exceeded", "code": e.code, "limit": e.limit, "retry_after_ms": e.retry_after_ms},
                status_code=429,
                headers={"Retry-After": str(retry_s)},
            )
        with tg.use_tenant(tenant):
            return await call_next(request)


def create_app(governor: tg.Governor) -> Starlette:
    async def hello(request: Request) -> Response:
        return PlainTextResponse(f"hello {tg.current_tenant()}")

    async def quotas(request: Request) -> Response:
        return JSONResponse(governor.status(request.path_params["tenant"]))

    app = Starlette(routes=[Route("/", hello), Route("/admin/tenants/{tenant}/quotas", quotas)])
    app.add_middleware(TenantLimitMiddleware, governor=governor)
    return app


governor = tg.Governor(toml=CONFIG)
for name in ("acme", "pro_bigcorp"):
    governor.register(name)
app = create_app(governor)
