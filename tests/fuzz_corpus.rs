//! Replays the fuzz corpus on stable Rust: every file in `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` goes through the same property function its fuzz target
//! calls (`fuzz/props.rs`), so the seeds and every crash ever found stay checked by
//! `cargo test` without nightly or libFuzzer. See fuzz/README.md.

#[path = "../fuzz/props.rs"]
mod props;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The files of one directory (not `.gitkeep` or other dot files), sorted; none if the
/// directory does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read corpus directory").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Runs `check` on every corpus and regression input of `target`; fails listing each input
/// that broke a property, and fails if the corpus is empty (so this cannot pass vacuously).
fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = inputs(&root.join("corpus").join(target));
    let regressions = inputs(&root.join("regressions").join(target));
    assert!(
        !corpus.is_empty(),
        "no seeds in fuzz/corpus/{target}: run python3 scripts/make_corpus.py"
    );
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("read corpus file");
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs broke a property (messages above):\n{}",
        failed.len(),
        corpus.len() + regressions.len(),
        failed.join("\n")
    );
}

#[test]
fn query_corpus() {
    replay("query", props::check_query);
}

#[test]
fn framing_corpus() {
    replay("framing", props::check_framing);
}

#[test]
fn reply_corpus() {
    replay("reply", props::check_reply);
}

#[test]
fn rdata_corpus() {
    replay("rdata", props::check_rdata);
}

#[test]
fn edns_rewrite_corpus() {
    replay("edns_rewrite", props::check_edns_rewrite);
}

#[test]
fn upstream_spec_corpus() {
    replay("upstream_spec", props::check_upstream_spec);
}

#[test]
fn pin_corpus() {
    replay("pin", props::check_pin);
}

#[test]
fn dnssec_corpus() {
    replay("dnssec", props::check_dnssec);
}

/// The `dnssec` seeds are signed by scripts/make_corpus.py to reach a verdict their name
/// starts with: so the seeds really reach the cryptography and the proofs, and a change in
/// the validator's verdicts shows here.
#[test]
fn dnssec_seeds_reach_their_verdicts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/dnssec");
    let mut checked = 0;
    for path in inputs(&dir) {
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let verdict = props::dnssec_verdict(&std::fs::read(&path).expect("read seed"));
        let expected = file.split('-').next().unwrap_or_default();
        let got = match verdict {
            Some(strictdot::dnssec::Verdict::Secure) => "secure",
            Some(strictdot::dnssec::Verdict::Insecure) => "insecure",
            Some(strictdot::dnssec::Verdict::Bogus(_)) => "bogus",
            Some(strictdot::dnssec::Verdict::Indeterminate) => "indeterminate",
            None => "none",
        };
        if ["secure", "insecure", "bogus", "indeterminate"].contains(&expected) {
            assert_eq!(got, expected, "{file}: {verdict:?}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} named seeds");
}
