//! The tenant registry: tenant entries in a sharded hash table, found with one hash per
//! lookup, names stored inline in the entry (no extra pointer chase for short names).

use crate::governor::TenantEntry;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

const SHARD_BITS: u32 = 6;

/// A tenant name: inline up to 22 bytes (24 bytes in all), on the heap beyond.
#[derive(Clone)]
pub(crate) enum TenantName {
    Inline { len: u8, buf: [u8; 22] },
    Heap(Box<str>),
}

impl TenantName {
    pub fn new(s: &str) -> Self {
        if s.len() <= 22 {
            let mut buf = [0u8; 22];
            buf[..s.len()].copy_from_slice(s.as_bytes());
            TenantName::Inline { len: s.len() as u8, buf }
        } else {
            TenantName::Heap(s.into())
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            TenantName::Inline { len, buf } => &buf[..usize::from(*len)],
            TenantName::Heap(s) => s.as_bytes(),
        }
    }

    pub fn as_str(&self) -> &str {
        // Always built from a `&str`, so this never fails.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl std::fmt::Debug for TenantName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

type Shard = RwLock<HashTable<Arc<TenantEntry>>>;

/// How a registry keys its entries (statically dispatched so it inlines).
pub(crate) trait KeyOf {
    fn key(e: &TenantEntry) -> &[u8];
}

/// Byte equality in 8-byte words: no `memcmp` call for the short keys tenant names are.
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    let word = |c: &[u8]| u64::from_ne_bytes(<[u8; 8]>::try_from(c).unwrap_or_default());
    ac.zip(bc).all(|(x, y)| word(x) == word(y)) && ar.iter().zip(br).all(|(x, y)| x == y)
}

/// Entries keyed by a byte string derived from the entry (its name, or its id).
pub(crate) struct Registry<K: KeyOf> {
    shards: Box<[Shard]>,
    hasher: foldhash::fast::RandomState,
    _key: std::marker::PhantomData<K>,
}

fn read(l: &Shard) -> RwLockReadGuard<'_, HashTable<Arc<TenantEntry>>> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write(l: &Shard) -> RwLockWriteGuard<'_, HashTable<Arc<TenantEntry>>> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl<K: KeyOf> Registry<K> {
    pub fn new() -> Self {
        let shards = (0..1usize << SHARD_BITS).map(|_| RwLock::new(HashTable::new())).collect();
        Self { shards, hasher: foldhash::fast::RandomState::default(), _key: std::marker::PhantomData }
    }

    #[inline]
    fn locate(&self, key: &[u8]) -> (u64, &Shard) {
        let h = self.hasher.hash_one(key);
        (h, &self.shards[(h >> (64 - SHARD_BITS)) as usize])
    }

    /// Runs `f` on the entry under the shard's read lock.
    #[inline]
    pub fn with<R>(&self, key: &[u8], f: impl FnOnce(&Arc<TenantEntry>) -> R) -> Option<R> {
        let (h, shard) = self.locate(key);
        let g = read(shard);
        g.find(h, |e| bytes_eq(K::key(e), key)).map(f)
    }

    /// Inserts if no entry has the same key; returns false otherwise.
    pub fn insert_new(&self, entry: Arc<TenantEntry>) -> bool {
        let key = K::key(&entry);
        let (h, shard) = self.locate(key);
        let mut g = write(shard);
        if g.find(h, |e| bytes_eq(K::key(e), key)).is_some() {
            return false;
        }
        g.insert_unique(h, entry.clone(), |e| self.hasher.hash_one(K::key(e)));
        true
    }

    pub fn remove(&self, key: &[u8]) -> Option<Arc<TenantEntry>> {
        let (h, shard) = self.locate(key);
        let mut g = write(shard);
        g.find_entry(h, |e| bytes_eq(K::key(e), key)).ok().map(|o| o.remove().0)
    }

    /// Every entry (shard by shard; not a consistent snapshot across shards).
    pub fn all(&self) -> Vec<Arc<TenantEntry>> {
        let mut out = Vec::new();
        for s in self.shards.iter() {
            out.extend(read(s).iter().cloned());
        }
        out
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| read(s).len()).sum()
    }
}
