//! A string-keyed map split into independently locked shards, so threads working on
//! different tenants never contend on one lock.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

const SHARDS: usize = 64;

type Shard<V> = RwLock<HashMap<Box<str>, V, foldhash::fast::FixedState>>;

/// A sharded `HashMap<Box<str>, V>`.
pub struct Sharded<V> {
    shards: Box<[Shard<V>]>,
    hasher: foldhash::fast::RandomState,
}

impl<V> Default for Sharded<V> {
    fn default() -> Self {
        Self::new()
    }
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl<V> Sharded<V> {
    /// An empty map.
    pub fn new() -> Self {
        let hasher = foldhash::fast::RandomState::default();
        let seed = hasher.hash_one(0u8);
        let shards = (0..SHARDS)
            .map(|i| RwLock::new(HashMap::with_hasher(foldhash::fast::FixedState::with_seed(seed ^ i as u64))))
            .collect();
        Self { shards, hasher }
    }

    #[inline]
    fn shard(&self, key: &str) -> &Shard<V> {
        let h = self.hasher.hash_one(key) as usize;
        &self.shards[(h >> 7) % SHARDS]
    }

    /// Runs `f` on the value under a read lock.
    #[inline]
    pub fn with<R>(&self, key: &str, f: impl FnOnce(&V) -> R) -> Option<R> {
        read(self.shard(key)).get(key).map(f)
    }

    /// Runs `f` on the value under a write lock.
    pub fn update<R>(&self, key: &str, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        write(self.shard(key)).get_mut(key).map(f)
    }

    /// Runs `f` on the value, inserting `init()` first if absent.
    pub fn update_or_insert<R>(&self, key: &str, f: impl FnOnce(&mut V) -> R, init: impl FnOnce() -> V) -> R {
        let mut g = write(self.shard(key));
        if let Some(v) = g.get_mut(key) {
            return f(v);
        }
        let v = g.entry(key.into()).or_insert_with(init);
        f(v)
    }

    /// Maps every entry (shard by shard; not a consistent snapshot across shards).
    pub fn collect<T>(&self, mut f: impl FnMut(&str, &V) -> T) -> Vec<T> {
        let mut out = Vec::new();
        for s in self.shards.iter() {
            out.extend(read(s).iter().map(|(k, v)| f(k, v)));
        }
        out
    }
}
