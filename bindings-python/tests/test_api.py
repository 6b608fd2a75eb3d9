"""The Python surface: decisions, tenants, leases, usage, plans, config, errors, idioms."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from pathlib import Path
from types import MappingProxyType
from typing import Any, Dict, List

import pytest

import tenantguard as tg

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "config"

REJECTING = '[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = "free"\nenforcement_action = "reject"\n'


def test_decision_is_a_frozen_object_with_repr() -> None:
    gov = tg.Governor()
    gov.register("acme", plan="free")
    d = gov.check("acme", now_ms=1_000)
    assert isinstance(d, tg.Decision)
    assert (d.allowed, d.action, d.code, d.resource, d.limit, d.remaining) == (True, "allow", None, "qps", 100, 149)
    assert bool(d) is True
    assert repr(d).startswith("Decision(allowed=True, action='allow', code=None, resource='qps', limit=100")
    with pytest.raises(AttributeError):
        d.allowed = False  # type: ignore[misc]
    assert d.to_dict()["retry_after_ms"] == 0
    # Decisions compare by value: the same inputs in another governor give an equal decision.
    other = tg.Governor()
    other.register("acme", plan="free")
    assert other.check("acme", now_ms=1_000) == d
    assert gov.peek("acme", now_ms=1_000) != d  # one unit fewer remains


def test_throttle_queue_reject_and_shadow() -> None:
    gov = tg.Governor()
    gov.register("f", plan="free")
    gov.register("p", plan="pro")
    for _ in range(150):
        gov.check("f", now_ms=0)
    d = gov.check("f", now_ms=0)
    assert (d.allowed, d.action, d.delay_ms, d.code) == (True, "throttle", 10, "RATE_LIMITED")
    for _ in range(1000):
        gov.check("p", now_ms=0)
    assert gov.check("p", now_ms=0).action == "queue"
    strict = tg.Governor(toml=REJECTING)
    strict.register("s")
    results = [strict.check("s", now_ms=0).allowed for _ in range(151)]
    assert results.count(True) == 150
    strict.set_shadow("s")
    d = strict.check("s", now_ms=0)
    assert d.allowed and d.shadow and d.code == "RATE_LIMITED"


def test_tenants_plans_and_dicts_are_snake_case() -> None:
    gov = tg.Governor()
    t = gov.register("acme", plan="starter", isolation="SharedSchema", now_ms=5)
    assert t["plan_id"] == "starter" and t["limits"]["max_qps"] == 250 and t["created_at_ms"] == 5
    assert gov.tenant_by_id(t["id"])["name"] == "acme"
    assert [x["name"] for x in gov.list_tenants()] == ["acme"]
    plan = gov.plan("free")
    assert plan["resources"][0]["windows"][0]["window_ms"] == 1000
    custom = dict(plan, id="team", is_default=False)
    assert gov.create_plan(custom)["id"] == "team"
    assert gov.change_plan("acme", "team")["plan_id"] == "team"
    assert gov.downgrade("team", "pro") == [t["id"]]
    deleted, fallback, moved = gov.delete_plan("team")
    assert (deleted["id"], fallback, moved) == ("team", "unlimited", [])
    assert gov.check_feature("acme", "cdc").allowed
    assert gov.remove_tenant("acme")["name"] == "acme"


def test_leases_usage_and_transactions() -> None:
    gov = tg.Governor()
    gov.register("acme")
    with gov.connection("acme") as lease:
        assert lease.lease_id is not None
        assert gov.concurrency_stats("acme")["active"] == 1
    assert gov.concurrency_stats("acme")["active"] == 0
    with pytest.raises(RuntimeError):
        with gov.connection("acme"):
            raise RuntimeError("boom")
    assert gov.concurrency_stats("acme")["active"] == 0, "released on exception too"
    assert gov.quota_tracking("acme")["connections_hwm"] == 1
    d = gov.add_usage("acme", 9 * 2**30)
    assert d.action == "warn" and d.code == "QUOTA_WARNING"
    assert not gov.add_usage("acme", 2 * 2**30).allowed
    assert gov.usage_value("acme") == 9 * 2**30
    with gov.transaction("acme") as tx:
        assert tx.touch().allowed
    assert tx.ended is not None and tx.ended.allowed
    gov.record_usage("acme", table_count=3, api_requests=7)
    usage = gov.usage("acme")
    assert usage["table_count"] == 3 and usage["api_requests_in_period"] == 7
    assert gov.status("acme")["tier"] == "free"
    assert "tenantguard_limit{" in gov.prometheus()
    assert gov.violations("acme")["rejected"] == 1


def test_transaction_overrun_raises_for_rollback() -> None:
    gov = tg.Governor()
    gov.register("acme")
    d = gov.begin("acme", now_ms=0)
    assert d.lease_id is not None
    late = gov.end("acme", d.lease_id, now_ms=11_000)
    assert not late.allowed and late.code == "TRANSACTION_TIMEOUT"
    assert gov.expired_leases(now_ms=11_000) == []


def test_errors_are_typed_with_codes() -> None:
    gov = tg.Governor()
    with pytest.raises(tg.NotFound) as nf:
        gov.check("ghost")
    assert nf.value.code == "TENANT_NOT_FOUND" and isinstance(nf.value, LookupError)
    gov.register("acme")
    with pytest.raises(tg.Conflict) as c:
        gov.register("acme")
    assert c.value.code == "TENANT_EXISTS"
    with pytest.raises(tg.InvalidArgument) as ia:
        gov.register("")
    assert ia.value.key == "name" and isinstance(ia.value, ValueError)
    with pytest.raises(tg.InvalidArgument):
        gov.register("b", isolation="Shared")
    with pytest.raises(tg.NotFound):
        gov.check("acme", "qpz")
    with pytest.raises(tg.InvalidArgument) as wk:
        gov.acquire_lease("acme", "qps")
    assert wk.value.code == "WRONG_RESOURCE_KIND"
    with pytest.raises(tg.ConfigError) as ce:
        tg.Governor(toml='[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = "x"\nmax_qpz = 1\n')
    assert (ce.value.code, ce.value.key, ce.value.line) == ("CONFIG_INVALID", "tenant_quotas.tiers[0].max_qpz", 4)
    assert isinstance(ce.value, tg.TenantGuardError) and isinstance(ce.value, ValueError)
    with pytest.raises(tg.InvalidArgument):
        tg.Governor({"tenant_quotas": {}}, toml="")
    with pytest.raises(tg.NotFound):
        gov.release("acme", 424242)


def test_wrong_types_raise_type_errors_not_crashes() -> None:
    gov = tg.Governor()
    gov.register("acme")
    with pytest.raises(TypeError):
        gov.check(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gov.check("acme", cost="many")  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        gov.check("acme", cost=-1)
    with pytest.raises(TypeError):
        gov.check("acme", colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        tg.Governor(42)  # type: ignore[arg-type]
    # A config may be any mapping; a sequence is still a TypeError.
    frozen = tg.Governor(MappingProxyType({"tenant_quotas": {"default_tier": "pro"}}))
    assert frozen.register("x")["plan_id"] == "pro"
    with pytest.raises(TypeError):
        tg.Governor([("tenant_quotas", {})])  # type: ignore[arg-type]
    with pytest.raises(tg.InvalidArgument):
        gov.create_plan({"id": "x"})
    with pytest.raises(tg.InvalidArgument):
        gov.record_usage("acme", tables=3)


def test_values_that_contain_themselves_raise_instead_of_crashing() -> None:
    gov = tg.Governor()
    gov.rls_enable("documents")
    gov.create_policy("documents", "tenant_isolation", using="tenant_id = current_tenant()")
    row: Dict[str, Any] = {"tenant_id": "acme"}
    row["self"] = row
    with pytest.raises(tg.InvalidArgument, match="contains itself"):
        gov.can_select("documents", row, {"tenant": "acme"})
    deep: List[Any] = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(tg.InvalidArgument, match="deeper than 128"):
        gov.can_select("documents", {"tenant_id": "acme", "tags": deep}, {"tenant": "acme"})
    plan: Dict[str, Any] = {"id": "loop"}
    plan["features"] = plan
    with pytest.raises(tg.InvalidArgument):
        gov.create_plan(plan)
    # Other containers the conversion walks: a deque, a dataclass.
    from collections import deque
    from dataclasses import dataclass, field

    tags: "deque[Any]" = deque()
    looped = {"tenant_id": "acme", "tags": tags}
    tags.append(looped)
    with pytest.raises(tg.InvalidArgument, match="contains itself"):
        gov.can_select("documents", looped, {"tenant": "acme"})

    @dataclass
    class Node:
        children: List[Any] = field(default_factory=list)

    n = Node()
    n.children.append(n)
    with pytest.raises(tg.InvalidArgument, match="contains itself"):
        gov.can_select("documents", {"tenant_id": "acme", "node": n}, {"tenant": "acme"})
    # Nesting within the limit still converts.
    ok: List[Any] = []
    for _ in range(50):
        ok = [ok]
    assert gov.can_select("documents", {"tenant_id": "acme", "tags": ok}, {"tenant": "acme"})


def test_config_from_dict_json_path_and_hot_reload() -> None:
    gov = tg.Governor(path=str(EXAMPLES / "tiered.toml"))
    assert gov.register("pro_tenant_x")["plan_id"] == "pro"
    gov2 = tg.Governor({"tenant_quotas": {"default_tier": "starter"}})
    assert gov2.register("y")["plan_id"] == "starter"
    gov3 = tg.Governor(json='{"tenant_quotas": {"default_tier": "pro"}}')
    assert gov3.register("z")["plan_id"] == "pro"
    strict = tg.Governor(toml=REJECTING)
    strict.register("a")
    for _ in range(150):
        strict.check("a", now_ms=0)
    report = strict.reload(toml=REJECTING.replace('name = "free"', 'name = "free"\nmax_qps = 200'))
    assert report["changed_tenants"] == ["a"]
    d = strict.check("a", now_ms=0)
    assert (d.allowed, d.limit, d.retry_after_ms) == (False, 200, 5), "counters survive the reload"
    with pytest.raises(tg.ConfigError):
        strict.reload(toml="[tenant_quotas\n")
    assert strict.check("a", now_ms=5).limit == 200, "a failed reload changes nothing"
    with pytest.raises(tg.InvalidArgument):
        strict.reload()


def test_overrides_expire_without_a_call() -> None:
    gov = tg.Governor()
    gov.register("acme")
    t = gov.set_override("acme", "qps", limit=1000, expires_at_ms=10_000, reason="batch", now_ms=0)
    assert t["limits"]["max_qps"] == 1000
    assert gov.check("acme", now_ms=9_999).limit == 1000
    assert gov.check("acme", now_ms=10_000).limit == 100
    assert gov.clear_override("acme", "qps") is True


def test_handle_user_quotas_and_rate_limiter() -> None:
    gov = tg.Governor()
    gov.register("acme")
    h = gov.handle("acme")
    assert h.name == "acme" and h.check(now_ms=0).allowed and h.peek(now_ms=0).remaining == 148
    uq = tg.UserQuotaManager(2)
    uq.set_quota("vip", 3)
    assert uq.check_quota("bob", now_ms=0).allowed and uq.check_quota("bob", now_ms=0).allowed
    with pytest.raises(tg.QuotaExceeded) as q:
        uq.check_quota("bob", now_ms=0)
    assert q.value.code == "RATE_LIMITED" and q.value.retry_after_ms == 60_000 and q.value.limit == 2
    assert q.value.decision is not None and not q.value.decision.allowed
    assert [u for u, *_ in uq.snapshot()] == ["bob", "vip"]
    rl = tg.RateLimiter(window="60s")
    assert rl.window_ms == 60_000
    assert [rl.check("k", 2, now_ms=0) for _ in range(3)] == [True, True, False]
    assert rl.remaining("k", 2, now_ms=0) == 0 and rl.remaining("k", 2, now_ms=120_000) == 2
    with pytest.raises(tg.InvalidArgument):
        tg.RateLimiter(window="soon")
    with pytest.raises(tg.InvalidArgument):  # exactly one of window_ms and window
        tg.RateLimiter()  # type: ignore[call-overload]
    with pytest.raises(tg.InvalidArgument):
        tg.RateLimiter(1_000, window="1s")  # type: ignore[call-overload]


def test_acquire_waits_out_throttles_and_raises_on_reject() -> None:
    gov = tg.Governor(toml='[tenant_quotas]\nmax_throttle_delay = "10ms"\n'
                      '[[tenant_quotas.tiers]]\nname = "free"\nmax_qps = 1000\nburst_allowance = 1.0\n')
    gov.register("acme")
    assert all(gov.acquire("acme", now_ms=0).delay_ms == 0 for _ in range(1000))
    assert [gov.acquire("acme", now_ms=0).delay_ms for _ in range(10)] == list(range(1, 11)), "throttled: slept 1..10 ms"
    with pytest.raises(tg.QuotaExceeded) as q:
        gov.acquire("acme", now_ms=0)
    assert q.value.code == "RATE_LIMITED" and q.value.retry_after_ms == 11 and q.value.resource == "qps"


def test_async_helpers_do_not_block_the_loop() -> None:
    gov = tg.Governor(toml='[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = "free"\nmax_qps = 100\nburst_allowance = 1.0\n'
                      'max_connections = 1\nenforcement_action = "queue"\nmax_queue_wait = "2s"\n')
    gov.register("acme")

    async def main() -> List[str]:
        events: List[str] = []

        async def ticker() -> None:
            for _ in range(5):
                events.append("tick")
                await asyncio.sleep(0.005)

        async def worker(name: str) -> None:
            async with gov.connection_async("acme"):
                events.append(f"{name} in")
                await asyncio.sleep(0.03)
                events.append(f"{name} out")

        now = gov.now_ms()
        for _ in range(100):
            await gov.acquire_async("acme", now_ms=now)
        d = await gov.acquire_async("acme", now_ms=now)  # queued: waits 10 ms without blocking
        assert d.action == "queue" and d.delay_ms == 10
        await asyncio.gather(ticker(), worker("a"), worker("b"))
        async with gov.transaction_async("acme") as tx:
            assert tx.decision.allowed
        return events

    events = asyncio.run(main())
    assert events.index("a out") < events.index("b in"), "the second worker waited for the only connection"
    assert events.count("tick") == 5 and events.index("tick") < events.index("a out"), "the loop kept running"
    assert gov.concurrency_stats("acme")["active"] == 0


def test_tenant_context_is_per_task() -> None:
    gov = tg.Governor()
    gov.register("a")
    gov.register("b")
    with pytest.raises(LookupError):
        tg.current_tenant()

    async def serve(name: str) -> str:
        with tg.use_tenant(name):
            await asyncio.sleep(0.001)
            gov.check_current()
            return tg.current_tenant()

    async def main() -> List[str]:
        return list(await asyncio.gather(*(serve(n) for n in ["a", "b"] * 5)))

    assert asyncio.run(main()) == ["a", "b"] * 5
    seen: List[str] = []
    ctx = contextvars.copy_context()
    with tg.use_tenant("outer"):
        ctx.run(lambda: seen.append(tg._current_tenant.get() or "none"))
        seen.append(tg.current_tenant())
    assert seen == ["none", "outer"], "a context copied before use_tenant does not see it"


def test_threads_hammering_one_tenant_are_not_over_admitted() -> None:
    gov = tg.Governor(toml=REJECTING)
    gov.register("hot")
    admitted: List[int] = []
    lock = threading.Lock()

    def worker() -> None:
        n = sum(1 for _ in range(2000) if gov.check("hot", now_ms=1_000).allowed)
        with lock:
            admitted.append(n)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(admitted) == 150, f"16000 concurrent checks at one instant admit exactly the burst, got {sum(admitted)}"
    assert gov.violations("hot")["rejected"] == 16000 - 150


def test_threads_leases_never_exceed_the_limit() -> None:
    gov = tg.Governor()
    gov.register("db")
    peak: List[int] = []
    held = [0]
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(300):
            d = gov.acquire_lease("db", now_ms=0)
            if d.lease_id is not None:
                with lock:
                    held[0] += 1
                    peak.append(held[0])
                    held[0] -= 1
                gov.release("db", d.lease_id, now_ms=0)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = gov.concurrency_stats("db")
    assert stats["active"] == 0 and stats["high_water_mark"] <= 10 and max(peak) <= 10


def test_row_level_security() -> None:
    gov = tg.Governor()
    gov.rls_enable("documents")
    gov.create_policy("documents", "tenant_isolation", using="tenant_id = current_tenant()")
    gov.create_policy("documents", "not_archived", using="NOT archived", restrictive=True)
    rows = [{"id": 1, "tenant_id": "acme", "archived": False}, {"id": 2, "tenant_id": "beta", "archived": False},
            {"id": 3, "tenant_id": "acme", "archived": True}]
    with tg.use_tenant("acme"):
        ctx = gov.rls_context(user="alice")
    assert ctx["tenant"] == "acme"
    assert gov.can_select("documents", rows[0], ctx) and not gov.can_select("documents", rows[1], ctx)
    assert [r["id"] for r in gov.filter("documents", rows, ctx)] == [1]
    with pytest.raises(tg.PolicyViolation) as v:
        gov.check_insert("documents", {"tenant_id": "beta", "archived": False}, ctx)
    assert v.value.code == "POLICY_VIOLATION" and 'for table "documents"' in str(v.value)
    assert gov.check_update("documents", rows[0], dict(rows[0], archived=False), ctx) is True
    assert gov.check_delete("documents", rows[1], ctx) is False
    sql, params = gov.to_sql("documents", context=ctx)
    assert "$1" in sql and params == ["acme"]
    trace = gov.explain("documents", rows[2], context=ctx)
    assert trace["allowed"] is False and [p["result"] for p in trace["policies"]] == [True, False]
    with pytest.raises(tg.PolicySyntaxError) as s:
        gov.create_policy("documents", "bad", using="tenant_id = = 1")
    assert s.value.code == "POLICY_SYNTAX_ERROR" and isinstance(s.value, ValueError)
    with pytest.raises(tg.Conflict):
        gov.create_policy("documents", "tenant_isolation", using="true")
    with pytest.raises(tg.InvalidArgument):
        gov.create_policy("documents", "x", using="true", command="truncate")
    with pytest.raises(TypeError):
        gov.can_select("documents", [1, 2], ctx)  # type: ignore[arg-type]
    # Any mapping will do, not only a dict: rows and contexts.
    frozen_ctx = MappingProxyType(dict(ctx))
    assert gov.can_select("documents", MappingProxyType(rows[0]), frozen_ctx)
    assert not gov.can_select("documents", MappingProxyType(rows[1]), frozen_ctx)
    assert gov.drop_policy("documents", "not_archived") and gov.can_select("documents", rows[2], ctx)
    assert [p["name"] for p in gov.policies("documents")] == ["tenant_isolation"]


def test_check_many_answers_in_order_with_errors_as_values() -> None:
    gov = tg.Governor(toml=REJECTING.replace('name = "free"\n', 'name = "free"\nmax_qps = 2\nburst_allowance = 1.0\n'))
    gov.register("acme")
    out = gov.check_many(["acme", ("acme", "qps"), ("acme", "qps", 1), "ghost", ("acme", "nope", 1)], now_ms=1_000)
    assert [type(o).__name__ for o in out] == ["Decision", "Decision", "Decision", "NotFound", "NotFound"]
    assert [o.allowed for o in out[:3] if isinstance(o, tg.Decision)] == [True, True, False]
    assert isinstance(out[3], tg.TenantGuardError) and out[3].code == "TENANT_NOT_FOUND"
    with pytest.raises(TypeError):
        gov.check_many([("acme", "qps", -1)])
    with pytest.raises(TypeError):
        gov.check_many([42])  # type: ignore[list-item]
