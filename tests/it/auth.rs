//! Strict-profile authentication (RFC 8310): a table of cases, one named test per row
//! ([`Case`]: what the upstream serves, what strictdot is told; [`Outcome`]), each asserting
//! the exact client outcome and, on failure, that no query reached the upstream.

use std::sync::atomic::Ordering;

use strictdot::pin::Pin;
use strictdot::upstream::tls::TlsMinVersion;

use crate::support::*;

const NAME: &str = "dot.test";

/// One row of the authentication table: what the upstream serves, how strictdot is told
/// to authenticate it, and which outcome the strict profile requires.
struct Case<'a> {
    /// The end-entity certificate the upstream serves.
    served: &'a Issued,
    /// The rest of the chain it sends.
    chain: &'a [&'a Issued],
    /// The authentication name configured (`#NAME`), if any.
    name: Option<&'a str>,
    /// The SPKI pins configured.
    pins: Vec<Pin>,
    /// The CA certificates given as `--ca-file`.
    cas: &'a [&'a Issued],
    /// The upstream speaks TLS 1.2 only.
    tls12_only: bool,
    /// strictdot is told `--tls-min-version 1.3`.
    min_tls13: bool,
}

impl<'a> Case<'a> {
    /// The upstream serves `served` and nothing more; strictdot is told nothing yet.
    fn serving(served: &'a Issued) -> Self {
        Case {
            served,
            chain: &[],
            name: None,
            pins: vec![],
            cas: &[],
            tls12_only: false,
            min_tls13: false,
        }
    }
    fn chain(self, chain: &'a [&'a Issued]) -> Self {
        Case { chain, ..self }
    }
    fn name(self, name: &'a str) -> Self {
        Case {
            name: Some(name),
            ..self
        }
    }
    fn pins(self, pins: Vec<Pin>) -> Self {
        Case { pins, ..self }
    }
    fn cas(self, cas: &'a [&'a Issued]) -> Self {
        Case { cas, ..self }
    }
    fn tls12_only(self) -> Self {
        Case {
            tls12_only: true,
            ..self
        }
    }
    fn min_tls13(self) -> Self {
        Case {
            min_tls13: true,
            ..self
        }
    }
}

enum Outcome {
    /// The upstream is authenticated: the query is answered through it.
    Answered,
    /// Authentication fails: SERVFAIL, and no DNS query reaches the upstream.
    Refused,
}

/// Runs one row: a fake upstream as `case` says, strictdot configured as it says, one
/// query, and the outcome asserted.
async fn check(case: Case<'_>, outcome: Outcome) {
    let mut options = UpstreamOptions::new(case.served, case.chain);
    if case.tls12_only {
        options = options.tls12_only();
    }
    let up = options.start().await;
    let mut c = config(vec![upstream(up.addr, case.name, case.pins)], case.cas);
    if case.min_tls13 {
        c = c.tls_min_version(TlsMinVersion::Tls13);
    }
    let proxy = start_proxy(c).await;
    match outcome {
        Outcome::Answered => {
            assert_answers(&proxy, "www.example").await;
            assert_eq!(up.seen.queries.load(Ordering::SeqCst), 1);
        }
        Outcome::Refused => refused(&up, &proxy).await,
    }
}

