"""Decisions per second and p50/p99 latency on a real Redis, in one run:

- tenantguard strict mode (every decision one EVALSHA round trip), 1 client and 4 clients,
  from Rust (`redis-load bench`) and from Python, and `check_many` (100 checks pipelined in
  one round trip);
- tenantguard federated mode (decisions from local reservations, synced every 100 ms);
- a plain GCRA Lua script called directly with redis-py (the baseline), one call per round
  trip and pipelined 100 at a time.

    TG_REDIS_URL=redis://... TG_REDIS_LOAD=target/release/redis-load python bench/redis_bench.py [--quick]

The limit is set high so every check is admitted and does the full work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from typing import Callable, Dict, List

import redis

import tenantguard as tg

QUICK = "--quick" in sys.argv
N = 2_000 if QUICK else 50_000
URL = os.environ["TG_REDIS_URL"]
LOAD = os.environ["TG_REDIS_LOAD"]
CONFIG = (
    '[tenant_quotas]\ndefault_tier = "bench"\n[[tenant_quotas.tiers]]\nname = "bench"\n'
    'max_qps = 1000000000\nenforcement_action = "reject"\n'
)

# The usual GCRA script (TAT in ms as a string, server TIME), as found in many libraries.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local emission, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + emission
if new_tat - now > burst * emission then return {0, math.ceil(new_tat - now - burst * emission)} end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return {1, 0}
"""


def summary(name: str, lat_ns: List[int], seconds: float) -> Dict[str, object]:
    lat_ns.sort()
    pick = lambda p: lat_ns[min(len(lat_ns) - 1, round((len(lat_ns) - 1) * p))] / 1000  # noqa: E731
    return {"name": name, "perSecond": len(lat_ns) / seconds, "p50Us": pick(0.5), "p99Us": pick(0.99)}


def timed(name: str, n: int, f: Callable[[], object]) -> Dict[str, object]:
    for _ in range(200):
        f()
    lat: List[int] = []
    t0 = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter_ns()
        f()
        lat.append(time.perf_counter_ns() - t)
    return summary(name, lat, time.perf_counter() - t0)


def rust(name: str, store: Dict[str, object], threads: int, batch: int = 1) -> Dict[str, object]:
    out = subprocess.run(
        [LOAD, "bench", "--store", json.dumps(store), "--config", CONFIG, "--checks", str(N), "--threads", str(threads),
         "--batch", str(batch)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return {"name": name, "perSecond": r["perSecond"], "p50Us": r["p50Us"], "p99Us": r["p99Us"]}


def main() -> None:
    rows: List[Dict[str, object]] = []
    prefix = "bench-" + uuid.uuid4().hex[:8]
    strict = {"redis_url": URL, "prefix": prefix + "-s"}
    federated = {"redis_url": URL, "prefix": prefix + "-f", "mode": "federated"}
    rows.append(rust("tenantguard strict, Rust, 1 client", strict, 1))
    rows.append(rust("tenantguard strict, Rust, 4 clients", strict, 4))
    rows.append(rust("tenantguard strict, Rust, check_many x100 (latency = batch / 100)", strict, 1, 100))
    rows.append(rust("tenantguard federated, Rust, 1 client", federated, 1))

    g = tg.Governor(toml=CONFIG, store=strict)
    g.register("py")
    rows.append(timed("tenantguard strict, Python, 1 client", N, lambda: g.check("py")))
    many = ["py"] * 100
    many_lat: List[int] = []
    t0 = time.perf_counter()
    for _ in range(N // 100):
        t = time.perf_counter_ns()
        g.check_many(many)
        many_lat.extend([(time.perf_counter_ns() - t) // 100] * 100)
    rows.append(
        summary("tenantguard strict, Python, check_many x100 (latency = batch / 100)", many_lat, time.perf_counter() - t0)
    )
    gf = tg.Governor(toml=CONFIG, store=federated)
    gf.register("py")
    rows.append(timed("tenantguard federated, Python, 1 client", N, lambda: gf.check("py")))

    r = redis.Redis.from_url(URL)
    script = r.register_script(GCRA)
    key = prefix + ":gcra"
    rows.append(timed("redis-py GCRA script, 1 client", N, lambda: script(keys=[key], args=[0.000001, 1e9])))
    batch = 100

    def pipelined() -> None:
        p = r.pipeline(transaction=False)
        for _ in range(batch):
            script(keys=[key], args=[0.000001, 1e9], client=p)
        p.execute()

    lat = []
    t0 = time.perf_counter()
    for _ in range(N // batch):
        t = time.perf_counter_ns()
        pipelined()
        per = (time.perf_counter_ns() - t) // batch
        lat.extend([per] * batch)
    rows.append(summary(f"redis-py GCRA script, pipelined x{batch} (latency = batch / {batch})", lat, time.perf_counter() - t0))

    print(f"{'':72} {'decisions/s':>12} {'p50 us':>9} {'p99 us':>9}")
    for row in rows:
        print(f"{row['name']:72} {row['perSecond']:12,.0f} {row['p50Us']:9.1f} {row['p99Us']:9.1f}")


if __name__ == "__main__":
    main()
