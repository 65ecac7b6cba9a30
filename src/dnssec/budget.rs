//! The work one validation may do (KeyTrap, CVE-2023-50387; NSEC3 hashing, CVE-2023-50868).
//!
//! Hostile zones can make a validator try every signature against every key with the same
//! tag, or hash a long name many times over. The per-RRset caps ([`Settings`]) stop the
//! worst of that locally; this budget bounds the sum over a whole validation: signature
//! verifications, hash computations (NSEC3 SHA-1 rounds and DS digests) and chain fetches.
//!
//! Running out is **bogus**, not indeterminate: the cost was caused by the data (the
//! zone's keys, signatures or NSEC3 parameters, or the name), so retrying cannot help, and
//! an answer that demanded more work than any sane zone needs must not reach a client as
//! if it were fine. It maps to [`EXHAUSTED`], EDE 6.
//!
//! A signature the memo of verified signatures ([`Verified`]) already holds is charged
//! like one that reaches ring: the caps and this budget count the checks a zone demands,
//! not the CPU they happened to cost, so a crafted zone meets the same limits whether or
//! not some of its signatures were seen before (and only successes are ever remembered).

use super::verified::Verified;
use super::{Bogus, Settings};

/// The verdict when a budget runs out.
pub const EXHAUSTED: Bogus = Bogus::Other("validation work budget exceeded");

/// What is left of one validation's allowance, with the settings, clock and memo of
/// verified signatures it runs under.
#[derive(Debug)]
pub struct Work<'a> {
    /// The caps and skew in force.
    pub settings: &'a Settings,
    /// The validation time, Unix seconds.
    pub now: u32,
    /// Signature verifications left.
    signatures: u32,
    /// Hash computations left (one per SHA-1 round of NSEC3, one per DS digest).
    hashes: u32,
    /// Chain queries (DS, DNSKEY) left.
    fetches: u32,
    /// Signatures verified before, shared across validations (none: verify every time).
    memo: Option<&'a Verified>,
    /// Signature checks the memo answered.
    memo_hits: u32,
}

impl<'a> Work<'a> {
    /// A full allowance under `settings` at `now`.
    pub fn new(settings: &'a Settings, now: u32) -> Work<'a> {
        Work {
            settings,
            now,
            signatures: settings.max_signature_checks,
            hashes: settings.max_hash_ops,
            fetches: settings.max_fetches,
            memo: None,
            memo_hits: 0,
        }
    }

    /// The same allowance, consulting and filling `memo` for signature checks.
    pub fn with_memo(self, memo: &'a Verified) -> Work<'a> {
        Work {
            memo: Some(memo),
            ..self
        }
    }

    /// The memo of verified signatures, if this validation uses one.
    pub fn memo(&self) -> Option<&'a Verified> {
        self.memo
    }

    /// Counts a signature check the memo answered (already charged by
    /// [`Work::signature`]).
    pub fn memo_hit(&mut self) {
        self.memo_hits += 1;
    }

    /// Signature checks the memo answered (counted in [`Work::signatures_used`] too).
    pub fn memo_hits(&self) -> u32 {
        self.memo_hits
    }

    /// Takes one signature verification.
    pub fn signature(&mut self) -> Result<(), Bogus> {
        self.signatures = self.signatures.checked_sub(1).ok_or(EXHAUSTED)?;
        Ok(())
    }

    /// Takes `n` hash computations.
    pub fn hashes(&mut self, n: u32) -> Result<(), Bogus> {
        self.hashes = self.hashes.checked_sub(n).ok_or(EXHAUSTED)?;
        Ok(())
    }

    /// Takes one chain query.
    pub fn fetch(&mut self) -> Result<(), Bogus> {
        self.fetches = self.fetches.checked_sub(1).ok_or(EXHAUSTED)?;
        Ok(())
    }

    /// Signature verifications done so far.
    pub fn signatures_used(&self) -> u32 {
        self.settings.max_signature_checks - self.signatures
    }

    /// Hash computations done so far.
    pub fn hashes_used(&self) -> u32 {
        self.settings.max_hash_ops - self.hashes
    }

    /// Chain queries made so far.
    pub fn fetches_used(&self) -> u32 {
        self.settings.max_fetches - self.fetches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_allowance_runs_out_on_its_own() {
        let settings = Settings {
            max_signature_checks: 2,
            max_hash_ops: 10,
            max_fetches: 1,
            ..Settings::default()
        };
        let mut w = Work::new(&settings, 0);
        assert!(w.signature().is_ok());
        assert!(w.signature().is_ok());
        assert_eq!(w.signature(), Err(EXHAUSTED));
        assert!(w.hashes(10).is_ok());
        assert_eq!(w.hashes(1), Err(EXHAUSTED));
        assert!(w.fetch().is_ok());
        assert_eq!(w.fetch(), Err(EXHAUSTED));
        assert_eq!(
            (w.signatures_used(), w.hashes_used(), w.fetches_used()),
            (2, 10, 1)
        );
        assert_eq!(EXHAUSTED.info_code(), 6);
    }
}