/// Asserts failure and that the upstream never saw a DNS query.
async fn refused(up: &FakeUpstream, proxy: &Proxy) {
    assert_servfail(proxy, "www.example").await;
    assert_eq!(
        up.seen.queries.load(Ordering::SeqCst),
        0,
        "a query went over an unauthenticated connection"
    );
    assert!(proxy.metrics.auth_failures.get() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_with_ca_file_accepted() {
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    check(
        Case::serving(&server).name(NAME).cas(&[&root]),
        Outcome::Answered,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_name_refused() {
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    check(
        Case::serving(&server).name("other.test").cas(&[&root]),
        Outcome::Refused,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_issuer_refused() {
    let server = self_signed(NAME);
    check(Case::serving(&server).name(NAME), Outcome::Refused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_certificate_refused_by_name() {
    let root = ca("Test Root");
    let server = expired_leaf(NAME, &root);
    check(
        Case::serving(&server).name(NAME).cas(&[&root]),
        Outcome::Refused,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_certificate_refused_by_pin() {
    let root = ca("Test Root");
    let server = expired_leaf(NAME, &root);
    check(
        Case::serving(&server).pins(vec![server.pin()]),
        Outcome::Refused,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_pin_accepted() {
    let server = self_signed("private.resolver");
    check(
        Case::serving(&server).pins(vec![server.pin()]),
        Outcome::Answered,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pin_refused() {
    let server = self_signed("private.resolver");
    let other = self_signed("private.resolver");
    check(
        Case::serving(&server).pins(vec![other.pin()]),
        Outcome::Refused,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_pin_accepted() {
    let server = self_signed("private.resolver");
    let retired = self_signed("private.resolver");
    check(
        Case::serving(&server).pins(vec![retired.pin(), server.pin()]),
        Outcome::Answered,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_of_presented_intermediate_accepted() {
    let root = ca("Test Root");
    let inter = intermediate("Test Intermediate", &root);
    let server = leaf(NAME, &inter);
    // Pins only: the intermediate's key signs the end-entity certificate.
    check(
        Case::serving(&server)
            .chain(&[&inter])
            .pins(vec![inter.pin()]),
        Outcome::Answered,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_of_root_on_validated_chain_accepted() {
    let root = ca("Test Root");
    let inter = intermediate("Test Intermediate", &root);
    let server = leaf(NAME, &inter);
    // Name and pins: the pin names the trust anchor, which the server does not send.
    check(
        Case::serving(&server)
            .chain(&[&inter])
            .name(NAME)
            .pins(vec![root.pin()])
            .cas(&[&root]),
        Outcome::Answered,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_and_pin_both_right_accepted() {
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    check(
        Case::serving(&server)
            .name(NAME)
            .pins(vec![server.pin()])
            .cas(&[&root]),
        Outcome::Answered,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_right_pin_wrong_refused() {
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    let other = self_signed("x.test");
    check(
        Case::serving(&server)
            .name(NAME)
            .pins(vec![other.pin()])
            .cas(&[&root]),
        Outcome::Refused,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_right_name_wrong_refused() {
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    check(
        Case::serving(&server)
            .name("other.test")
            .pins(vec![server.pin()])
            .cas(&[&root]),
        Outcome::Refused,
    )
    .await;
}

/// The weakness of pin checks that compare against every presented certificate: an
/// attacker with its own key appends the operator's (public) pinned certificate to its
/// chain. The pinned certificate signs nothing the attacker presents, so this must fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_pinned_certificate_refused_pins_only() {
    let operator_ca = ca("Operator CA");
    let attacker = self_signed("private.resolver");
    check(
        Case::serving(&attacker)
            .chain(&[&operator_ca])
            .pins(vec![operator_ca.pin()]),
        Outcome::Refused,
    )
    .await;
}

/// The same with a name: the attacker holds a certificate for the name from another CA
/// the client trusts (mis-issuance), and appends the pinned certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_pinned_certificate_refused_with_name() {
    let operator_ca = ca("Operator CA");
    let rogue_ca = ca("Rogue CA");
    let attacker = leaf(NAME, &rogue_ca);
    check(
        Case::serving(&attacker)
            .chain(&[&operator_ca])
            .name(NAME)
            .pins(vec![operator_ca.pin()])
            .cas(&[&operator_ca, &rogue_ca]),
        Outcome::Refused,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_server_accepted_by_default() {
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    check(
        Case::serving(&server).name(NAME).cas(&[&root]).tls12_only(),
        Outcome::Answered,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_server_refused_under_min_13() {
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    check(
        Case::serving(&server)
            .name(NAME)
            .cas(&[&root])
            .tls12_only()
            .min_tls13(),
        Outcome::Refused,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_pins_only_accepted() {
    let server = self_signed("private.resolver");
    let case = Case::serving(&server).pins(vec![server.pin()]);
    check(case.tls12_only(), Outcome::Answered).await;
}

/// A pin computed by `strictdot::pin` equals the one of rcgen's SPKI, so the pins the
/// `pin` subcommand prints are the ones the verifier compares.
#[test]
fn pin_of_certificate_matches_spki_pin() {
    let server = self_signed("x.test");
    assert_eq!(
        strictdot::pin::of_certificate(&server.der()),
        Some(server.pin())
    );
    let text = server.pin().to_string();
    assert_eq!(text.parse::<Pin>().unwrap(), server.pin());
}

/// A server that speaks nothing newer than TLS 1.1 (OpenSSL's s_server) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls11_only_server_refused() {
    use std::process::{Command, Stdio};
    let server = self_signed(NAME);
    let dir = temp_dir("tls11");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, server.pem()).unwrap();
    std::fs::write(&key, server.key.serialize_pem()).unwrap();
    let port = dead_addr().port();
    let _guard = Reaped::spawn(
        Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-tls1_1",
                "-cipher",
                "DEFAULT:@SECLEVEL=0",
            ])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "openssl s_server did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The server really negotiates TLS 1.1 with a client that offers it.
    let probe = tokio::task::spawn_blocking(move || {
        Command::new("openssl")
            .args(["s_client", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
            .args(["-connect", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout);
    assert!(
        text.contains("TLSv1.1"),
        "s_server is not speaking TLS 1.1: {text}"
    );
    let proxy = start_proxy(config(vec![upstream(addr, None, vec![server.pin()])], &[])).await;
    assert_servfail(&proxy, "www.example").await;
    assert!(proxy.metrics.auth_failures.get() >= 1);
    assert_eq!(proxy.metrics.handshakes.get(), 0);
}

/// Finding 6: webpki checks no trust anchor's dates, so strictdot checks those of the CA
/// certificates it was given. `ca` is given by `--ca-file` (shared) or, if `per_upstream`,
/// as the upstream's own policy `ca_file`; the upstream's leaf (valid itself) is issued by
/// it. Returns whether a query was answered, and the expiry-class auth failures counted.
async fn answered_through_ca(ca: &Issued, pins: Vec<Pin>, per_upstream: bool) -> (bool, u64) {
    let server = leaf(NAME, ca);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let mut entry = upstream(up.addr, Some(NAME), pins);
    let shared: &[&Issued] = if per_upstream {
        entry.extra_roots = vec![ca.der()];
        &[]
    } else {
        &[ca]
    };
    let proxy = start_proxy(config(vec![entry], shared)).await;
    let reply = udp_exchange(
        proxy.addr,
        &query(0x4646, "www.example", 1, None),
        std::time::Duration::from_secs(3),
    )
    .await
    .expect("an answer");
    let m = parse(&reply);
    let answered = m.response_code() == hickory_proto::op::ResponseCode::NoError;
    if !answered {
        assert_eq!(m.response_code(), hickory_proto::op::ResponseCode::ServFail);
        assert_eq!(
            up.seen.queries.load(Ordering::SeqCst),
            0,
            "a query went over an unauthenticated connection"
        );
    }
    let expiry = proxy
        .metrics
        .auth_failure(strictdot::upstream::verify::FailureKind::Expiry)
        .get();
    (answered, expiry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_ca_file_refused_by_name() {
    let (answered, expiry) = answered_through_ca(&expired_ca("Old Root"), vec![], false).await;
    assert!(
        !answered,
        "a chain ending at an expired --ca-file CA was trusted"
    );
    assert!(expiry >= 1, "auth failure not counted as expiry");
    // The control: the same set-up with a CA within its validity period answers.
    let (answered, expiry) = answered_through_ca(&ca("Test Root"), vec![], false).await;
    assert!(answered);
    assert_eq!(expiry, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_ca_file_refused_by_name_and_pin() {
    // The pin is the CA's own, on the validated path: still refused.
    let old = expired_ca("Old Root");
    let (answered, expiry) = answered_through_ca(&old, vec![old.pin()], false).await;
    assert!(
        !answered,
        "an expired --ca-file CA was trusted in name+pin mode"
    );
    assert!(expiry >= 1);
    let root = ca("Test Root");
    let (answered, _) = answered_through_ca(&root, vec![root.pin()], false).await;
    assert!(answered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_policy_ca_file_refused() {
    let (answered, expiry) = answered_through_ca(&expired_ca("Old Root"), vec![], true).await;
    assert!(!answered, "an expired policy ca_file CA was trusted");
    assert!(expiry >= 1);
    let (answered, _) = answered_through_ca(&ca("Test Root"), vec![], true).await;
    assert!(answered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_yet_valid_ca_file_refused() {
    let future = dated_ca("Future Root", 1, 30);
    let (answered, expiry) = answered_through_ca(&future, vec![], false).await;
    assert!(!answered, "a --ca-file CA not valid yet was trusted");
    assert!(expiry >= 1);
}
