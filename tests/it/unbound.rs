//! End-to-end tests against a real DNS-over-TLS server: Unbound, authoritative for a small
//! test zone, serves DoT on loopback with a certificate made by rcgen; the real `strictdot`
//! binary forwards to it; `kdig` and raw sockets play the client.
//!
//! Everything here is a separate process, so the tests are plain `#[test]` functions. Each
//! test starts its own Unbound and strictdot on free loopback ports and stops them when it
//! ends (Drop guards), so the tests can run in parallel. All traffic stays on 127.0.0.1.
//!
//! Unbound and kdig are required: without them these tests fail and say to run
//! `scripts/test.sh`, which installs them.

#![allow(
    clippy::disallowed_types,
    reason = "plain #[test]s, no tokio runtime to follow"
)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The name in the test certificate and the one strictdot authenticates Unbound by.
const TLS_NAME: &str = "unbound.test";
/// How many TXT records `big.example` holds.
const BIG_TXT_RECORDS: usize = 20;
/// A pin that matches no key: 32 zero bytes.
const WRONG_PIN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
/// Longest wait for a process to become ready.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// Attempts at starting a process on a fresh free port.
const START_ATTEMPTS: usize = 3;

const TYPE_A: u16 = 1;
const TYPE_TXT: u16 = 16;
const RCODE_NOERROR: u8 = 0;

#[test]
fn unbound_name_and_ca_file_udp_and_tcp() {
    let tools = Tools::require();
    let dir = Scratch::new("name");
    let unbound = Unbound::start(&tools, &dir);
    let mut proxy = Strictdot::start(
        &dir,
        "name",
        &[
            "--upstream".to_owned(),
            format!("127.0.0.1:{}#{TLS_NAME}", unbound.port),
            "--ca-file".to_owned(),
            unbound.cert.display().to_string(),
        ],
        Ready::NoError,
    );

    for transport in [Transport::Udp, Transport::Tcp] {
        let out = kdig(&tools, proxy.port, transport, "www.example", "A");
        assert_status(&out, "NOERROR");
        assert!(
            has_record(&out, "www.example.", "A", "192.0.2.1"),
            "no 'www.example. A 192.0.2.1' in kdig's answer over {transport:?}:\n{out}"
        );
        let from = format!("From 127.0.0.1@{}({})", proxy.port, transport.kdig_label());
        assert!(
            out.contains(&from),
            "kdig did not query over {transport:?} ('{from}' missing):\n{out}"
        );
    }

    // dig is optional; scripts/test.sh installs it, but nothing depends on it.
    if let Some(dig) = &tools.dig {
        for tcp in [false, true] {
            let mut cmd = Command::new(dig);
            cmd.args(["@127.0.0.1", "-p", &proxy.port.to_string()])
                .args(["+time=2", "+tries=2", "www.example", "A"]);
            if tcp {
                cmd.arg("+tcp");
            }
            let out = run(&mut cmd);
            assert_status(&out, "NOERROR");
            assert!(
                has_record(&out, "www.example.", "A", "192.0.2.1"),
                "no 'www.example. A 192.0.2.1' in dig's answer (tcp: {tcp}):\n{out}"
            );
        }
    }
    proxy.assert_running();
}

