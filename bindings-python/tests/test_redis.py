"""The shared Redis store from Python: options, errors, failure policies, and several OS
processes (Rust and Python) enforcing one tenant limit through one real redis-server.

Needs `TG_REDIS_URL` and `TG_REDIS_LOAD` (the `redis-load` worker binary); `scripts/test.sh`
starts a private redis-server and builds the binary. Without them these tests are skipped
locally and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest

import tenantguard as tg

URL = os.environ.get("TG_REDIS_URL")
LOAD = os.environ.get("TG_REDIS_LOAD")
if not URL or not LOAD:
    if os.environ.get("CI") == "true":
        raise RuntimeError("TG_REDIS_URL and TG_REDIS_LOAD must be set in CI (scripts/test.sh sets them)")
    pytest.skip("needs TG_REDIS_URL and TG_REDIS_LOAD (run scripts/test.sh)", allow_module_level=True)
assert URL is not None and LOAD is not None

WORKER = Path(__file__).with_name("redis_worker.py")

# 200 per second, no burst beyond the limit, refusals rejected (not throttled).
CONFIG = (
    '[tenant_quotas]\ndefault_tier = "t"\n[[tenant_quotas.tiers]]\nname = "t"\nmax_qps = 200\n'
    'burst_allowance = 1.0\nmax_connections = 2\nenforcement_action = "reject"\n'
)


def prefix() -> str:
    return "pytest-" + uuid.uuid4().hex[:12]


def dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"redis://127.0.0.1:{port}/"


def test_store_option_shares_one_limit_between_governors() -> None:
    store = {"redis_url": URL, "prefix": prefix(), "time": "caller"}
    a = tg.Governor(toml=CONFIG, store=store)
    b = tg.Governor(toml=CONFIG, store=dict(store, redisUrl=store.pop("redis_url")))
    assert (a.store_kind, b.store_kind) == ("redis", "redis")
    for g in (a, b):
        g.register("acme")
    admitted = sum(1 for i in range(300) if (a if i % 2 else b).check("acme", now_ms=1_000))
    assert admitted == 200
    assert a.store_metrics()["calls_total"] >= 150
    assert "tenantguard_store_calls_total" in a.prometheus()
    lease = a.acquire_lease("acme", now_ms=1_000)
    assert lease.allowed and lease.lease_id is not None
    assert b.concurrency_stats("acme")["active"] == 1
    b.release("acme", lease.lease_id, now_ms=1_000)
    assert a.concurrency_stats("acme")["active"] == 0
    a.flush_store()
    assert a.store_metrics()["pending_releases"] == 0


def test_check_many_takes_one_round_trip() -> None:
    g = tg.Governor(toml=CONFIG, store={"redis_url": URL, "prefix": prefix(), "time": "caller"})
    g.register("acme")
    before = g.store_metrics()["calls_total"]
    out = g.check_many(["acme"] * 250, now_ms=1_000)
    assert g.store_metrics()["calls_total"] - before == 1
    assert sum(1 for d in out if isinstance(d, tg.Decision) and d.allowed) == 200


def test_memory_store_by_default() -> None:
    g = tg.Governor()
    assert g.store_kind == "memory"
    assert g.store_metrics() == {}
    g.flush_store()  # nothing to replay


@pytest.mark.parametrize(
    "store, fragment",
    [
        ({"redis_url": URL, "mode": "eventual"}, "unknown mode"),
        ({"redis_url": URL, "failure_policy": "local:3"}, "(0, 1]"),
        ({"redis_url": URL, "bogus": 1}, "bogus"),
        ({"mode": "federated"}, "without `redis_url`"),
        ("http://example.com", "redis_url"),
        ({"redis_url": URL, "sync_interval_ms": 10}, "federated"),
    ],
)
def test_bad_store_options_are_invalid_arguments(store: Any, fragment: str) -> None:
    with pytest.raises(tg.InvalidArgument) as e:
        tg.Governor(store=store)
    assert fragment in str(e.value)
    assert e.value.code == "INVALID_ARGUMENT"


def test_store_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        tg.Governor(store=42)  # type: ignore[arg-type]


@pytest.mark.parametrize("policy, admitted", [("open", 50), ("closed", 0), ("local:0.5", 100), ("local", 200)])
def test_failure_policies_when_redis_is_unreachable(policy: str, admitted: int) -> None:
    g = tg.Governor(toml=CONFIG, store={"redis_url": dead_url(), "failure_policy": policy, "timeout_ms": 50})
    g.register("acme")
    t = time.perf_counter()
    n = 50 if policy == "open" else 250
    got = sum(1 for _ in range(n) if g.check("acme", now_ms=1_000))
    assert got == admitted
    assert time.perf_counter() - t < 2.0, "bounded by the timeout and the backoff"
    assert g.store_metrics()["fallback_decisions_total"] == n
    # Operations without a policy raise the store error.
    with pytest.raises(tg.StoreError) as e:
        g.add_usage("acme", 10)
    assert e.value.code == "STORE_UNAVAILABLE"


def run_workers(commands: List[List[str]]) -> List[Dict[str, Any]]:
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs


def rust_worker(store: Dict[str, Any], rate: float, seconds: float, start_at: int) -> List[str]:
    return [
        str(LOAD), "worker", "--store", json.dumps(store), "--config", CONFIG, "--rate", str(rate),
        "--seconds", str(seconds), "--start-at-ms", str(start_at),
    ]  # fmt: skip


def python_worker(store: Dict[str, Any], rate: float, seconds: float, start_at: int) -> List[str]:
    return [sys.executable, str(WORKER), json.dumps(store), CONFIG, str(rate), str(seconds), str(start_at)]


def test_rust_and_python_processes_enforce_one_limit() -> None:
    """Two Rust and two Python processes each offer 300/s (6x the 200/s limit in total)."""
    store = {"redis_url": URL, "prefix": prefix()}  # strict mode, Redis server time
    start_at = int(time.time() * 1000) + 1500
    seconds = 3.0
    outs = run_workers(
        [rust_worker(store, 300, seconds, start_at) for _ in range(2)]
        + [python_worker(store, 300, seconds, start_at) for _ in range(2)]
    )
    total = sum(o["admitted"] for o in outs)
    span = (max(o["endMs"] for o in outs) - min(o["startMs"] for o in outs)) / 1000
    # Burst + rate x the measured run, + 1 for the timestamps' ms resolution (the ends are read
    # in different processes) and the unit that refills at the last instant.
    bound = 200 + 200 * span + 1
    print(f"admitted {total} of {sum(o['attempted'] for o in outs)} over {span:.2f}s; bound {bound:.0f}")
    assert all(o["errors"] == 0 for o in outs), outs
    assert all(o["admitted"] > 0 for o in outs), "every process got a share"
    assert total <= bound
    assert total >= 200 * seconds * 0.9, "the limit is used, not starved"


def test_federated_three_processes_with_skewed_traffic() -> None:
    """Three processes offer 70%, 25% and 5% of 5x the limit, in federated mode."""
    store = {"redis_url": URL, "prefix": prefix(), "mode": "federated", "sync_interval_ms": 100}
    start_at = int(time.time() * 1000) + 1500
    seconds = 3.0
    offered = 5 * 200
    outs = run_workers([rust_worker(store, offered * share, seconds, start_at) for share in (0.70, 0.25, 0.05)])
    total = sum(o["admitted"] for o in outs)
    span = (max(o["endMs"] for o in outs) - min(o["startMs"] for o in outs)) / 1000
    # The stated bound (Mode::Federated): burst + rate x (time + one sync interval).
    bound = 200 + 200 * (span + 0.1) + 1
    calls = sum(o["metrics"]["calls_total"] for o in outs)
    print(f"federated: admitted {[o['admitted'] for o in outs]} = {total} over {span:.2f}s; bound {bound:.0f}; {calls} round trips")
    assert total <= bound
    assert total >= 200 * seconds * 0.7
    a, b, c = (o["admitted"] for o in outs)
    assert a > b > c, "allocation follows traffic"
    assert a >= 0.5 * total, "the heaviest process gets the largest share"
    assert calls < sum(o["attempted"] for o in outs) / 2, "most decisions are local"


def test_a_federated_config_opens_its_own_store() -> None:
    """S2 example 5's form: the file names the Redis; the host's options without a URL apply."""
    toml = CONFIG.replace("[tenant_quotas]\n", '[tenant_quotas]\nmode = "federated"\n') + (
        f'[tenant_quotas.federation]\ncoordination_backend = "redis"\nredis_url = "{URL}"\nsync_interval = "100ms"\n'
    )
    g = tg.Governor(toml=toml, store={"prefix": prefix(), "time": "caller"})
    assert g.store_kind == "redis"
    g.register("acme")
    admitted = sum(1 for ms in range(1_000) if g.check("acme", now_ms=1_000_000 + ms))
    # 200/s with a burst of 200 over one second: strict mode would admit 400 in 1000 round
    # trips; federated mode admits from reserved shares, at most one interval more.
    assert 300 <= admitted <= 420
    assert g.store_metrics()["calls_total"] < 500
    with pytest.raises(tg.ConfigError):
        g.reload(toml=CONFIG)  # federated mode cannot be switched off by a reload
