"""The Starlette middleware example answers 429 with Retry-After for a throttled tenant."""

from __future__ import annotations

import sys
from pathlib import Path

from starlette.testclient import TestClient

import tenantguard as tg

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "python"))

import starlette_app  # noqa: E402


def test_noisy_tenant_gets_429_and_others_do_not() -> None:
    gov = tg.Governor(toml=starlette_app.CONFIG)
    gov.register("acme")
    gov.register("pro_bigcorp")
    client = TestClient(starlette_app.create_app(gov))
    codes = [client.get("/", headers={"X-Tenant": "acme"}).status_code for _ in range(8)]
    assert codes.count(200) == 5 and codes.count(429) == 3, codes
    r = client.get("/", headers={"X-Tenant": "acme"})
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    body = r.json()
    assert body["code"] == "RATE_LIMITED" and body["limit"] == 5 and body["retry_after_ms"] > 0
    ok = client.get("/", headers={"X-Tenant": "pro_bigcorp"})
    assert ok.status_code == 200 and ok.text == "hello pro_bigcorp"
    assert client.get("/").status_code == 401
    assert client.get("/", headers={"X-Tenant": "ghost"}).status_code == 401
    status = client.get("/admin/tenants/acme/quotas", headers={"X-Tenant": "pro_bigcorp"}).json()
    assert status["tier"] == "free" and status["violations"]["rejected"] >= 4
