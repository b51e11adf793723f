//! A worker's prefix cache: the hashes of prompt blocks whose KV it still holds, evicted least
//! recently used first. A request reuses the leading blocks of its prompt found here (block hashes
//! chain over the prefix, so a match must be contiguous from the first block).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::spec::deployment::PrefixCacheCapacity;
use crate::spec::workload::PREFIX_BLOCK_TOK;

/// Block hashes are already well mixed: hash them with one multiply instead of SipHash.
#[derive(Default)]
pub struct BlockHasher(u64);

impl Hasher for BlockHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (x ^ (x >> 29)).wrapping_mul(0xbf58476d1ce4e5b9);
    }
}

const NIL: u32 = u32::MAX;

struct Node {
    hash: u64,
    prev: u32,
    next: u32,
}

/// LRU set of block hashes with O(1) lookup, touch, insert and eviction.
pub struct PrefixCache {
    capacity: Option<u64>,
    map: HashMap<u64, u32, BuildHasherDefault<BlockHasher>>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Most and least recently used.
    head: u32,
    tail: u32,
}

impl PrefixCache {
    /// `capacity` in blocks; `None` is unbounded.
    pub fn new(capacity: Option<u64>) -> Self {
        PrefixCache { capacity, map: HashMap::default(), nodes: Vec::new(), free: Vec::new(), head: NIL, tail: NIL }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Leading blocks of `blocks` present in the cache.
    pub fn matched(&self, blocks: &[u64]) -> usize {
        blocks.iter().take_while(|h| self.map.contains_key(h)).count()
    }

    /// Records that `blocks` are now cached, evicting the least recently used beyond capacity. The
    /// prompt's blocks are touched last-first, so its first block is the most recently used: a match
    /// must start at the first block, and eviction takes chains from their ends (as vLLM and SGLang
    /// do), never leaving a tail that can no longer match.
    pub fn insert(&mut self, blocks: &[u64]) {
        if self.capacity == Some(0) {
            return;
        }
        for &h in blocks.iter().rev() {
            match self.map.get(&h) {
                Some(&i) => {
                    self.unlink(i);
                    self.push_front(i);
                }
                None => {
                    let i = match self.free.pop() {
                        Some(i) => {
                            self.nodes[i as usize].hash = h;
                            i
                        }
                        None => {
                            self.nodes.push(Node { hash: h, prev: NIL, next: NIL });
                            (self.nodes.len() - 1) as u32
                        }
                    };
                    self.map.insert(h, i);
                    self.push_front(i);
                }
            }
        }
        if let Some(cap) = self.capacity {
            self.shrink_to(cap);
        }
    }

    /// Evicts least recently used blocks until at most `max_blocks` remain (a cache living in the KV
    /// memory that running sequences do not use shrinks as they grow).
    pub fn shrink_to(&mut self, max_blocks: u64) {
        while self.map.len() as u64 > max_blocks {
            let t = self.tail;
            self.unlink(t);
            self.map.remove(&self.nodes[t as usize].hash);
            self.free.push(t);
        }
    }

    fn unlink(&mut self, i: u32) {
        let (p, n) = (self.nodes[i as usize].prev, self.nodes[i as usize].next);
        if p == NIL {
            self.head = n;
        } else {
            self.nodes[p as usize].next = n;
        }
        if n == NIL {
            self.tail = p;
        } else {
            self.nodes[n as usize].prev = p;
        }
    }

    fn push_front(&mut self, i: u32) {
        self.nodes[i as usize].prev = NIL;
        self.nodes[i as usize].next = self.head;
        if self.head != NIL {
            self.nodes[self.head as usize].prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }
}

/// With `auto` capacity a prefix cache holds only blocks of KV memory that live requests do not use:
/// when they grow, cached blocks are evicted first.
pub(super) fn fit_cache_to_free(cache: &mut Option<PrefixCache>, auto: bool, cap_tok: u64, used_tok: u64) {
    if let (true, Some(c)) = (auto, cache) {
        let free_blocks = cap_tok.saturating_sub(used_tok) / PREFIX_BLOCK_TOK as u64;
        if c.len() as u64 > free_blocks {
            c.shrink_to(free_blocks);
        }
    }
}

pub(super) fn new_cache(capacity: PrefixCacheCapacity, kv_capacity_tok: u64) -> Option<PrefixCache> {
    match capacity {
        PrefixCacheCapacity::Off => None,
        PrefixCacheCapacity::Auto => Some(PrefixCache::new(Some(kv_capacity_tok / PREFIX_BLOCK_TOK as u64))),
        PrefixCacheCapacity::Unbounded => Some(PrefixCache::new(None)),
        PrefixCacheCapacity::Blocks(n) => Some(PrefixCache::new(Some(n))),
    }
}

/// Tokens of a `input_tok`-token prompt served from a cache holding its first `matched` blocks; at
/// least the last token is always computed (its logits give the first output token).
pub(super) fn cached_tokens(matched: usize, input_tok: u32) -> u32 {
    (matched as u64 * PREFIX_BLOCK_TOK as u64).min(input_tok.saturating_sub(1) as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_leading_blocks_only() {
        let mut c = PrefixCache::new(None);
        c.insert(&[1, 2, 3]);
        assert_eq!(c.matched(&[1, 2, 3, 4]), 3);
        assert_eq!(c.matched(&[1, 9, 3]), 1);
        assert_eq!(c.matched(&[9, 1]), 0);
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut c = PrefixCache::new(Some(4));
        c.insert(&[1, 2, 3]); // recency, most recent first: 1 2 3
        c.insert(&[10, 11]); // 10 11 1 2 3: evicts 3, the end of the older chain
        assert_eq!(c.len(), 4);
        assert_eq!(c.matched(&[1, 2, 3]), 2);
        assert_eq!(c.matched(&[10, 11]), 2);
        // a prompt longer than the cache keeps its prefix, not its tail
        let mut small = PrefixCache::new(Some(2));
        small.insert(&[5, 6, 7]);
        assert_eq!(small.matched(&[5, 6, 7]), 2);
        small.shrink_to(1);
        assert_eq!(small.matched(&[5, 6, 7]), 1);
        let mut z = PrefixCache::new(Some(0));
        z.insert(&[1]);
        assert!(z.is_empty());
    }

    #[test]
    fn unbounded_matches_a_seen_set() {
        let mut c = PrefixCache::new(None);
        let mut seen = std::collections::HashSet::new();
        let mut x: u64 = 7;
        for _ in 0..2000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let blocks: Vec<u64> = (0..(x >> 60)).map(|b| (x >> 40) % 50 + b * 1000).collect();
            let expect = blocks.iter().take_while(|b| seen.contains(*b)).count();
            assert_eq!(c.matched(&blocks), expect);
            c.insert(&blocks);
            seen.extend(blocks);
        }
    }
}
