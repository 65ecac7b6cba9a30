//! Policy files: every shipped policy passes `strictdot check`, mistakes are refused with a
//! line number, flags override the file, cleartext zones, reload on SIGHUP, client TLS,
//! and the privilege drop.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

use hickory_proto::op::ResponseCode;
use strictdot::config::{Config, Layer, Sources};

use crate::support::*;

fn bin() -> Command {
    let mut c = strictdot_command();
    // The fake upstreams sign nothing: these tests are about the policy, not DNSSEC.
    c.env("STRICTDOT_DNSSEC", "off");
    c
}

fn write(path: &Path, text: &str) {
    std::fs::File::create(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

#[test]
fn every_shipped_policy_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policy");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let out = bin()
            .arg("check")
            .arg("--policy")
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}{}",
            path.display(),
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("valid"), "{stdout}");
        assert!(
            stdout.contains("on a chain to the web PKI roots"),
            "{stdout}"
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} policies found");
}

#[test]
fn bad_policies_refused_with_a_line_number() {
    let dir = temp_dir("policy-bad");
    let cases = [
        ("typo.toml", "[limits]\ntimout = \"4s\"\n", "line 2"),
        (
            "noauth.toml",
            "[[upstream]]\nname = \"x\"\naddress = \"192.0.2.1\"\n",
            "neither an authentication name",
        ),
        (
            "public-zone.toml",
            "[[zone]]\nname = \"corp\"\nforward = [\"8.8.8.8\"]\nunencrypted = true\n",
            "not a loopback or private address",
        ),
        (
            "unmarked-zone.toml",
            "[[zone]]\nname = \"corp\"\nforward = [\"10.0.0.1\"]\n",
            "unencrypted = true",
        ),
        (
            "badpin.toml",
            "[[upstream]]\nname = \"x\"\naddress = \"192.0.2.1\"\npins = [{ sha256 = \"AAAA\" }]\n",
            "32-byte",
        ),
    ];
    for (name, text, needle) in cases {
        let path = dir.join(name);
        write(&path, text);
        let out = bin()
            .arg("check")
            .arg("--policy")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{name}: expected '{needle}' in {stderr}"
        );
    }
}

/// An expired pin never weakens an upstream: with no other pin left the policy is refused,
/// naming the pin, the upstream and the date; with another pin left it is dropped with a
/// warning.
#[test]
fn expired_pin_refused_unless_another_pin_remains() {
    const OLD: &str = "{ sha256 = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", comment = \"old\", expires = \"2001-01-01\" }";
    const NEW: &str =
        "{ sha256 = \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\", comment = \"new\" }";
    let policy = |auth: &str, pins: &str| {
        strictdot::policy::parse(
            &format!(
                "[[upstream]]\nname = \"x\"\naddress = \"192.0.2.1\"\n{auth}pins = [{pins}]\n"
            ),
            "t",
        )
        .unwrap()
    };
    // Name and an expired pin: not name only.
    let e = load(&[], policy("auth_name = \"x.test\"\n", OLD))
        .unwrap_err()
        .to_string();
    for needle in [
        "upstream x",
        "'old' expired on 2001-01-01",
        "will not weaken",
    ] {
        assert!(e.contains(needle), "expected '{needle}' in {e}");
    }
    // Pins only, all expired: the same reason, not "neither a name nor a pin".
    let e = load(&[], policy("", OLD)).unwrap_err().to_string();
    assert!(e.contains("'old' expired on 2001-01-01"), "{e}");
    assert!(!e.contains("neither"), "{e}");
    // Another pin remains: the expired one goes, with a warning.
    let config = load(
        &[],
        policy("auth_name = \"x.test\"\n", &format!("{OLD}, {NEW}")),
    )
    .unwrap();
    assert_eq!(config.upstreams()[0].mode.pins().len(), 1);
    assert!(
        config.warnings().iter().any(|w| w.contains("expired")),
        "{:?}",
        config.warnings()
    );
}