#[test]
fn unbound_big_answer_truncated_over_udp_complete_over_tcp() {
    let tools = Tools::require();
    let dir = Scratch::new("tc");
    let unbound = Unbound::start(&tools, &dir);
    let mut proxy = Strictdot::start(
        &dir,
        "tc",
        &[
            "--upstream".to_owned(),
            format!("127.0.0.1:{}#{TLS_NAME}", unbound.port),
            "--ca-file".to_owned(),
            unbound.cert.display().to_string(),
        ],
        Ready::NoError,
    );
    let addr = proxy.addr();

    // UDP without EDNS: the answer is larger than 512 octets, so only a TC=1 header and
    // the question come back, and no records.
    let id = 0x5a17;
    let query = build_query(id, "big.example", TYPE_TXT);
    let reply = udp_exchange(addr, &query, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("no UDP answer for big.example TXT: {e}\n{}", proxy.log()));
    let msg = Message::parse(&reply).unwrap_or_else(|e| panic!("bad UDP answer: {e}"));
    assert_eq!(msg.id, id, "UDP answer ID");
    assert!(msg.qr, "UDP answer has QR=0");
    assert!(msg.tc, "UDP answer for big.example has TC=0: {msg:?}");
    assert_eq!(msg.rcode, RCODE_NOERROR, "UDP answer RCODE: {msg:?}");
    assert_eq!(msg.qdcount, 1, "UDP answer keeps the question: {msg:?}");
    assert_eq!(msg.answers.len(), 0, "TC=1 answer carries records: {msg:?}");
    assert_eq!(
        msg.arcount, 0,
        "no OPT in the answer to a query without EDNS: {msg:?}"
    );
    assert!(reply.len() <= 512, "UDP answer of {} octets", reply.len());

    // The same question over TCP gets every record.
    let id = 0x7c01;
    let query = build_query(id, "big.example", TYPE_TXT);
    let reply = tcp_exchange(addr, &query, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("no TCP answer for big.example TXT: {e}\n{}", proxy.log()));
    let msg = Message::parse(&reply).unwrap_or_else(|e| panic!("bad TCP answer: {e}"));
    assert_eq!(msg.id, id, "TCP answer ID");
    assert!(msg.qr && !msg.tc, "TCP answer flags: {msg:?}");
    assert_eq!(msg.rcode, RCODE_NOERROR, "TCP answer RCODE: {msg:?}");
    let txt: Vec<&Record> = msg.answers.iter().filter(|r| r.rtype == TYPE_TXT).collect();
    assert_eq!(txt.len(), BIG_TXT_RECORDS, "TXT records over TCP: {msg:?}");
    assert!(
        reply.len() > 512,
        "TCP answer of only {} octets",
        reply.len()
    );
    for i in 1..=BIG_TXT_RECORDS {
        let tag = format!("record-{i:02}-");
        assert!(
            txt.iter().any(|r| contains(&r.rdata, tag.as_bytes())),
            "TXT record {tag} missing over TCP"
        );
    }
    proxy.assert_running();
}

#[test]
fn unbound_pin_only_upstream_answers() {
    let tools = Tools::require();
    let dir = Scratch::new("pin");
    let unbound = Unbound::start(&tools, &dir);
    let pin = pin_of(&unbound.cert);
    let mut proxy = Strictdot::start(
        &dir,
        "pin",
        &[
            "--upstream".to_owned(),
            format!("127.0.0.1:{}", unbound.port),
            "--pin-sha256".to_owned(),
            pin,
        ],
        Ready::NoError,
    );
    for transport in [Transport::Udp, Transport::Tcp] {
        let out = kdig(&tools, proxy.port, transport, "www.example", "A");
        assert_status(&out, "NOERROR");
        assert!(
            has_record(&out, "www.example.", "A", "192.0.2.1"),
            "no 'www.example. A 192.0.2.1' over {transport:?} with a pinned upstream:\n{out}"
        );
    }
    proxy.assert_running();
}

