//! Signatures already verified: a bounded memo of the (algorithm, public key, signature,
//! signed data) tuples that ring accepted, so the same RRSIG over the same RRset is not
//! put through the public-key arithmetic again.
//!
//! A wildcard zone signs `*.zone.` once, and RFC 4035 §5.3.2 rebuilds the signed data
//! with that wildcard owner, so every expansion presents the same octets; its NSEC or
//! NSEC3 proofs are a handful of RRsets that come back with every answer. Those checks
//! dominate a validating forwarder's CPU, and their outcome cannot change while the bytes
//! stay the same: a signature verifies or not as a pure function of the four inputs.
//!
//! What the memo does **not** do: decide anything about policy. The validity window
//! against the clock, the signer and owner, the labels count, the key's tag, algorithm
//! and flags, the caps and the budget are all checked by the caller on every answer,
//! before the memo is consulted; only the call into ring is skipped on a hit.
//!
//! The entry is a SHA-256 digest over every input of the check, each length-prefixed
//! ([`Verified::digest`]): the signed data already holds the RRSIG RDATA without the
//! signature (validity times, key tag, signer, labels, original TTL) and the canonical
//! RRset, so a different record, signature, key or window is a different entry. Only
//! successes are stored; a failure is recomputed each time (and costs its budget).
//! Passing off a forged RRset as a cached one would take a SHA-256 second preimage.
//!
//! Bounded: a fixed number of 4-way sets, each behind its own lock (held for a compare or
//! a copy of 32 octets, never across an await); a full set drops its oldest entry.

use std::sync::Mutex;

use ring::digest;

/// The digest naming one successful verification.
pub type Digest = [u8; 32];

/// An unused slot. A verification whose digest is all zeros (a SHA-256 preimage of zero)
/// is never stored, so no lookup can match an empty slot.
const EMPTY: Digest = [0; 32];

/// Entries per set.
const WAYS: usize = 4;

/// One set: its entries, and the slot the next insertion replaces (oldest first).
#[derive(Default)]
struct Set {
    slots: [Digest; WAYS],
    next: usize,
}

/// The memo of verified signatures, shared by every validation.
pub struct Verified {
    /// The sets; a digest lives in the one its first eight octets pick.
    sets: Box<[Mutex<Set>]>,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl Verified {
    /// A memo holding at most `capacity` entries (rounded up to a multiple of four);
    /// `0` remembers nothing.
    pub fn new(capacity: usize) -> Verified {
        let sets = (0..capacity.div_ceil(WAYS))
            .map(|_| Mutex::new(Set::default()))
            .collect();
        Verified { sets }
    }

    /// Entries it can hold.
    pub fn capacity(&self) -> usize {
        self.sets.len() * WAYS
    }

    /// Memory it takes, in octets (the sets and their locks; fixed at construction).
    pub fn size_in_bytes(&self) -> usize {
        std::mem::size_of::<Verified>() + self.sets.len() * std::mem::size_of::<Mutex<Set>>()
    }

    /// The digest of a verification: `algorithm`, the DNSKEY `public_key`, the RRSIG
    /// `signature` and the `signed_data` (RFC 4034 §3.1.8.1: the RRSIG RDATA without the
    /// signature, then the canonical RRset), each length-prefixed so no two different
    /// tuples share an encoding.
    pub fn digest(
        algorithm: u8,
        public_key: &[u8],
        signature: &[u8],
        signed_data: &[u8],
    ) -> Digest {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"strictdot verified rrsig 1");
        ctx.update(&[algorithm]);
        for part in [public_key, signature, signed_data] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let mut out = EMPTY;
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// The set `d` belongs to, if the memo holds any.
    fn set(&self, d: &Digest) -> Option<&Mutex<Set>> {
        let mut head = [0u8; 8];
        head.copy_from_slice(&d[..8]);
        let n = self.sets.len() as u64;
        (n != 0).then(|| &self.sets[(u64::from_be_bytes(head) % n) as usize])
    }

    /// Whether the verification named by `d` succeeded before (and is still held).
    pub fn contains(&self, d: &Digest) -> bool {
        if *d == EMPTY {
            return false;
        }
        self.set(d).is_some_and(|set| {
            let set = set.lock().unwrap_or_else(|p| p.into_inner());
            set.slots.contains(d)
        })
    }

    /// Remembers that the verification named by `d` succeeded.
    pub fn insert(&self, d: Digest) {
        if d == EMPTY {
            return;
        }
        if let Some(set) = self.set(&d) {
            let mut set = set.lock().unwrap_or_else(|p| p.into_inner());
            if !set.slots.contains(&d) {
                let at = set.next;
                set.slots[at] = d;
                set.next = (at + 1) % WAYS;
            }
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.sets
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.slots.iter().filter(|d| **d != EMPTY).count()
            })
            .sum()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_changes_the_digest() {
        let base = Verified::digest(13, b"key", b"sig", b"data");
        assert_eq!(base, Verified::digest(13, b"key", b"sig", b"data"));
        for other in [
            Verified::digest(14, b"key", b"sig", b"data"),
            Verified::digest(13, b"kez", b"sig", b"data"),
            Verified::digest(13, b"key", b"sif", b"data"),
            Verified::digest(13, b"key", b"sig", b"datb"),
            // The same octets split differently between the fields.
            Verified::digest(13, b"keys", b"ig", b"data"),
            Verified::digest(13, b"key", b"sigd", b"ata"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn remembers_what_was_inserted_and_nothing_else() {
        let memo = Verified::new(64);
        let a = Verified::digest(13, b"key", b"sig", b"a");
        let b = Verified::digest(13, b"key", b"sig", b"b");
        assert!(!memo.contains(&a));
        memo.insert(a);
        memo.insert(a);
        assert!(memo.contains(&a));
        assert!(!memo.contains(&b));
        assert_eq!(memo.len(), 1);
        // The empty slot's pattern is never a hit, nor stored.
        memo.insert(EMPTY);
        assert!(!memo.contains(&EMPTY));
        assert_eq!(memo.len(), 1);
    }

    #[test]
    fn capacity_is_a_bound() {
        let memo = Verified::new(10);
        assert_eq!(memo.capacity(), 12);
        let all: Vec<Digest> = (0..1_000u32)
            .map(|i| Verified::digest(13, b"key", b"sig", &i.to_be_bytes()))
            .collect();
        for d in &all {
            memo.insert(*d);
            assert!(memo.len() <= 12);
        }
        assert_eq!(memo.len(), 12);
        // The latest insertion is always held; most early ones are gone.
        assert!(memo.contains(&all[999]));
        assert!(all.iter().filter(|d| memo.contains(d)).count() == 12);
        // 4,096 entries: 32 octets each plus a lock and a counter per four.
        let default = Verified::new(4_096);
        assert!(
            default.size_in_bytes() < 4_096 * 48,
            "{}",
            default.size_in_bytes()
        );
        let off = Verified::new(0);
        off.insert(all[0]);
        assert!(!off.contains(&all[0]));
        assert!(off.is_empty());
    }
}
