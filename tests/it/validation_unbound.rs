//! DNSSEC validation against real servers: the signed zones of tests/dnssec_zones (a private
//! root, the TLD `example.` and its children, broken variants, crafted zones for each work
//! cap) are served by a real Unbound that does not validate, over DNS-over-TLS on loopback;
//! the real `strictdot` binary forwards to it with validation on (the default), trusting
//! the private root through `--trust-anchor-file`; and a second Unbound, a validating
//! forwarder of the same upstream with the same trust anchor, is the reference. Every case
//! of `dnssec_zones::cases()` is asked of both with DO=1 (RD=1, over TCP).
//!
//! ## The upstream: one Unbound resolving from `auth-zone:`s
//!
//! Each zone file is an `auth-zone:` with `for-downstream: no`, `for-upstream: yes`,
//! `fallback-enabled: no`, in one Unbound with `module-config: "iterator"`: a resolver
//! that validates nothing and whose iterator takes every answer from the zones instead of
//! the network (every name, the glue's included, is in some zone, so no query leaves it;
//! `outgoing-interface: 127.0.0.1` makes sure nothing could reach 192.0.2.53, the glue
//! address). Checked by hand with `kdig +dnssec +cd @127.0.0.1 -p PORT` first:
//! - `for-downstream: yes` (the zones answer clients directly, like authoritative servers)
//!   does not do: a CNAME or DNAME into another zone comes back without the target's
//!   records, where strictdot needs a resolver that follows the chain. In resolver mode the
//!   iterator follows it, with every RRSIG and proof on the way;
//! - nested zones need no stub-zone or local-zone tricks: a DS query is answered from the
//!   parent zone (the signed DS, or the NSEC/NSEC3 NODATA proof of an unsigned delegation,
//!   the opt-out span included), as a resolver asked with CD=1 would;
//! - NXDOMAIN, NODATA and NSEC3 wildcard answers come with their NSEC/NSEC3 proofs.
//!
//! One thing Unbound 1.17's auth-zone code gets wrong, in either mode (see
//! [`UPSTREAM_LIMITS`]; the expected verdict for this case is asserted in tests/dnssec.rs,
//! over the in-memory resolver, which serves it right): a NODATA answer at an *empty
//! non-terminal of an NSEC zone* (`ent.example. A`) carries the SOA but not the NSEC that
//! proves it.
//!
//! Its wildcard answers carry the wildcard's NSEC with the owner rewritten to the query
//! name (`anything.wild.example. NSEC www.example.`, its RRSIG labels those of
//! `*.wild.example.`); strictdot, like Unbound, counts such an NSEC at the wildcard's name,
//! which is what it was signed as.
//!
//! The reference Unbound (`module-config: "validator iterator"`, `trust-anchor-file:` the
//! same DS anchor, `ede: yes`) forwards `.` to the upstream **over TLS**
//! (`forward-tls-upstream: yes`, the upstream's rcgen certificate as `tls-cert-bundle:`,
//! the name checked as `@PORT#unbound.test`), like strictdot.
//!
//! ## What is compared
//!
//! For every case, strictdot's answer must carry the case's expected verdict: secure is
//! AD=1 and the upstream's own rcode, insecure AD=0 and the upstream's rcode, bogus is
//! SERVFAIL, AD=0 and the case's Extended DNS Error INFO-CODE. And Unbound must reach the
//! same verdict: same rcode, same AD. Where Unbound legitimately decides otherwise
//! (algorithm support, where the work caps sit, one forwarder-mode limitation), the case is
//! listed in [`UNBOUND_DIFFERS`] with the reason and Unbound's verdict, which is asserted
//! too, so the list cannot go stale; strictdot's expected verdict is still asserted for
//! them. Nothing is skipped.
//!
//! Without unbound or ldnsutils these tests fail, saying to run scripts/test.sh (which
//! installs them). All traffic stays on 127.0.0.1; the processes are killed on drop.

#![allow(
    clippy::disallowed_types,
    reason = "plain #[test]s driving separate processes, no tokio runtime to follow"
)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use strictdot::dns::builder::QueryBuilder;

