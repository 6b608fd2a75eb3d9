//! The tenant registry: a sharded hash table found with one hash per lookup; tenant names are
//! stored inline in the entry (no extra pointer chase for short names).

use hashbrown::HashTable;
use std::hash::BuildHasher;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

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

/// An element of a registry: anything that exposes its key bytes.
pub(crate) trait Keyed: Clone {
    fn key(&self) -> &[u8];
}

/// Byte equality in 8-byte words: no `memcmp` call for the short keys tenant names are. The
/// bytes after the last whole word are compared as one word too: the last 8 bytes (4 for
/// shorter keys), which overlap what was already compared.
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() >= 8 {
        let word = |c: &[u8]| u64::from_ne_bytes(<[u8; 8]>::try_from(c).unwrap_or_default());
        return a.chunks_exact(8).zip(b.chunks_exact(8)).all(|(x, y)| word(x) == word(y))
            && a.last_chunk::<8>() == b.last_chunk::<8>();
    }
    if a.len() >= 4 {
        return a.first_chunk::<4>() == b.first_chunk::<4>() && a.last_chunk::<4>() == b.last_chunk::<4>();
    }
    a == b
}

/// Elements in 64 independently locked shards, found with one hash.
pub(crate) struct Registry<T: Keyed> {
    shards: Box<[RwLock<HashTable<T>>]>,
    hasher: foldhash::fast::RandomState,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl<T: Keyed> Registry<T> {
    pub fn new() -> Self {
        let shards = (0..1usize << SHARD_BITS).map(|_| RwLock::new(HashTable::new())).collect();
        Self { shards, hasher: foldhash::fast::RandomState::default() }
    }

    #[inline]
    fn locate(&self, key: &[u8]) -> (u64, &RwLock<HashTable<T>>) {
        let h = self.hasher.hash_one(key);
        (h, &self.shards[(h >> (64 - SHARD_BITS)) as usize])
    }

    /// Runs `f` on the element under the shard's read lock.
    #[inline]
    pub fn with<R>(&self, key: &[u8], f: impl FnOnce(&T) -> R) -> Option<R> {
        self.with_or(key, |e| Some(f(e)), || None)
    }

    /// Runs `f` on the element under the shard's read lock, or `missing` without one. The
    /// answer is built in place: through [`with`](Self::with)'s `Option` a check's decision
    /// was copied twice more (16-byte loads from 8-byte stores, which stall).
    #[inline(always)]
    pub fn with_or<R>(&self, key: &[u8], f: impl FnOnce(&T) -> R, missing: impl FnOnce() -> R) -> R {
        let (h, shard) = self.locate(key);
        let g = read(shard);
        match g.find(h, |e| bytes_eq(e.key(), key)) {
            Some(e) => f(e),
            None => {
                drop(g);
                missing()
            }
        }
    }

    /// Runs `f` on the element under the shard's write lock.
    pub fn update<R>(&self, key: &[u8], f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let (h, shard) = self.locate(key);
        let mut g = write(shard);
        g.find_mut(h, |e| bytes_eq(e.key(), key)).map(f)
    }

    /// Inserts if no element has the same key; returns false otherwise.
    pub fn insert_new(&self, elem: T) -> bool {
        let (h, shard) = self.locate(elem.key());
        let mut g = write(shard);
        if g.find(h, |e| bytes_eq(e.key(), elem.key())).is_some() {
            return false;
        }
        g.insert_unique(h, elem, |e| self.hasher.hash_one(e.key()));
        true
    }

    pub fn remove(&self, key: &[u8]) -> Option<T> {
        let (h, shard) = self.locate(key);
        let mut g = write(shard);
        g.find_entry(h, |e| bytes_eq(e.key(), key)).ok().map(|o| o.remove().0)
    }

    /// Every element (shard by shard; not a consistent snapshot across shards).
    pub fn all(&self) -> Vec<T> {
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

#[cfg(test)]
mod tests {
    use super::bytes_eq;

    #[test]
    fn bytes_eq_is_slice_equality() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
            assert!(bytes_eq(&a, &a.clone()), "len {n}");
            // A difference at any position, and a length difference, are seen.
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x40;
                assert!(!bytes_eq(&a, &b) && !bytes_eq(&b, &a), "len {n}, byte {i}");
            }
            assert!(!bytes_eq(&a, &a[..n.saturating_sub(1)]) || n == 0, "len {n}");
        }
        assert!(bytes_eq(b"", b"") && !bytes_eq(b"qps", b"qpt") && bytes_eq(b"qps", b"qps"));
    }
}
