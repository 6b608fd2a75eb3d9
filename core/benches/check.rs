#![allow(missing_docs)] // criterion_group! generates an undocumented function
#![allow(clippy::unwrap_used)] // benchmark setup: a failure here is a broken benchmark
//! Criterion benchmarks of the check path (`cargo bench -p tenantguard`). The bench binary
//! `tests/bench` prints the same cases beside `governor` in one run; see BENCHMARKS.md.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tenantguard::{Config, Governor, IsolationMode};

const CONFIG: &str = "[tenant_quotas]\ndefault_tier = \"bench\"\n[[tenant_quotas.tiers]]\nname = \"bench\"\nmax_qps = 1000000000\nenforcement_action = \"reject\"\n";

fn governor_with(n: usize) -> (Governor, Vec<String>) {
    let gov = Governor::builder().config(Config::from_toml(CONFIG).unwrap()).build();
    let names: Vec<String> = (0..n).map(|i| format!("tenant-{i:07}")).collect();
    for name in &names {
        gov.register(name, None, IsolationMode::SharedSchema, 0).unwrap();
    }
    (gov, names)
}

fn bench_checks(c: &mut Criterion) {
    let (gov, names) = governor_with(10_000);
    let mut t = 0u64;
    c.bench_function("check/hot tenant", |b| {
        b.iter(|| {
            t += 1;
            black_box(gov.check(&names[0], "qps", 1, t >> 10).unwrap().allowed)
        })
    });
    let mut i = 0usize;
    c.bench_function("check/10k tenants round-robin", |b| {
        b.iter(|| {
            i += 1;
            if i == names.len() {
                i = 0;
            }
            black_box(gov.check(&names[i], "qps", 1, (t + i as u64) >> 10).unwrap().allowed)
        })
    });
    let h = gov.handle(&names[1]).unwrap();
    c.bench_function("check/handle hot", |b| {
        b.iter(|| {
            t += 1;
            black_box(h.check("qps", 1, t >> 10).unwrap().allowed)
        })
    });
    let strict = Governor::new();
    strict.register("noisy", Some("free"), IsolationMode::SharedSchema, 0).unwrap();
    c.bench_function("check/over limit (reject path)", |b| {
        b.iter(|| black_box(strict.check("noisy", "qps", 1, 0).unwrap().allowed))
    });
    c.bench_function("config/parse S2 example", |b| {
        b.iter(|| black_box(Config::from_toml(include_str!("../../examples/config/tiered.toml")).unwrap()))
    });
}

criterion_group!(benches, bench_checks);
criterion_main!(benches);