#[test]
fn unbound_wrong_pin_gives_servfail() {
    let tools = Tools::require();
    let dir = Scratch::new("badpin");
    let unbound = Unbound::start(&tools, &dir);
    let mut proxy = Strictdot::start(
        &dir,
        "badpin",
        &[
            "--upstream".to_owned(),
            format!("127.0.0.1:{}", unbound.port),
            "--pin-sha256".to_owned(),
            WRONG_PIN.to_owned(),
            "--timeout".to_owned(),
            "2s".to_owned(),
        ],
        Ready::AnyAnswer,
    );
    for transport in [Transport::Udp, Transport::Tcp] {
        let out = kdig(&tools, proxy.port, transport, "www.example", "A");
        assert_status(&out, "SERVFAIL");
        assert!(
            !out.contains("192.0.2.1"),
            "an upstream with the wrong key was used over {transport:?}:\n{out}"
        );
        // The SERVFAIL says why (RFC 8914) to a client that sends EDNS, as kdig prints it.
        let mut cmd = Command::new(&tools.kdig);
        cmd.args(["@127.0.0.1", "-p", &proxy.port.to_string()])
            .args(["+timeout=3", "+retry=1", "+edns"])
            .arg(match transport {
                Transport::Udp => "+notcp",
                Transport::Tcp => "+tcp",
            })
            .args(["www.example", "A"]);
        let out = run(&mut cmd);
        assert_status(&out, "SERVFAIL");
        assert!(
            out.contains("EDE: 22 (No Reachable Authority)")
                && out.contains("upstream authentication failed: SPKI pin mismatch"),
            "no Extended DNS Error in kdig's output over {transport:?}:\n{out}"
        );
    }
    // dig prints it too.
    let out = run(Command::new("dig")
        .args(["@127.0.0.1", "-p", &proxy.port.to_string()])
        .args(["+time=3", "+tries=1", "www.example", "A"]));
    assert_status(&out, "SERVFAIL");
    assert!(
        out.contains("EDE: 22 (No Reachable Authority)")
            && out.contains("upstream authentication failed: SPKI pin mismatch"),
        "no Extended DNS Error in dig's output:\n{out}"
    );
    let log = proxy.log();
    assert!(
        log.contains("pin mismatch"),
        "strictdot did not log the pin mismatch:\n{log}"
    );
    proxy.assert_running();
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The external programs the tests use.
struct Tools {
    unbound: PathBuf,
    kdig: PathBuf,
    dig: Option<PathBuf>,
}

impl Tools {
    /// Finds unbound and kdig, or fails the test saying how to get them.
    fn require() -> Tools {
        let unbound = find_tool("unbound");
        let kdig = find_tool("kdig");
        let mut missing = Vec::new();
        if unbound.is_none() {
            missing.push("unbound (package unbound)");
        }
        if kdig.is_none() {
            missing.push("kdig (package knot-dnsutils)");
        }
        match (unbound, kdig) {
            (Some(unbound), Some(kdig)) => Tools {
                unbound,
                kdig,
                dig: find_tool("dig"),
            },
            _ => panic!(
                "the Unbound integration tests need {} but it is not installed: run \
                 scripts/test.sh, which installs unbound and knot-dnsutils and then runs the tests",
                missing.join(" and ")
            ),
        }
    }
}

/// Looks for an executable on PATH and in the sbin directories (unbound lives in
/// /usr/sbin, which is often not on a user's PATH).
fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(
        [
            "/usr/local/sbin",
            "/usr/sbin",
            "/sbin",
            "/usr/local/bin",
            "/usr/bin",
        ]
        .into_iter()
        .map(PathBuf::from),
    );
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A fresh directory under the system temp dir; removed at the end unless the test failed,
/// so a failure leaves the configuration and logs behind for inspection.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(label: &str) -> Scratch {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "strictdot-unbound-{label}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Scratch { path }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A child process killed and reaped on drop.
struct Guard {
    child: Child,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Guard {
    /// The exit status if the process has ended.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

/// Unbound serving DoT on 127.0.0.1, authoritative for `example.` only.
struct Unbound {
    port: u16,
    cert: PathBuf,
    _guard: Guard,
}

impl Unbound {
    fn start(tools: &Tools, dir: &Scratch) -> Unbound {
        let certified = rcgen::generate_simple_self_signed(vec![TLS_NAME.to_owned()])
            .expect("rcgen generates a self-signed certificate");
        let cert = dir.file("cert.pem");
        let key = dir.file("key.pem");
        write_file(&cert, certified.cert.pem().as_bytes());
        write_file(&key, certified.signing_key.serialize_pem().as_bytes());

        let mut failures = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let port = free_tcp_port();
            let conf = dir.file("unbound.conf");
            write_file(&conf, unbound_conf(&dir.path, port, &cert, &key).as_bytes());
            let log_path = dir.file(&format!("unbound-{attempt}.log"));
            let mut guard = Guard {
                child: Command::new(&tools.unbound)
                    .arg("-d")
                    .arg("-c")
                    .arg(&conf)
                    .current_dir(&dir.path)
                    .stdin(Stdio::null())
                    .stdout(create_file(&dir.file(&format!("unbound-{attempt}.out"))))
                    .stderr(create_file(&log_path))
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start {}: {e}", tools.unbound.display())),
            };
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let deadline = Instant::now() + READY_WITHIN;
            loop {
                if let Some(status) = guard.exited() {
                    failures.push_str(&format!(
                        "attempt {attempt} (port {port}): unbound exited with {status}:\n{}\n",
                        read_lossy(&log_path)
                    ));
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Unbound {
                        port,
                        cert,
                        _guard: guard,
                    };
                }
                if Instant::now() >= deadline {
                    panic!(
                        "unbound did not accept TCP connections on {addr} within {READY_WITHIN:?}\n\
                         configuration {}:\n{}\nlog:\n{}",
                        conf.display(),
                        read_lossy(&conf),
                        read_lossy(&log_path)
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("unbound did not start in {START_ATTEMPTS} attempts:\n{failures}");
    }
}

/// The Unbound configuration: DoT only on 127.0.0.1@port, answers from local data, refuses
/// everything else, never queries anything (there is nothing to recurse to: `.` is refused).
fn unbound_conf(dir: &Path, port: u16, cert: &Path, key: &Path) -> String {
    let mut conf = format!(
        r#"server:
    verbosity: 1
    num-threads: 1
    interface: 127.0.0.1@{port}
    tls-port: {port}
    tls-service-key: "{key}"
    tls-service-pem: "{cert}"
    interface-automatic: no
    so-reuseport: no
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    do-daemonize: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    local-zone: "." refuse
    local-zone: "example." static
    local-data: "www.example. 300 IN A 192.0.2.1"
"#,
        key = key.display(),
        cert = cert.display(),
        dir = dir.display(),
    );
    // Twenty distinct 200-character TXT strings: about 4.3 kB of answer, far above 512.
    for i in 1..=BIG_TXT_RECORDS {
        let text = format!("record-{i:02}-{}", "x".repeat(190));
        conf.push_str(&format!(
            "    local-data: 'big.example. 300 IN TXT \"{text}\"'\n"
        ));
    }
    conf.push_str("remote-control:\n    control-enable: no\n");
    conf
}

/// What counts as "ready" for a strictdot instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ready {
    /// A NOERROR answer to `www.example A` (the upstream works).
    NoError,
    /// Any answer at all (SERVFAIL included).
    AnyAnswer,
}

/// The strictdot binary, serving UDP and TCP on one loopback port.
struct Strictdot {
    port: u16,
    log_path: PathBuf,
    guard: Guard,
}

impl Strictdot {
    fn start(dir: &Scratch, label: &str, upstream_args: &[String], ready: Ready) -> Strictdot {
        let mut failures = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let port = free_udp_and_tcp_port();
            let log_path = dir.file(&format!("strictdot-{label}-{attempt}.log"));
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_strictdot"));
            for var in STRICTDOT_ENV {
                cmd.env_remove(var);
            }
            // Unbound serves an unsigned local zone here; tests/dnssec.rs does validation.
            cmd.env("NO_COLOR", "1")
                .env("STRICTDOT_DNSSEC", "off")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .args(upstream_args)
                .args(["--log-level", "debug"])
                .current_dir(&dir.path)
                .stdin(Stdio::null())
                .stdout(create_file(
                    &dir.file(&format!("strictdot-{label}-{attempt}.out")),
                ))
                .stderr(create_file(&log_path));
            let mut guard = Guard {
                child: cmd
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start strictdot: {e}")),
            };
            match wait_for_answer(&mut guard, port, ready) {
                Ok(()) => {
                    return Strictdot {
                        port,
                        log_path,
                        guard,
                    }
                }
                Err(WaitError::Exited(status)) => {
                    let log = read_lossy(&log_path);
                    // Exit code 1 with a bind error: the port was taken meanwhile; retry.
                    if status.code() == Some(1) && log.contains("cannot bind") {
                        failures.push_str(&format!("attempt {attempt} (port {port}): {log}\n"));
                        continue;
                    }
                    panic!("strictdot exited with {status} ({upstream_args:?}):\n{log}");
                }
                Err(WaitError::NotReady(last)) => panic!(
                    "strictdot on 127.0.0.1:{port} not ready ({ready:?}) within \
                     {READY_WITHIN:?}; last: {last}\nlog:\n{}",
                    read_lossy(&log_path)
                ),
            }
        }
        panic!("strictdot did not start in {START_ATTEMPTS} attempts:\n{failures}");
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    /// Fails the test if strictdot has exited (it must survive everything above).
    fn assert_running(&mut self) {
        if let Some(status) = self.guard.exited() {
            panic!("strictdot exited with {status}:\n{}", self.log());
        }
    }
}

/// Environment variables strictdot reads; removed so the caller's environment cannot
/// change what a test runs.
const STRICTDOT_ENV: [&str; 12] = [
    "STRICTDOT_LISTEN",
    "STRICTDOT_UPSTREAM",
    "STRICTDOT_PIN_SHA256",
    "STRICTDOT_CA_FILE",
    "STRICTDOT_TLS_MIN_VERSION",
    "STRICTDOT_TIMEOUT",
    "STRICTDOT_MAX_TCP_CLIENTS",
    "STRICTDOT_TCP_IDLE_TIMEOUT",
    "STRICTDOT_UPSTREAM_IDLE_TIMEOUT",
    "STRICTDOT_MAX_UPSTREAM_CONNECTIONS",
    "STRICTDOT_MAX_IN_FLIGHT",
    "STRICTDOT_LOG_LEVEL",
];

enum WaitError {
    Exited(std::process::ExitStatus),
    NotReady(String),
}

/// Sends `www.example A` over UDP until an answer that satisfies `ready` arrives, the
/// process exits, or [`READY_WITHIN`] passes.
fn wait_for_answer(guard: &mut Guard, port: u16, ready: Ready) -> Result<(), WaitError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + READY_WITHIN;
    let mut id: u16 = 0x1000;
    loop {
        if let Some(status) = guard.exited() {
            return Err(WaitError::Exited(status));
        }
        id = id.wrapping_add(1);
        let query = build_query(id, "www.example", TYPE_A);
        let last = match udp_exchange(addr, &query, Duration::from_millis(500)) {
            Ok(reply) => match Message::parse(&reply) {
                Ok(msg) if msg.id == id && msg.qr => {
                    if ready == Ready::AnyAnswer || msg.rcode == RCODE_NOERROR {
                        return Ok(());
                    }
                    format!("answer with RCODE {}", msg.rcode)
                }
                Ok(msg) => format!("unexpected message {msg:?}"),
                Err(e) => format!("unparsable answer: {e}"),
            },
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(WaitError::NotReady(last));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The SPKI pin of the certificate in `cert`, as printed by `strictdot pin --cert`.
fn pin_of(cert: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_strictdot"))
        .arg("pin")
        .arg("--cert")
        .arg(cert)
        .stdin(Stdio::null())
        .output()
        .expect("strictdot pin runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "strictdot pin --cert failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("pin-sha256:"))
        .map(|p| p.trim().to_owned())
        .unwrap_or_else(|| panic!("no 'pin-sha256:' line in:\n{stdout}"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// How kdig names the transport in its `;; From ADDR@PORT(...)` line.
    fn kdig_label(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// Asks strictdot with kdig; returns kdig's stdout and stderr together.
fn kdig(tools: &Tools, port: u16, transport: Transport, name: &str, rtype: &str) -> String {
    let mut cmd = Command::new(&tools.kdig);
    cmd.args(["@127.0.0.1", "-p", &port.to_string()])
        .args(["+timeout=3", "+retry=1"]);
    cmd.arg(match transport {
        Transport::Udp => "+notcp",
        Transport::Tcp => "+tcp",
    });
    cmd.args([name, rtype]);
    run(&mut cmd)
}

/// Runs a command to completion; returns stdout and stderr together.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts the `status: RCODE` of kdig's (or dig's) header line.
fn assert_status(out: &str, rcode: &str) {
    let want = format!("status: {rcode}");
    let found = out
        .lines()
        .filter(|l| l.contains("->>HEADER<<-"))
        .any(|l| l.contains(&format!("{want};")) || l.contains(&format!("{want},")));
    assert!(found, "expected '{want}' in the header line:\n{out}");
}

/// Whether a presentation-format record `owner TTL IN rtype rdata` is in the output.
fn has_record(out: &str, owner: &str, rtype: &str, rdata: &str) -> bool {
    out.lines()
        .filter(|l| !l.starts_with(';'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .any(|f| {
            f.len() == 5
                && f[0].eq_ignore_ascii_case(owner)
                && f[2] == "IN"
                && f[3] == rtype
                && f[4] == rdata
        })
}

/// A port that was free for TCP on 127.0.0.1 a moment ago.
fn free_tcp_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A port that was free for both UDP and TCP on 127.0.0.1 a moment ago.
fn free_udp_and_tcp_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

fn create_file(path: &Path) -> File {
    File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
}

fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn read_lossy(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------
// Raw DNS: a query builder and a small response parser, enough for these tests.
// ---------------------------------------------------------------------------------------

/// A standard query (RD=1) for `name`/`rtype`/IN, without EDNS.
fn build_query(id: u16, name: &str, rtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend(id.to_be_bytes());
    m.extend([0x01, 0x00]); // RD
    m.extend([0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT 1
    for label in name.trim_end_matches('.').split('.') {
        m.push(u8::try_from(label.len()).expect("label length"));
        m.extend(label.as_bytes());
    }
    m.push(0);
    m.extend(rtype.to_be_bytes());
    m.extend(1u16.to_be_bytes()); // IN
    m
}

/// One query, one answer, over UDP from an ephemeral loopback port.
fn udp_exchange(server: SocketAddr, query: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("bind: {e}"))?;
    sock.connect(server).map_err(|e| format!("connect: {e}"))?;
    sock.send(query).map_err(|e| format!("send: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no UDP answer from {server} within {timeout:?}"));
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| format!("set_read_timeout: {e}"))?;
        match sock.recv(&mut buf) {
            // Skip anything that is not an answer to this query's ID.
            Ok(n) if n >= 2 && buf[..2] == query[..2] => return Ok(buf[..n].to_vec()),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no UDP answer from {server} within {timeout:?}"))
            }
            Err(e) => return Err(format!("recv: {e}")),
        }
    }
}

/// One query, one answer, over TCP with RFC 1035 two-octet length framing.
fn tcp_exchange(server: SocketAddr, query: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    let mut stream =
        TcpStream::connect_timeout(&server, timeout).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("timeouts: {e}"))?;
    let len = u16::try_from(query.len()).expect("query fits a frame");
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend(query);
    stream
        .write_all(&frame)
        .map_err(|e| format!("write: {e}"))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .map_err(|e| format!("read length: {e}"))?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut reply)
        .map_err(|e| format!("read message: {e}"))?;
    Ok(reply)
}

/// The parts of a DNS response the tests look at.
#[derive(Debug)]
struct Message {
    id: u16,
    qr: bool,
    tc: bool,
    rcode: u8,
    qdcount: u16,
    arcount: u16,
    answers: Vec<Record>,
}

/// One answer-section record.
struct Record {
    rtype: u16,
    rdata: Vec<u8>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Record(type {}, {} octets)",
            self.rtype,
            self.rdata.len()
        )
    }
}

impl Message {
    /// Parses the header, skips the questions, and reads the answer section.
    fn parse(m: &[u8]) -> Result<Message, String> {
        let u16_at = |i: usize| -> Result<u16, String> {
            m.get(i..i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| format!("truncated at offset {i}"))
        };
        let id = u16_at(0)?;
        let flags = u16_at(2)?;
        let qdcount = u16_at(4)?;
        let ancount = u16_at(6)?;
        let arcount = u16_at(10)?;
        let mut pos = 12;
        for _ in 0..qdcount {
            pos = skip_name(m, pos)? + 4;
        }
        let mut answers = Vec::new();
        for _ in 0..ancount {
            pos = skip_name(m, pos)?;
            let rtype = u16_at(pos)?;
            let rdlen = usize::from(u16_at(pos + 8)?);
            let start = pos + 10;
            let rdata = m
                .get(start..start + rdlen)
                .ok_or_else(|| format!("record data truncated at offset {start}"))?
                .to_vec();
            answers.push(Record { rtype, rdata });
            pos = start + rdlen;
        }
        Ok(Message {
            id,
            qr: flags & 0x8000 != 0,
            tc: flags & 0x0200 != 0,
            rcode: (flags & 0x000f) as u8,
            qdcount,
            arcount,
            answers,
        })
    }
}

/// The offset just past the (possibly compressed) name at `pos`.
fn skip_name(m: &[u8], mut pos: usize) -> Result<usize, String> {
    loop {
        let len = *m
            .get(pos)
            .ok_or_else(|| format!("name truncated at {pos}"))?;
        match len {
            0 => return Ok(pos + 1),
            l if l & 0xc0 == 0xc0 => return Ok(pos + 2),
            l if l & 0xc0 == 0 => pos += 1 + usize::from(l),
            _ => return Err(format!("bad label type at {pos}")),
        }
    }
}

#[test]
fn raw_dns_helpers_round_trip() {
    let q = build_query(0xabcd, "www.example.", TYPE_A);
    assert_eq!(q.len(), 12 + 13 + 4);
    let msg = Message::parse(&q).unwrap();
    assert_eq!(msg.id, 0xabcd);
    assert!(!msg.qr && !msg.tc);
    assert_eq!(msg.qdcount, 1);
    assert!(msg.answers.is_empty());
    let mut reply = q.clone();
    reply[2] = 0x81;
    reply[7] = 1; // ANCOUNT 1
    reply.extend([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    let msg = Message::parse(&reply).unwrap();
    assert!(msg.qr);
    assert_eq!(msg.answers.len(), 1);
    assert_eq!(msg.answers[0].rtype, TYPE_A);
    assert_eq!(msg.answers[0].rdata, vec![192, 0, 2, 1]);
    assert!(Message::parse(&reply[..reply.len() - 1]).is_err());
    assert!(has_record(
        "www.example.        \t300\tIN\tA\t192.0.2.1",
        "www.example.",
        "A",
        "192.0.2.1"
    ));
    assert!(!has_record(
        ";; www.example. 300 IN A 192.0.2.1",
        "www.example.",
        "A",
        "192.0.2.1"
    ));
}