use crate::dnssec_zones::{self, Case, Expect};
use crate::support::{
    accepts_tcp, blocking_tcp_exchange, find_tool, free_tcp_port, loopback, self_signed_files,
    strictdot_command, unbound_command, unbound_common_conf, write_file, Scratch, Served,
};

/// The name in the upstream's certificate, and the one strictdot and the reference Unbound
/// authenticate it by.
const TLS_NAME: &str = "unbound.test";
/// Longest wait for one answer (a cold chain walk to a child zone included).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// EDNS option code of an Extended DNS Error (RFC 8914).
const EDE: u16 = 15;
const TYPE_SOA: u16 = 6;

/// Cases the upstream cannot serve as the zone says (see the module doc): (case label,
/// why, strictdot's verdict, Unbound's verdict) on what it serves instead.
const UPSTREAM_LIMITS: &[(&str, &str, Expect, Verdict)] = &[(
    "empty non-terminal NODATA (NSEC)",
    "Unbound's auth-zone answers NODATA at an empty non-terminal of an NSEC zone with \
         the SOA but without the NSEC that proves it; an unproven NODATA from a signed zone \
         is bogus for both (NSEC Missing)",
    Expect::Bogus(12),
    Verdict::Bogus,
)];

/// Cases where Unbound as a validating forwarder legitimately differs from strictdot:
/// (case label, why, Unbound's verdict). strictdot's expected verdict is asserted for them.
const UNBOUND_DIFFERS: &[(&str, &str, Verdict)] = &[
    (
        "unsupported algorithm 16 (ED448)",
        "Unbound validates Ed448 through OpenSSL; ring has no Ed448, so for strictdot the \
         algorithm is unsupported and the zone insecure (RFC 4035 §5.2, RFC 6840 §5.2)",
        Verdict::Secure,
    ),
    (
        "SHA-1 algorithm 5 treated as unsupported",
        "Unbound (Debian's OpenSSL allows SHA-1 signatures) validates RSASHA1; strictdot \
         deliberately treats SHA-1 algorithms as unsupported, so the zone is insecure",
        Verdict::Secure,
    ),
    (
        "CNAME synthesized from a DNAME",
        "for a CNAME question Unbound as a forwarder probes for a DS at the query name, the \
         upstream answers that DS query with the DNAME redirection (correct: the name is \
         below the DNAME), and Unbound fails the chain ('DS got DNAME answer')",
        Verdict::Bogus,
    ),
    (
        "NSEC3 hashing over budget",
        "a 40-label name under a 100-iteration NSEC3 zone: strictdot's per-query hashing \
         budget refuses it (CVE-2023-50868); Unbound's NSEC3 hash limits let it through",
        Verdict::Secure,
    ),
    (
        "KeyTrap: keys sharing a tag",
        "eight garbage DNSKEYs share the ZSK's key tag: strictdot caps keys tried per tag \
         (CVE-2023-50387); Unbound suspends and resumes validation and finds the real key",
        Verdict::Secure,
    ),
    (
        "KeyTrap: total signature budget",
        "a CNAME chain of ten, six garbage RRSIGs before each good one: under the per-RRset \
         cap of both, over strictdot's per-query budget; Unbound has no per-query total",
        Verdict::Secure,
    ),
];

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// One test per non-secure case: the broken variants (rcode SERVFAIL, AD clear, the case's
/// EDE code) and the insecure delegations (the upstream's rcode, AD clear).
macro_rules! variant_tests {
    ($($name:ident => $label:literal,)*) => {
        $(
            #[test]
            fn $name() {
                let env = Env::shared();
                let case = case($label);
                env.assert_strictdot(&case);
            }
        )*
        /// Every non-secure case has its own test above.
        #[test]
        fn validation_unbound_every_variant_has_a_test() {
            let named = [$($label),*];
            for case in dnssec_zones::cases() {
                if case.expect != Expect::Secure {
                    assert!(
                        named.contains(&case.label),
                        "case '{}' has no test of its own in validation_unbound.rs",
                        case.label
                    );
                }
            }
        }
    };
}

