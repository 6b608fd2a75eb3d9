"""Replays every scenario of tests/conformance/ through the Python API; answers must match.

The corpus is written in the host-neutral vocabulary (camelCase). This runner maps each
operation onto the public Python methods (not onto a JSON pass-through), compares answers
with snake_case keys, and reports errors that Python itself raises for malformed calls
(``TypeError``, ``OverflowError``: unknown argument, wrong type, negative count) as
``INVALID_ARGUMENT`` with key ``request``, the corpus's name for a malformed request.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

import tenantguard as tg

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "conformance"
SCENARIOS = sorted(CORPUS.glob("*.json"))

Json = Any


def snake(s: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), s)


def snake_keys(v: Json) -> Json:
    if isinstance(v, dict):
        return {k if k.startswith("$") else snake(k): snake_keys(x) for k, x in v.items()}
    if isinstance(v, list):
        return [snake_keys(x) for x in v]
    return v


def plain(v: Any) -> Json:
    """Python answers as JSON-like values."""
    if isinstance(v, tg.Decision):
        return v.to_dict()
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def matches(expected: Json, actual: Json, path: str, errs: List[str]) -> None:
    if isinstance(expected, dict) and any(k.startswith("$") for k in expected):
        for k, v in expected.items():
            checks: Dict[str, Callable[[], bool]] = {
                "$gte": lambda: is_num(actual) and actual >= v,
                "$lte": lambda: is_num(actual) and actual <= v,
                "$gt": lambda: is_num(actual) and actual > v,
                "$lt": lambda: is_num(actual) and actual < v,
                "$contains": lambda: isinstance(actual, str) and v in actual,
                "$len": lambda: isinstance(actual, list) and len(actual) == v,
            }
            ok = checks.get(k, lambda: False)()
            if not ok:
                errs.append(f"{path}: expected {k} {v!r}, got {actual!r}")
    elif isinstance(expected, dict):
        if not isinstance(actual, dict):
            errs.append(f"{path}: expected an object, got {actual!r}")
            return
        for k, v in expected.items():
            if k in actual:
                matches(v, actual[k], f"{path}.{k}", errs)
            elif v is not None:
                errs.append(f"{path}.{k}: missing (expected {v!r})")
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            errs.append(f"{path}: expected {expected!r}, got {actual!r}")
            return
        for i, (e, a) in enumerate(zip(expected, actual)):
            matches(e, a, f"{path}[{i}]", errs)
    elif is_num(expected):
        if not is_num(actual) or float(expected) != float(actual):
            errs.append(f"{path}: expected {expected!r}, got {actual!r}")
    elif expected != actual:
        errs.append(f"{path}: expected {expected!r}, got {actual!r}")


def error_dict(e: BaseException) -> Dict[str, Any]:
    if isinstance(e, tg.TenantGuardError):
        d: Dict[str, Any] = {"code": e.code, "message": str(e), "key": e.key, "line": e.line, "column": e.column}
        decision = getattr(e, "decision", None)
        if decision is not None:
            d["decision"] = decision.to_dict()
        return d
    if isinstance(e, (TypeError, OverflowError)):
        return {"code": "INVALID_ARGUMENT", "key": "request", "message": str(e)}
    raise e


class Host:
    """The scenario's governor, per-user quotas and keyed limiters, driven through the API."""

    def __init__(self, gov: tg.Governor, rpm: int) -> None:
        self.gov = gov
        self.users = tg.UserQuotaManager(rpm)
        self.limiters: Dict[str, tg.RateLimiter] = {}
        self.at = 0

    def limiter(self, window: Any) -> tg.RateLimiter:
        key = repr(window)
        if key not in self.limiters:
            self.limiters[key] = tg.RateLimiter(window=window) if isinstance(window, str) else tg.RateLimiter(window)
        return self.limiters[key]

    def run(self, op: str, args: Dict[str, Any], at: int) -> Any:
        self.at = at
        fn: Optional[Callable[..., Any]] = getattr(self, "op_" + snake(op), None)
        if fn is None:
            raise TypeError(f"unknown operation {op!r}")
        kwargs = {snake(k): v for k, v in args.items()}
        if "now_ms" not in kwargs and "now_ms" in fn.__code__.co_varnames[: fn.__code__.co_argcount]:
            kwargs["now_ms"] = at
        return fn(**kwargs)

    # Each op_* takes exactly the corpus arguments (snake_case): an unknown one is a TypeError.

    def op_register_tenant(self, name: str, plan: Optional[str] = None, isolation: str = "SharedSchema", now_ms: Optional[int] = None) -> Any:
        return self.gov.register(name, plan, isolation, now_ms)

    def op_get_tenant(self, tenant: str, now_ms: Optional[int] = None) -> Any:
        return self.gov.tenant(tenant)

    def op_list_tenants(self, now_ms: Optional[int] = None) -> Any:
        return self.gov.list_tenants()

    def op_remove_tenant(self, tenant: str, now_ms: Optional[int] = None) -> Any:
        return self.gov.remove_tenant(tenant)

    def op_check(self, tenant: str, resource: str = "qps", cost: int = 1, now_ms: Optional[int] = None) -> Any:
        return self.gov.check(tenant, resource, cost, now_ms)

    def op_check_many(self, checks: List[Dict[str, Any]], now_ms: Optional[int] = None) -> Any:
        items: List[Any] = []
        for c in checks:
            unknown = sorted(set(c) - {"tenant", "resource", "cost"})
            if unknown:
                raise TypeError(f"unknown field {unknown[0]!r} in a check")
            if "cost" in c:
                items.append((c["tenant"], c.get("resource", "qps"), c["cost"]))
            elif "resource" in c:
                items.append((c["tenant"], c["resource"]))
            else:
                items.append(c["tenant"])
        out = self.gov.check_many(items, now_ms)
        return {"results": [{"error": error_dict(r)} if isinstance(r, BaseException) else plain(r) for r in out]}

    def op_store_metrics(self, now_ms: Optional[int] = None) -> Any:
        return {"kind": self.gov.store_kind, "metrics": self.gov.store_metrics()}

    def op_flush_store(self, now_ms: Optional[int] = None) -> Any:
        self.gov.flush_store()
        return {}

    def op_peek(self, tenant: str, resource: str = "qps", cost: int = 1, now_ms: Optional[int] = None) -> Any:
        return self.gov.peek(tenant, resource, cost, now_ms)

    def op_acquire(self, tenant: str, resource: str, ticket: Optional[int] = None, now_ms: Optional[int] = None) -> Any:
        return self.gov.acquire_lease(tenant, resource, ticket, now_ms)

    def op_release(self, tenant: str, resource: str, lease_id: int, now_ms: Optional[int] = None) -> Any:
        return self.gov.release(tenant, lease_id, resource, now_ms)

    def op_cancel(self, tenant: str, resource: str, lease_id: int, now_ms: Optional[int] = None) -> Any:
        return {"cancelled": self.gov.cancel(tenant, lease_id, resource)}

    def op_concurrency_stats(self, tenant: str, resource: str, now_ms: Optional[int] = None) -> Any:
        return self.gov.concurrency_stats(tenant, resource)

    def op_set_usage(self, tenant: str, amount: int, resource: str = "storage", now_ms: Optional[int] = None) -> Any:
        return self.gov.set_usage(tenant, amount, resource, now_ms)

    def op_add_usage(self, tenant: str, amount: int, resource: str = "storage", now_ms: Optional[int] = None) -> Any:
        return self.gov.add_usage(tenant, amount, resource, now_ms)

    def op_subtract_usage(self, tenant: str, amount: int, resource: str = "storage", now_ms: Optional[int] = None) -> Any:
        return self.gov.subtract_usage(tenant, amount, resource, now_ms)

    def op_begin(self, tenant: str, resource: str, now_ms: Optional[int] = None) -> Any:
        return self.gov.begin(tenant, resource, now_ms)

    def op_touch(self, tenant: str, resource: str, lease_id: int, now_ms: Optional[int] = None) -> Any:
        return self.gov.touch(tenant, lease_id, resource, now_ms)

    def op_end(self, tenant: str, resource: str, lease_id: int, now_ms: Optional[int] = None) -> Any:
        return self.gov.end(tenant, lease_id, resource, now_ms)

    def op_expired_leases(self, now_ms: Optional[int] = None) -> Any:
        return self.gov.expired_leases(now_ms)

    def op_check_feature(self, tenant: str, feature: str) -> Any:
        return self.gov.check_feature(tenant, feature)

    def op_set_override(self, tenant: str, override: Dict[str, Any], now_ms: Optional[int] = None) -> Any:
        def make(resource: str, limit: Optional[int] = None, burst: Optional[float] = None, idle_ms: Optional[int] = None,
                 expires_at_ms: Optional[int] = None, reason: Optional[str] = None) -> Any:
            return self.gov.set_override(tenant, resource, limit=limit, burst=burst, idle_ms=idle_ms,
                                         expires_at_ms=expires_at_ms, reason=reason, now_ms=now_ms)
        return make(**{snake(k): v for k, v in override.items()})

    def op_clear_override(self, tenant: str, resource: str, now_ms: Optional[int] = None) -> Any:
        return {"cleared": self.gov.clear_override(tenant, resource)}

    def op_set_shadow(self, shadow: bool, tenant: Optional[str] = None) -> Any:
        if tenant is None:
            self.gov.set_global_shadow(shadow)
        else:
            self.gov.set_shadow(tenant, shadow)
        return {}

    def op_get_plan(self, plan: str) -> Any:
        return self.gov.plan(plan)

    def op_list_plans(self, now_ms: Optional[int] = None) -> Any:
        return self.gov.list_plans()

    def op_create_plan(self, plan: Dict[str, Any]) -> Any:
        return self.gov.create_plan(snake_keys(plan))

    def op_update_plan(self, plan: Dict[str, Any]) -> Any:
        return {"tenants": self.gov.update_plan(snake_keys(plan))}

    def op_change_plan(self, tenant: str, plan: str, now_ms: Optional[int] = None) -> Any:
        return self.gov.change_plan(tenant, plan, now_ms)

    def op_downgrade(self, **kw: str) -> Any:
        return {"tenants": self.gov.downgrade(kw.pop("from"), kw.pop("to"), **kw)}

    def op_delete_plan(self, plan: str) -> Any:
        deleted, fallback, tenants = self.gov.delete_plan(plan)
        return {"deleted": deleted["id"], "fallback": fallback, "tenants": tenants}

    def op_reload(self, toml: Optional[str] = None, json: Any = None) -> Any:
        if isinstance(json, dict):
            return self.gov.reload(json, toml=toml)
        return self.gov.reload(toml=toml, json=json)

    def op_status(self, tenant: str, now_ms: Optional[int] = None) -> Any:
        return self.gov.status(tenant, now_ms)

    def op_usage(self, tenant: str, now_ms: Optional[int] = None) -> Any:
        return self.gov.usage(tenant)

    def op_record_usage(self, tenant: str, report: Dict[str, Any], now_ms: Optional[int] = None) -> Any:
        self.gov.record_usage(tenant, now_ms, **{snake(k): v for k, v in report.items()})
        return {}

    def op_violations(self, tenant: str, now_ms: Optional[int] = None) -> Any:
        return self.gov.violations(tenant)

    def op_quota_tracking(self, tenant: str, now_ms: Optional[int] = None) -> Any:
        return self.gov.quota_tracking(tenant, now_ms)

    def op_prometheus(self, now_ms: Optional[int] = None) -> Any:
        return {"text": self.gov.prometheus(now_ms)}

    def op_evict_idle(self, now_ms: Optional[int] = None) -> Any:
        return {"evicted": self.gov.evict_idle(now_ms)}

    def op_user_quota_check(self, user: str, now_ms: Optional[int] = None) -> Any:
        return self.users.check_quota(user, now_ms)

    def op_user_quota_set(self, user: str, rpm: int, now_ms: Optional[int] = None) -> Any:
        self.users.set_quota(user, rpm)
        return {}

    def op_user_quota_snapshot(self, now_ms: Optional[int] = None) -> Any:
        return [{"user": u, "rpm": r, "current_count": c, "window_start": w} for u, r, c, w in self.users.snapshot()]

    def op_rate_limiter_check(self, window: Any, key: str, limit: int, now_ms: Optional[int] = None) -> Any:
        return {"allowed": self.limiter(window).check(key, limit, now_ms)}

    def op_rate_limiter_remaining(self, window: Any, key: str, limit: int, now_ms: Optional[int] = None) -> Any:
        return {"remaining": self.limiter(window).remaining(key, limit, now_ms)}

    # Row-level security. Rows and contexts are data (their keys are column and setting names).

    def ctx(self, context: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        c = {snake(k): v for k, v in (context or {}).items()}
        c.setdefault("now_ms", self.at)
        return c

    def op_rls_enable(self, table: str, on: bool = True) -> Any:
        self.gov.rls_enable(table, on)
        return {}

    def op_rls_set_column_types(self, table: str, columns: Dict[str, str]) -> Any:
        self.gov.set_column_types(table, columns)
        return {}

    def op_rls_force(self, table: str, on: bool = True) -> Any:
        self.gov.rls_force(table, on)
        return {}

    def op_rls_create_policy(self, table: str, policy: Dict[str, Any], replace: bool = False) -> Any:
        def create(name: str, using: Optional[str] = None, with_check: Optional[str] = None, command: str = "all",
                   roles: Optional[List[str]] = None, restrictive: bool = False) -> None:
            self.gov.create_policy(table, name, using=using, with_check=with_check, command=command, roles=roles,
                                   restrictive=restrictive, replace=replace)
        create(**{snake(k): v for k, v in policy.items()})
        return {}

    def op_rls_drop_policy(self, table: str, name: str) -> Any:
        return {"dropped": self.gov.drop_policy(table, name)}

    def op_rls_list_policies(self, table: str) -> Any:
        return self.gov.policies(table)

    def op_rls_can_select(self, table: str, row: Any, context: Optional[Dict[str, Any]] = None) -> Any:
        return {"allowed": self.gov.can_select(table, row, self.ctx(context))}

    def op_rls_check_insert(self, table: str, row: Any, context: Optional[Dict[str, Any]] = None) -> Any:
        self.gov.check_insert(table, row, self.ctx(context))
        return {}

    def op_rls_check_update(self, table: str, row: Any, new_row: Any, context: Optional[Dict[str, Any]] = None, reads: bool = False) -> Any:
        return {"updated": self.gov.check_update(table, row, new_row, self.ctx(context), reads)}

    def op_rls_check_delete(self, table: str, row: Any, context: Optional[Dict[str, Any]] = None, reads: bool = False) -> Any:
        return {"deleted": self.gov.check_delete(table, row, self.ctx(context), reads)}

    def op_rls_filter(self, table: str, rows: List[Any], context: Optional[Dict[str, Any]] = None) -> Any:
        return {"indices": self.gov.filter_indices(table, rows, self.ctx(context))}

    def op_rls_explain(self, table: str, row: Any, command: str = "select", context: Optional[Dict[str, Any]] = None) -> Any:
        return self.gov.explain(table, row, command, self.ctx(context))

    def op_rls_to_sql(self, table: str, command: str = "select", context: Optional[Dict[str, Any]] = None) -> Any:
        sql, params = self.gov.to_sql(table, command, self.ctx(context))
        return {"sql": sql, "params": params}


def substitute(v: Json, env: Dict[str, Any]) -> Json:
    if isinstance(v, str) and v.startswith("$") and v[1:] in env:
        return env[v[1:]]
    if isinstance(v, dict):
        return {k: substitute(x, env) for k, x in v.items()}
    if isinstance(v, list):
        return [substitute(x, env) for x in v]
    return v


def lookup(v: Json, path: str) -> Any:
    for seg in path.split("."):
        v = v[int(seg)] if seg.isdigit() else v[snake(seg)]
    return v


def make_governor(doc: Dict[str, Any]) -> tg.Governor:
    cfg = doc.get("config")
    if cfg is None:
        return tg.Governor()
    if "toml" in cfg:
        return tg.Governor(toml=cfg["toml"])
    if isinstance(cfg.get("json"), str):
        return tg.Governor(json=cfg["json"])
    return tg.Governor(cfg["json"])


def replay(path: Path) -> List[str]:
    doc = json.loads(path.read_text())
    errs: List[str] = []
    try:
        gov = make_governor(doc)
    except tg.TenantGuardError as e:
        if "expectConfigError" not in doc:
            return [f"{path.name}: config failed to load: {e}"]
        matches(snake_keys(doc["expectConfigError"]), error_dict(e), f"{path.name}: config error", errs)
        return errs
    if "expectConfigError" in doc:
        return [f"{path.name}: expected a config error, but the config loaded"]
    host = Host(gov, doc.get("userQuotaDefaultRpm", 60))
    env: Dict[str, Any] = {}
    at = 0
    for i, step in enumerate(doc["steps"]):
        at = step.get("at", at)
        where = f"{path.name} step {i} ({step['op']})"
        args = substitute(step.get("args", {}), env)
        expect = snake_keys(substitute(step["expect"], env)) if "expect" in step else None
        expect_error = step.get("expectError")
        if isinstance(expect_error, str):
            expect_error = {"code": expect_error}
        if expect_error is not None:
            expect_error = snake_keys(substitute(expect_error, env))
        tally: Dict[str, int] = {}
        last: Any = None
        for r in range(step.get("repeat", 1)):
            label = f"{where} #{r}" if step.get("repeat", 1) > 1 else where
            try:
                result = plain(host.run(step["op"], args, at))
            except (tg.TenantGuardError, TypeError, OverflowError) as e:
                if expect_error is None:
                    errs.append(f"{label}: unexpected error {error_dict(e)}")
                else:
                    matches(expect_error, error_dict(e), label, errs)
                last = None
            else:
                if expect_error is not None:
                    errs.append(f"{label}: expected error {expect_error}, got {result!r}")
                elif expect is not None:
                    matches(expect, result, label, errs)
                if isinstance(result, dict) and isinstance(result.get("action"), str):
                    tally[result["action"]] = tally.get(result["action"], 0) + 1
                last = result
            if len(errs) > 20:
                return errs
        for action, n in step.get("expectTally", {}).items():
            if tally.get(action, 0) != n:
                errs.append(f"{where}: expected {n} × {action}, got {tally}")
        for var, field in step.get("bind", {}).items():
            try:
                env[var] = lookup(last, field)
            except (KeyError, IndexError, TypeError):
                errs.append(f"{where}: cannot bind {var} to {field} in {last!r}")
    return errs


def test_corpus_is_complete() -> None:
    assert len(SCENARIOS) >= 40, f"the corpus must hold at least 40 scenarios, found {len(SCENARIOS)}"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path) -> None:
    errs = replay(path)
    assert not errs, "\n".join(errs)
