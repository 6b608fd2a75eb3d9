"""A Python worker for the multi-process Redis tests (the twin of `redis-load worker`).

    python redis_worker.py <store json> <config toml> <rate per s> <seconds> <start at epoch ms>

Offers `rate` checks per second of tenant `acme` for `seconds`, paced, starting at the given
instant, and prints one JSON line: admitted, attempted, errors, startMs, endMs, metrics.
"""

from __future__ import annotations

import json
import sys
import time

import tenantguard as tg


def main() -> None:
    store, config, rate, seconds, start_at = sys.argv[1:6]
    gov = tg.Governor(toml=config, store=json.loads(store))
    gov.register("acme")
    time.sleep(max(0.0, int(start_at) / 1000 - time.time()))
    total = int(float(rate) * float(seconds))
    start_ms, t0 = gov.now_ms(), time.perf_counter()
    admitted = errors = 0
    for i in range(total):
        due = i / float(rate)
        lag = due - (time.perf_counter() - t0)
        if lag > 0:
            time.sleep(lag)
        try:
            if gov.check("acme"):
                admitted += 1
        except tg.TenantGuardError:
            errors += 1
    out = {
        "admitted": admitted,
        "attempted": total,
        "errors": errors,
        "startMs": start_ms,
        "endMs": gov.now_ms(),
        "metrics": gov.store_metrics(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