variant_tests! {
    bogus_expired_signatures_ede_7 => "expired signatures",
    bogus_future_signatures_ede_8 => "signatures not yet valid",
    bogus_ds_matching_no_dnskey_ede_9 => "DS matching no DNSKEY",
    bogus_ds_digest_wrong_ede_9 => "DS digest wrong",
    bogus_ds_stripped_from_parent_ede_6 => "DS stripped from the parent",
    bogus_tampered_record_ede_6 => "tampered record",
    bogus_missing_rrsig_ede_10 => "missing RRSIG",
    bogus_nsec_stripped_nxdomain_ede_12 => "NSEC records stripped from the zone, NXDOMAIN",
    bogus_nsec3_hashing_over_budget_ede_6 => "NSEC3 hashing over budget",
    bogus_keytrap_keys_sharing_a_tag_ede_6 => "KeyTrap: keys sharing a tag",
    bogus_keytrap_signatures_per_rrset_ede_6 => "KeyTrap: signatures per RRset",
    bogus_keytrap_total_budget_ede_6 => "KeyTrap: total signature budget",
    insecure_nsec3_opt_out_delegation => "NSEC3 opt-out unsigned delegation",
    insecure_unsigned_child => "unsigned child (insecure delegation)",
    insecure_unsigned_child_nxdomain => "unsigned child NXDOMAIN",
    insecure_signed_child_without_ds => "signed child without DS",
    insecure_unsupported_algorithm_ed448 => "unsupported algorithm 16 (ED448)",
    insecure_sha1_algorithm => "SHA-1 algorithm 5 treated as unsupported",
    insecure_nsec3_iterations_above_100 => "NSEC3 iterations above 100 (200)",
}

/// Every secure case (positive answers, denials by NSEC and NSEC3, wildcards, CNAME and
/// DNAME chains across zones, each algorithm) gets AD=1 and the upstream's rcode.
#[test]
fn secure_cases_get_ad_and_the_upstream_rcode() {
    let env = Env::shared();
    let mut failures = Vec::new();
    for case in dnssec_zones::cases() {
        if case.expect == Expect::Secure {
            if let Err(e) = env.check_strictdot(&case) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} secure case(s) failed:\n{}\n{}",
        failures.len(),
        failures.join("\n"),
        env.logs()
    );
}

/// Interop: for every case, the validating Unbound reaches the same verdict as strictdot
/// (rcode and AD), but for the listed, explained differences.
#[test]
fn unbound_validating_forwarder_reaches_the_same_verdicts() {
    let env = Env::shared();
    let cases = dnssec_zones::cases();
    let listed = |label: &str| {
        UNBOUND_DIFFERS
            .iter()
            .map(|d| (d.0, d.1, d.2))
            .chain(UPSTREAM_LIMITS.iter().map(|l| (l.0, l.1, l.3)))
            .find(|d| d.0 == label)
    };
    for label in UNBOUND_DIFFERS
        .iter()
        .map(|d| d.0)
        .chain(UPSTREAM_LIMITS.iter().map(|l| l.0))
    {
        assert!(
            cases.iter().any(|c| c.label == label),
            "listed case '{label}' is not in dnssec_zones::cases()"
        );
    }
    let mut failures = Vec::new();
    let mut agreed = 0;
    for case in &cases {
        let ours = env.ask(env.strictdot.port, case, false);
        let theirs = env.ask(env.reference.port, case, false);
        let (ours, theirs) = match (ours, theirs) {
            (Ok(o), Ok(t)) => (o, t),
            (o, t) => {
                failures.push(format!("{}: strictdot {o:?}, Unbound {t:?}", case.label));
                continue;
            }
        };
        if let Some((_, why, verdict)) = listed(case.label) {
            // A listed case: strictdot keeps its expected verdict, Unbound the one
            // recorded for it (so a change on either side shows up here).
            if let Err(e) = env.check_strictdot(case) {
                failures.push(e);
            }
            if theirs.verdict() != verdict {
                failures.push(format!(
                    "{}: listed ({why}) with Unbound {verdict:?}, but Unbound answered {theirs}",
                    case.label
                ));
            }
            continue;
        }
        if ours.rcode != theirs.rcode || ours.ad != theirs.ad {
            failures.push(format!(
                "{} ({} type {}): strictdot {ours}, Unbound {theirs}",
                case.label, case.qname, case.qtype
            ));
        } else {
            agreed += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreement(s) with the validating Unbound ({agreed} cases agreed):\n{}\n{}",
        failures.len(),
        failures.join("\n"),
        env.logs()
    );
    assert_eq!(
        agreed,
        cases.len() - UNBOUND_DIFFERS.len() - UPSTREAM_LIMITS.len(),
        "every case not listed agrees"
    );
}

/// A client without DO gets no AD bit and no DNSSEC records, from the same validated
/// answer; with AD=1 instead of DO, the AD bit (RFC 6840 §5.7).
#[test]
fn secure_answer_ad_follows_the_clients_do_or_ad() {
    let env = Env::shared();
    let case = case("TLD positive");
    let plain = QueryBuilder::new(&case.qname, case.qtype)
        .id(0x5101)
        .edns(1232);
    let reply = env
        .exchange(env.strictdot.port, &plain.build())
        .expect("an answer");
    let m = Message::from_vec(&reply).expect("parsable");
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(!m.authentic_data(), "AD without DO or AD in the query");
    assert!(
        m.answers().iter().all(|r| u16::from(r.record_type()) != 46),
        "RRSIG to a client without DO: {m:?}"
    );
    let ad = plain.id(0x5102).flags(0x0120);
    let reply = env
        .exchange(env.strictdot.port, &ad.build())
        .expect("an answer");
    let m = Message::from_vec(&reply).expect("parsable");
    assert!(m.authentic_data(), "no AD for a client that set AD: {m:?}");
}

// ---------------------------------------------------------------------------------------
// Verdicts
// ---------------------------------------------------------------------------------------

/// A validator's verdict as a client sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Secure,
    Insecure,
    Bogus,
}

