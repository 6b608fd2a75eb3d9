"""ns per check from Python: tenantguard beside `limits` (MemoryStorage, moving window) and
`token-bucket`, in the same run. Best of 5; compare ratios within one run.

    python bench/bench.py          # full
    python bench/bench.py --quick  # CI smoke run
"""

from __future__ import annotations

import sys
import time
from typing import Callable, List, Optional

import limits
import limits.storage
import limits.strategies
import token_bucket

import tenantguard as tg

QUICK = "--quick" in sys.argv
N = 50_000 if QUICK else 1_000_000
CONFIG = '[tenant_quotas]\ndefault_tier = "bench"\n[[tenant_quotas.tiers]]\nname = "bench"\nmax_qps = 1000000000\nenforcement_action = "reject"\n'


def best_of(runs: int, f: Callable[[], int]) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter_ns()
        n = f()
        best = min(best, (time.perf_counter_ns() - t) / n)
    return best


def row(label: str, ours: float, peers: List[Optional[float]]) -> None:
    cells = "".join(f"{p:>14.0f} ns {p / ours:>6.1f}x" if p else f"{'-':>25}" for p in peers)
    print(f"{label:<36} {ours:>9.0f} ns{cells}")


def main() -> None:
    gov = tg.Governor(toml=CONFIG)
    names = [f"tenant-{i:05d}" for i in range(10_000)]
    for n in names:
        gov.register(n)
    hot = names[0]
    handle = gov.handle(hot)
    check = gov.check

    def tg_hot() -> int:
        for i in range(N):
            check(hot, "qps", 1, i >> 10)
        return N

    def tg_handle() -> int:
        c = handle.check
        for i in range(N):
            c("qps", 1, i >> 10)
        return N

    def tg_round_robin() -> int:
        for i in range(N):
            check(names[i % 10_000], "qps", 1, i >> 10)
        return N

    handles = [gov.handle(n) for n in names]

    def tg_handles_round_robin() -> int:
        for i in range(N):
            handles[i % 10_000].check("qps", 1, i >> 10)
        return N

    def tg_default_clock() -> int:
        for _ in range(N):
            check(hot)
        return N

    mem = limits.storage.MemoryStorage()
    moving = limits.strategies.MovingWindowRateLimiter(mem)
    item = limits.parse("1000000000/second")

    def limits_hot() -> int:
        for _ in range(N):
            moving.hit(item, hot)
        return N

    def limits_round_robin() -> int:
        for i in range(N):
            moving.hit(item, names[i % 10_000])
        return N

    bucket = token_bucket.Limiter(1_000_000_000, 1_000_000_000, token_bucket.MemoryStorage())

    def bucket_hot() -> int:
        for _ in range(N):
            bucket.consume(hot)
        return N

    def bucket_round_robin() -> int:
        for i in range(N):
            bucket.consume(names[i % 10_000])
        return N

    print(f"tenantguard Python bench ({'quick' if QUICK else 'full'}; {N} calls; best of 5)\n")
    print(f"{'case':<36} {'tenantguard':>12} {'limits (moving)':>25}{'token-bucket':>25}")
    row("check, hot tenant (now_ms given)", best_of(5, tg_hot), [best_of(5, limits_hot), best_of(5, bucket_hot)])
    row("check, hot tenant (system clock)", best_of(5, tg_default_clock), [None, None])
    row("check via TenantHandle, hot", best_of(5, tg_handle), [None, None])
    row("check, 10,000 tenants round-robin", best_of(5, tg_round_robin),
        [best_of(5, limits_round_robin), best_of(5, bucket_round_robin)])
    row("check via TenantHandle, 10,000 tenants", best_of(5, tg_handles_round_robin), [None, None])

    def loop_hot() -> int:
        x = 0
        for i in range(N):
            x += (i >> 10) & 1
        return N

    def loop_round_robin() -> int:
        x = 0
        for i in range(N):
            x += len(names[i % 10_000]) + ((i >> 10) & 1)
        return N

    print(f"\nPython loop bookkeeping alone (no call): {best_of(5, loop_hot):.0f} ns (hot loops), "
          f"{best_of(5, loop_round_robin):.0f} ns (round-robin loops); included in every figure above")

    def empty() -> int:
        f = gov.now_ms
        for _ in range(N):
            f()
        return N

    print(f"reference: an empty native call (Governor.now_ms) costs {best_of(5, empty):.0f} ns here")


if __name__ == "__main__":
    main()