/// `--pin-sha256` pins the command-line upstreams only: given with a policy that names the
/// upstreams, it would be ignored, so it is refused.
#[test]
fn pin_flag_refused_when_the_policy_names_the_upstreams() {
    let pin = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let policy = || {
        strictdot::policy::parse(
            "[[upstream]]\nname = \"x\"\naddress = \"192.0.2.1\"\nauth_name = \"x.test\"\n",
            "t",
        )
        .unwrap()
    };
    let e = load(&["--pin-sha256", pin], policy())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("--pin-sha256 {pin} would be ignored")) && e.contains("[[upstream]]"),
        "{e}"
    );
    // With the upstreams on the command line too, the pin applies to them.
    let config = load(
        &["--pin-sha256", pin, "--upstream", "192.0.2.2#y.test"],
        policy(),
    )
    .unwrap();
    assert_eq!(config.upstreams()[0].mode.pins().len(), 1);
}

/// The configuration from these flags over `policy` (no environment).
fn load(
    flags: &[&str],
    policy: strictdot::policy::Policy,
) -> Result<Config, strictdot::config::ConfigError> {
    let mut argv = vec!["strictdot"];
    argv.extend_from_slice(flags);
    let flags = strictdot::cli::flags_from(argv).unwrap();
    Sources::new(flags, Layer::default(), Some(policy)).load()
}

#[test]
fn flags_override_the_policy() {
    let policy =
        strictdot::policy::parse("[limits]\ntimeout = \"2s\"\nrate_limit = 5\n", "t").unwrap();
    // (A policy must name its upstreams, or they come from flags.)
    let config = load(
        &["--timeout", "3s", "--upstream", "192.0.2.1#x.test"],
        policy,
    )
    .unwrap();
    assert_eq!(config.timeout(), Duration::from_secs(3));
    assert_eq!(config.rate_limit().unwrap().qps.get(), 5);
}

/// A plain DNS server on 127.0.0.1 answering every query with 192.0.2.99.
async fn plain_server() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
            count.fetch_add(1, Ordering::SeqCst);
            let mut r = answer_for(&buf[..n], 1);
            let last = r.len() - 1;
            r[last] = 99;
            let _ = sock.send_to(&r, peer).await;
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_zone_goes_to_the_local_server_in_plain_dns() {
    let root = ca("Test Root");
    let server = leaf("dot.test", &root);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let (local, local_seen) = plain_server().await;
    let policy = strictdot::policy::parse(
        &format!(
            "[[zone]]\nname = \"cluster.local\"\nforward = [\"{local}\"]\nunencrypted = true\n"
        ),
        "t",
    )
    .unwrap();
    let mut c = config(vec![upstream(up.addr, Some("dot.test"), vec![])], &[&root]);
    // The zone as the policy gives it (the policy's own upstreams do not matter here).
    for z in load(&["--upstream", "192.0.2.1#x.test"], policy)
        .unwrap()
        .zones()
    {
        c = c.zone(&z.name, z.servers.clone());
    }
    let proxy = start_proxy(c).await;
    let reply = udp_exchange(
        proxy.addr,
        &query(1, "kube-dns.kube-system.svc.Cluster.Local", 1, None),
        Duration::from_secs(3),
    )
    .await
    .unwrap();
    let m = parse(&reply);
    assert_eq!(a_records(&m), vec![std::net::Ipv4Addr::new(192, 0, 2, 99)]);
    assert_eq!(local_seen.load(Ordering::SeqCst), 1);
    assert_eq!(up.seen.queries.load(Ordering::SeqCst), 0);
    // Everything else still goes over DoT.
    assert_answers(&proxy, "www.example").await;
    assert_eq!(up.seen.queries.load(Ordering::SeqCst), 1);
    assert_eq!(local_seen.load(Ordering::SeqCst), 1);
}

/// Polls with queries until one is answered NOERROR (the server is up).
async fn wait_answering(addr: std::net::SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(r) = udp_exchange(
            addr,
            &query(1, "www.example", 1, None),
            Duration::from_millis(200),
        )
        .await
        {
            if parse(&r).response_code() == ResponseCode::NoError {
                return;
            }
        }
        assert!(Instant::now() < deadline, "strictdot never answered");
    }
}