/// What a client sees of an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    rcode: ResponseCode,
    ad: bool,
    /// INFO-CODE and EXTRA-TEXT of the Extended DNS Error, if any.
    ede: Option<(u16, String)>,
}

impl Seen {
    fn parse(reply: &[u8]) -> Result<Seen, String> {
        let m = Message::from_vec(reply).map_err(|e| format!("unparsable answer: {e}"))?;
        let ede =
            m.extensions()
                .as_ref()
                .and_then(|edns| match edns.option(EdnsCode::from(EDE))? {
                    EdnsOption::Unknown(_, data) if data.len() >= 2 => Some((
                        u16::from_be_bytes([data[0], data[1]]),
                        String::from_utf8_lossy(&data[2..]).into_owned(),
                    )),
                    _ => None,
                });
        Ok(Seen {
            rcode: m.response_code(),
            ad: m.authentic_data(),
            ede,
        })
    }

    fn verdict(&self) -> Verdict {
        match (self.rcode, self.ad) {
            (ResponseCode::ServFail, _) => Verdict::Bogus,
            (_, true) => Verdict::Secure,
            (_, false) => Verdict::Insecure,
        }
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} AD={}", self.rcode, u8::from(self.ad))?;
        if let Some((code, text)) = &self.ede {
            write!(f, " EDE {code} '{text}'")?;
        }
        Ok(())
    }
}

/// The case named `label`.
fn case(label: &str) -> Case {
    dnssec_zones::cases()
        .into_iter()
        .find(|c| c.label == label)
        .unwrap_or_else(|| panic!("no case '{label}' in dnssec_zones::cases()"))
}

// ---------------------------------------------------------------------------------------
// The environment: zones, the upstream Unbound, the reference Unbound, strictdot
// ---------------------------------------------------------------------------------------

/// Everything the tests talk to. Shared by the tests that run at the same time (started
/// by the first, stopped when the last drops it), so the zones are signed and the servers
/// started once per batch rather than once per test.
struct Env {
    /// The non-validating upstream; `plain` is a cleartext port for reference queries.
    upstream: Served,
    upstream_plain: u16,
    /// The validating Unbound.
    reference: Served,
    strictdot: Served,
    /// Dropped last: the processes above write into it.
    _dir: Scratch,
}

impl Env {
    /// The running environment, or a fresh one.
    fn shared() -> Arc<Env> {
        static SHARED: Mutex<Weak<Env>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(env) = slot.upgrade() {
            return env;
        }
        let env = Arc::new(Env::start());
        *slot = Arc::downgrade(&env);
        env
    }

