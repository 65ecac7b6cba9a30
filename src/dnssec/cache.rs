//! The chain cache: what the walk from the trust anchors learned about each name (a
//! secure zone's validated DNSKEY set, no delegation here, an insecure delegation,
//! nonexistence, a bogus chain), bounded in size, each entry dropped once stale.

use std::collections::HashMap;
use std::sync::Arc;

use super::canonical::Name;
use super::records::Dnskey;
use super::Bogus;

/// What the chain knows about one name.
#[derive(Clone, Debug)]
pub(super) enum Node {
    /// A secure zone apex with its validated DNSKEY RRset.
    Keys(Arc<Vec<Dnskey>>),
    /// Inside the zone above: no delegation here.
    NotACut,
    /// At or under a proven insecure delegation.
    Insecure,
    /// Proven not to exist (nor anything below it).
    Nonexistent,
    /// The zone's chain is bogus.
    Bogus(Bogus),
}

struct Entry {
    node: Node,
    /// Unix seconds after which the entry is stale.
    expires: u32,
}

/// The chain cache: bounded, entries dropped when stale.
pub(super) struct ChainCache {
    map: HashMap<Name, Entry>,
    /// Most entries held.
    capacity: usize,
}

impl ChainCache {
    pub(super) fn get(&self, name: &Name, now: u32) -> Option<(Node, u32)> {
        self.map
            .get(name)
            .filter(|e| now < e.expires)
            .map(|e| (e.node.clone(), e.expires))
    }

    pub(super) fn put(&mut self, name: Name, node: Node, expires: u32, now: u32) {
        if self.capacity == 0 || expires <= now {
            return;
        }
        if self.map.len() >= self.capacity && !self.map.contains_key(&name) {
            self.map.retain(|_, e| now < e.expires);
            if self.map.len() >= self.capacity {
                // Still full of live entries: drop an eighth, arbitrary ones.
                let victims: Vec<Name> = self
                    .map
                    .keys()
                    .take(self.capacity.div_ceil(8))
                    .cloned()
                    .collect();
                for v in victims {
                    self.map.remove(&v);
                }
            }
        }
        self.map.insert(name, Entry { node, expires });
    }
}

impl ChainCache {
    /// An empty cache holding at most `capacity` entries.
    pub(super) fn new(capacity: usize) -> ChainCache {
        ChainCache {
            map: HashMap::new(),
            capacity,
        }
    }

    /// Entries held (live or stale).
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text).unwrap()
    }

    #[test]
    fn entries_expire() {
        let mut c = ChainCache::new(8);
        c.put(n("a."), Node::NotACut, 100, 50);
        assert!(matches!(c.get(&n("a."), 99), Some((Node::NotACut, 100))));
        assert!(c.get(&n("a."), 100).is_none());
        // Already stale: not stored.
        c.put(n("b."), Node::Insecure, 10, 10);
        assert!(c.get(&n("b."), 0).is_none());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn capacity_is_a_bound() {
        let mut c = ChainCache::new(8);
        for i in 0..100u32 {
            let name = Name::from_text(&format!("n{i}.")).unwrap();
            c.put(name, Node::Nonexistent, 1_000, 0);
            assert!(c.len() <= 8, "{}", c.len());
        }
        // Stale entries go first.
        let mut c = ChainCache::new(2);
        c.put(n("old."), Node::NotACut, 10, 0);
        c.put(n("live."), Node::NotACut, 1_000, 0);
        c.put(n("new."), Node::NotACut, 1_000, 20);
        assert!(c.get(&n("live."), 20).is_some());
        assert!(c.get(&n("new."), 20).is_some());
        let mut off = ChainCache::new(0);
        off.put(n("a."), Node::NotACut, 1_000, 0);
        assert_eq!(off.len(), 0);
    }
}