/// Starts the binary as `cmd` says (stderr piped), waits until it answers at `addr`, runs
/// `edit`, sends SIGHUP, and returns it with its log lines up to the first containing any of
/// `until` (10 s at most).
async fn reload_log(
    cmd: &mut Command,
    addr: std::net::SocketAddr,
    edit: impl FnOnce(),
    until: &'static [&'static str],
) -> (Reaped, Vec<String>) {
    let mut child = Reaped::spawn(cmd.stdout(Stdio::null()).stderr(Stdio::piped()));
    let log = LogLines::follow(&mut child.0);
    wait_answering(addr).await;
    edit();
    send_signal(child.0.id(), "-HUP");
    let lines = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        log.wait_for(until, &mut seen);
        seen
    })
    .await
    .unwrap();
    (child, lines)
}

fn policy_for(upstream: std::net::SocketAddr, pin: &strictdot::pin::Pin, listen: u16) -> String {
    format!(
        "[listen]\naddresses = [\"127.0.0.1:{listen}\"]\n[[upstream]]\nname = \"u\"\naddress = \"{upstream}\"\n\
         pins = [{{ sha256 = \"{pin}\", comment = \"test\" }}]\n[cache]\nsize = 0\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_a_bad_policy_keeps_the_old() {
    let server = self_signed("p.test");
    let first = UpstreamOptions::new(&server, &[]).start().await;
    let second = UpstreamOptions::new(&server, &[]).start().await;
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let dir = temp_dir("policy-hup");
    let path = dir.join("p.toml");
    write(&path, &policy_for(first.addr, &server.pin(), port));
    let child = Reaped::spawn(
        bin()
            .arg("--policy")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_answering(addr).await;
    let before = first.seen.queries.load(Ordering::SeqCst);
    assert!(before >= 1);
    write(&path, &policy_for(second.addr, &server.pin(), port));
    send_signal(child.0.id(), "-HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while second.seen.queries.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "reload did not take effect");
        let _ = udp_exchange(
            addr,
            &query(2, "www.example", 1, None),
            Duration::from_millis(300),
        )
        .await;
    }
    // A broken policy is refused; the running one stays.
    write(&path, "[limits]\nnot_a_key = 1\n");
    send_signal(child.0.id(), "-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = second.seen.queries.load(Ordering::SeqCst);
    assert_answers_at(addr).await;
    assert!(second.seen.queries.load(Ordering::SeqCst) > n);
}

/// A reload takes what it can and names, in a warning, each changed setting that only a
/// restart applies (here the pending cap, sized when the listeners start); a setting it does
/// take (the timeout) is not named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_warns_about_settings_that_need_a_restart() {
    let server = self_signed("p.test");
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let dir = temp_dir("policy-restart");
    let path = dir.join("p.toml");
    let base = policy_for(up.addr, &server.pin(), port);
    write(&path, &base);
    let (_child, lines) = reload_log(
        bin().arg("--policy").arg(&path),
        addr,
        || {
            write(
                &path,
                &format!("{base}[limits]\nmax_pending = 100\ntimeout = \"2s\"\n"),
            )
        },
        &["configuration reloaded"],
    )
    .await;
    let warning = lines
        .iter()
        .find(|l| l.contains("only after a restart"))
        .unwrap_or_else(|| panic!("no restart warning in {lines:#?}"));
    assert!(warning.contains("max-pending"), "{warning}");
    assert!(!warning.contains("timeout"), "{warning}");
    assert!(
        lines.iter().any(|l| l.contains("configuration reloaded")),
        "{lines:#?}"
    );
}

async fn assert_answers_at(addr: std::net::SocketAddr) {
    let reply = udp_exchange(
        addr,
        &query(3, "www.example", 1, None),
        Duration::from_secs(3),
    )
    .await
    .expect("answer");
    assert_eq!(parse(&reply).response_code(), ResponseCode::NoError);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_tls_listener_interoperates_with_kdig() {
    let upstream_cert = self_signed("p.test");
    let up = UpstreamOptions::new(&upstream_cert, &[]).start().await;
    let root = ca("Listener CA");
    let listener_cert = leaf("dns.strictdot.test", &root);
    let dir = temp_dir("policy-tls");
    let (cert, key, ca_path) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
    );
    write(&cert, &listener_cert.pem());
    write(&key, &listener_cert.key.serialize_pem());
    write(&ca_path, &root.pem());
    let port = free_port();
    let tls_port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _child = Reaped::spawn(
        bin()
            .args([
                "--listen",
                &addr.to_string(),
                "--listen-tls",
                &format!("127.0.0.1:{tls_port}"),
            ])
            .args([
                "--upstream",
                &up.addr.to_string(),
                "--pin-sha256",
                &upstream_cert.pin().to_string(),
            ])
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_answering(addr).await;
    let kdig = move |extra: Vec<String>| {
        let mut args = vec![
            "@127.0.0.1".to_owned(),
            "-p".to_owned(),
            tls_port.to_string(),
            "+tls".to_owned(),
            "+time=3".to_owned(),
            "+retry=0".to_owned(),
        ];
        args.extend(extra);
        args.push("www.example".to_owned());
        let out = Command::new("kdig")
            .args(&args)
            .output()
            .expect("kdig is needed: run scripts/test.sh");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let by_ca = tokio::task::spawn_blocking({
        let ca_path = ca_path.clone();
        move || {
            kdig(vec![
                format!("+tls-ca={}", ca_path.display()),
                "+tls-hostname=dns.strictdot.test".to_owned(),
            ])
        }
    })
    .await
    .unwrap();
    assert!(
        by_ca.contains("NOERROR") && by_ca.contains("192.0.2.1"),
        "{by_ca}"
    );
    let pin = listener_cert.pin().to_string();
    let by_pin = tokio::task::spawn_blocking(move || kdig(vec![format!("+tls-pin={pin}")]))
        .await
        .unwrap();
    assert!(
        by_pin.contains("NOERROR") && by_pin.contains("192.0.2.1"),
        "{by_pin}"
    );
    // The wrong name fails the client's check: nothing is answered.
    let wrong = tokio::task::spawn_blocking(move || {
        kdig(vec![
            format!("+tls-ca={}", ca_path.display()),
            "+tls-hostname=other.test".to_owned(),
        ])
    })
    .await
    .unwrap();
    assert!(!wrong.contains("NOERROR"), "{wrong}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_root_privileges_after_binding() {
    let is_root = running_as_root();
    if !is_root {
        eprintln!("SKIPPED drops_root_privileges_after_binding: not root, a privilege drop cannot be observed here");
        return;
    }
    let server = self_signed("p.test");
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Reaped::spawn(
        bin()
            .args(["--listen", &addr.to_string(), "--user", "65534:65534"])
            .args([
                "--upstream",
                &up.addr.to_string(),
                "--pin-sha256",
                &server.pin().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_answering(addr).await;
    // Every thread, not only the main one: the drop happens before any other thread exists.
    for status in thread_statuses(child.0.id()) {
        let uid = status_field(&status, "Uid:");
        let gid = status_field(&status, "Gid:");
        assert!(uid.iter().all(|v| *v == "65534"), "{uid:?}");
        assert!(gid.iter().all(|v| *v == "65534"), "{gid:?}");
        for set in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
            assert_eq!(status_field(&status, set), ["0000000000000000"], "{set}");
        }
    }
}

/// The /proc status text of every thread of process `pid`; fails unless there are several
/// (the runtime's workers), so the check covers threads started after the drop.
fn thread_statuses(pid: u32) -> Vec<String> {
    let statuses: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|t| std::fs::read_to_string(t.unwrap().path().join("status")).unwrap())
        .collect();
    assert!(
        statuses.len() > 1,
        "expected worker threads, saw {}",
        statuses.len()
    );
    statuses
}

/// Whether this test process runs with real UID 0.
fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status_field(&status, "Uid:").first() == Some(&"0")
}

/// A port below 1024 that is free on 127.0.0.1 for UDP and TCP (the caller is root).
fn free_privileged_port() -> u16 {
    (900..1000)
        .rev()
        .find(|&port| {
            std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        })
        .expect("a free port below 1024")
}

/// How the image and the DaemonSet run it: a non-root user whose only capability is
/// NET_BIND_SERVICE. It binds a port below 1024 with it and then holds no capability.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_root_binds_with_the_capability_then_holds_none() {
    let is_root = running_as_root();
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    if !is_root || !setpriv {
        eprintln!("SKIPPED non_root_binds_with_the_capability_then_holds_none: needs root and setpriv (util-linux) to hand a non-root user a capability");
        return;
    }
    let server = self_signed("c.test");
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_privileged_port())
        .parse()
        .unwrap();
    let child = Reaped::spawn(
        Command::new("setpriv")
            .args(["--reuid", "65532", "--regid", "65532", "--clear-groups"])
            .args(["--inh-caps", "+net_bind_service"])
            .args(["--ambient-caps", "+net_bind_service", "--"])
            .arg(env!("CARGO_BIN_EXE_strictdot"))
            .args(["--listen", &addr.to_string()])
            .args([
                "--upstream",
                &up.addr.to_string(),
                "--pin-sha256",
                &server.pin().to_string(),
            ])
            .env_clear()
            .env("STRICTDOT_DNSSEC", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_answering(addr).await;
    // Every thread: capability sets are per thread, so a worker started before the drop
    // would still hold NET_BIND_SERVICE.
    for status in thread_statuses(child.0.id()) {
        let field = |name: &str| status_field(&status, name);
        assert!(field("Uid:").iter().all(|v| *v == "65532"), "{status}");
        for set in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
            assert_eq!(field(set), ["0000000000000000"], "{set} in\n{status}");
        }
    }
}

/// The values of the line starting with `name` (such as "Uid:") in a /proc status text.
fn status_field<'a>(status: &'a str, name: &str) -> Vec<&'a str> {
    status
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in\n{status}"))
        .split_whitespace()
        .skip(1)
        .collect()
}

/// The DoT listener's key may stay readable by root only: strictdot reads it at start,
/// switches to `--user`, and a SIGHUP reload (which cannot read the key any more) keeps
/// the running listener instead of being refused; the listener still serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_after_the_user_switch_keeps_a_root_only_tls_key() {
    use std::os::unix::fs::PermissionsExt as _;
    if !running_as_root() {
        eprintln!("SKIPPED reload_after_the_user_switch_keeps_a_root_only_tls_key: needs root to switch user");
        return;
    }
    let upstream_cert = self_signed("p.test");
    let up = UpstreamOptions::new(&upstream_cert, &[]).start().await;
    let root = ca("Listener CA");
    let listener_cert = leaf("dns.strictdot.test", &root);
    let dir = temp_dir("policy-rootkey");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (cert, key, ca_path, policy) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
        dir.join("p.toml"),
    );
    write(&cert, &listener_cert.pem());
    write(&key, &listener_cert.key.serialize_pem());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&cert, std::fs::Permissions::from_mode(0o644)).unwrap();
    write(&ca_path, &root.pem());
    let port = free_port();
    let tls_port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    write(
        &policy,
        &format!(
            "[[upstream]]\nname = \"u\"\naddress = \"{}\"\npins = [{{ sha256 = \"{}\" }}]\n",
            up.addr,
            upstream_cert.pin()
        ),
    );
    std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_child, lines) = reload_log(
        bin()
            .args(["--listen", &addr.to_string(), "--user", "65534:65534"])
            .args(["--listen-tls", &format!("127.0.0.1:{tls_port}")])
            .arg("--policy")
            .arg(&policy)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key),
        addr,
        || {},
        &["configuration reloaded", "reload refused"],
    )
    .await;
    assert!(
        lines.iter().any(|l| l.contains("configuration reloaded")),
        "the reload was refused: {lines:#?}"
    );
    // The listener still serves, with the key read at start.
    let out = tokio::task::spawn_blocking(move || {
        Command::new("kdig")
            .args(["@127.0.0.1", "-p", &tls_port.to_string(), "+tls", "+time=3"])
            .arg(format!("+tls-ca={}", ca_path.display()))
            .args(["+tls-hostname=dns.strictdot.test", "www.example"])
            .output()
            .expect("kdig is needed: run scripts/test.sh")
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.contains("NOERROR"), "{out}");
}