    fn start() -> Env {
        let tools = Tools::require();
        let dir = Scratch::new("validation-dnssec");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let now = u32::try_from(now).expect("time fits 32 bits");
        let zones = dnssec_zones::build(&dir.file("zones"), now)
            .unwrap_or_else(|e| panic!("building the signed test zones failed: {e}"));

        let (cert, key) = self_signed_files(&dir, TLS_NAME);

        let mut upstream_plain = 0;
        let upstream = Served::start(
            &dir,
            "upstream",
            &mut |port| {
                upstream_plain = free_tcp_port();
                let conf = dir.file("upstream.conf");
                write_file(
                    &conf,
                    upstream_conf(&dir.path, port, upstream_plain, &cert, &key, &zones).as_bytes(),
                );
                unbound_command(&tools.unbound, &conf)
            },
            &mut accepts_tcp,
        );

        let reference = Served::start(
            &dir,
            "reference",
            &mut |port| {
                let conf = dir.file("reference.conf");
                write_file(
                    &conf,
                    reference_conf(&dir.path, port, upstream.port, &cert, &zones.anchor_ds)
                        .as_bytes(),
                );
                unbound_command(&tools.unbound, &conf)
            },
            &mut accepts_tcp,
        );
        wait_for_root_soa(&reference);

        let strictdot = Served::start(
            &dir,
            "strictdot",
            &mut |port| {
                let mut cmd = strictdot_command();
                cmd.env("NO_COLOR", "1")
                    .arg("--listen")
                    .arg(format!("127.0.0.1:{port}"))
                    .arg("--upstream")
                    .arg(format!("127.0.0.1:{}#{TLS_NAME}", upstream.port))
                    .arg("--ca-file")
                    .arg(&cert)
                    .args(["--dnssec", "validate"])
                    .arg("--trust-anchor-file")
                    .arg(&zones.anchor_ds)
                    .args(["--log-level", "debug"]);
                cmd
            },
            &mut accepts_tcp,
        );
        wait_for_root_soa(&strictdot);

        Env {
            upstream,
            upstream_plain,
            reference,
            strictdot,
            _dir: dir,
        }
    }

    /// Sends `query` over TCP to 127.0.0.1:`port`, returns the reply.
    fn exchange(&self, port: u16, query: &[u8]) -> Result<Vec<u8>, String> {
        blocking_tcp_exchange(loopback(port), query, ANSWER_WITHIN)
    }

    /// Asks `case` of the server on `port` with DO=1 (and CD=1 if `cd`).
    fn ask(&self, port: u16, case: &Case, cd: bool) -> Result<Seen, String> {
        static ID: AtomicU32 = AtomicU32::new(0x2000);
        let id = ID.fetch_add(1, Ordering::Relaxed) as u16;
        let flags = if cd { 0x0110 } else { 0x0100 };
        let query = QueryBuilder::new(&case.qname, case.qtype)
            .id(id)
            .flags(flags)
            .edns(1232)
            .dnssec_ok()
            .build();
        Seen::parse(&self.exchange(port, &query)?)
    }

    /// The rcode the upstream itself gives (DO=1, CD=1): what a validator passes on for
    /// a secure or insecure answer.
    fn upstream_rcode(&self, case: &Case) -> Result<ResponseCode, String> {
        Ok(self.ask(self.upstream_plain, case, true)?.rcode)
    }

    /// Checks strictdot's answer to `case` against the case's expected verdict (or, for a
    /// case the upstream cannot serve, the verdict listed for it).
    fn check_strictdot(&self, case: &Case) -> Result<(), String> {
        let what = format!("{} ({} type {})", case.label, case.qname, case.qtype);
        let seen = self
            .ask(self.strictdot.port, case, false)
            .map_err(|e| format!("{what}: {e}"))?;
        // A case the upstream cannot serve as the zone says has the verdict listed for it.
        let (expect, note) = match UPSTREAM_LIMITS.iter().find(|l| l.0 == case.label) {
            Some(l) => (l.2, format!(" (listed: {})", l.1)),
            None => (case.expect, String::new()),
        };
        let ok = match expect {
            Expect::Secure | Expect::Insecure => {
                let rcode = self
                    .upstream_rcode(case)
                    .map_err(|e| format!("{what}: asking the upstream: {e}"))?;
                seen.rcode == rcode && seen.ad == (expect == Expect::Secure)
            }
            Expect::Bogus(code) => {
                seen.rcode == ResponseCode::ServFail
                    && !seen.ad
                    && seen.ede.as_ref().map(|e| e.0) == Some(code)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{what}: expected {expect:?}{note}, got {seen}"))
        }
    }

    /// Asserts strictdot's answer to `case` (see [`Env::check_strictdot`]).
    fn assert_strictdot(&self, case: &Case) {
        if let Err(e) = self.check_strictdot(case) {
            panic!("{e}\n{}", self.logs());
        }
    }

    /// The tail of every log, for failure messages.
    fn logs(&self) -> String {
        [&self.upstream, &self.reference, &self.strictdot]
            .iter()
            .map(|s| {
                let log = s.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {} (last 40 lines):\n{}", s.label, tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The non-validating upstream: every zone an auth-zone, DoT on `port`, cleartext on
/// `plain` (for the tests' reference queries only).
fn upstream_conf(
    dir: &Path,
    port: u16,
    plain: u16,
    cert: &Path,
    key: &Path,
    zones: &dnssec_zones::ZoneSet,
) -> String {
    let mut conf = format!(
        r#"server:
{common}    interface: 127.0.0.1@{port}
    interface: 127.0.0.1@{plain}
    tls-port: {port}
    tls-service-key: "{key}"
    tls-service-pem: "{cert}"
    module-config: "iterator"
    outgoing-interface: 127.0.0.1
"#,
        common = unbound_common_conf(dir),
        key = key.display(),
        cert = cert.display(),
    );
    for zone in &zones.zones {
        conf.push_str(&format!(
            "auth-zone:\n    name: \"{}\"\n    zonefile: \"{}\"\n    for-downstream: no\n    \
             for-upstream: yes\n    fallback-enabled: no\n",
            zone.origin,
            zone.file.display()
        ));
    }
    conf.push_str("remote-control:\n    control-enable: no\n");
    conf
}

/// The validating reference: forwards `.` to the upstream over TLS, trusts `anchor`.
fn reference_conf(dir: &Path, port: u16, upstream: u16, cert: &Path, anchor: &Path) -> String {
    format!(
        r#"server:
{common}    interface: 127.0.0.1@{port}
    module-config: "validator iterator"
    trust-anchor-file: "{anchor}"
    tls-cert-bundle: "{cert}"
    do-not-query-localhost: no
    aggressive-nsec: no
    trust-anchor-signaling: no
    val-log-level: 2
    ede: yes
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@{upstream}#{TLS_NAME}
    forward-tls-upstream: yes
"#,
        common = unbound_common_conf(dir),
        anchor = anchor.display(),
        cert = cert.display(),
    )
}

/// Waits until the server answers `. SOA` (DO=1) with NOERROR over TCP: for the reference
/// Unbound and strictdot this also proves the TLS path to the upstream and the root's
/// validation.
fn wait_for_root_soa(server: &Served) {
    server.wait_until("it answers '. SOA' with NOERROR", || {
        let query = QueryBuilder::new(".", TYPE_SOA)
            .id(0x1111)
            .edns(1232)
            .dnssec_ok()
            .build();
        let seen = Seen::parse(&blocking_tcp_exchange(
            server.addr(),
            &query,
            ANSWER_WITHIN,
        )?)?;
        if seen.rcode == ResponseCode::NoError {
            Ok(())
        } else {
            Err(format!("answer {seen}"))
        }
    });
}

// ---------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------

/// The external programs the tests need (ldnsutils is checked by `dnssec_zones::build`).
struct Tools {
    unbound: PathBuf,
}

impl Tools {
    /// Finds unbound, or fails the test saying how to get it.
    fn require() -> Tools {
        let unbound = find_tool("unbound").unwrap_or_else(|| {
            panic!(
                "the DNSSEC interop tests need unbound (package unbound) but it is not \
                 installed: run scripts/test.sh, which installs it and ldnsutils"
            )
        });
        if let Err(e) = dnssec_zones::require_signers() {
            panic!("the DNSSEC interop tests need ldnsutils: {e}; scripts/test.sh installs it");
        }
        Tools { unbound }
    }
}
