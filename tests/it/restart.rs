//! Restarts that lose nothing: the real binary under a steady load over UDP (a fresh socket
//! per query) and TCP (persistent connections and a fresh connection per query) while a
//! second instance starts on the same address (SO_REUSEPORT) and the first one is sent
//! SIGTERM, over several repetitions. Every query must be answered; a TCP client may
//! reconnect once after its connection was closed cleanly (end of stream, no reset). The
//! same load runs across socket-activated restarts (`systemctl restart`: the test holds
//! the sockets, each instance exits before the next starts on them).
//!
//! Readiness is the new instance's `READY=1` on a notification socket the test binds
//! (the sd_notify protocol, as systemd's `Type=notify` uses it), not a sleep.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::support::*;

/// Handovers per run (`STRICTDOT_RESTART_REPS` overrides).
const REPS: usize = 5;
/// A query unanswered for this long is lost.
const ANSWER_WAIT: Duration = Duration::from_secs(2);
/// Longest wait for an instance to become ready or to exit.
const PROCESS_WAIT: Duration = Duration::from_secs(30);

/// Handovers this run: [`REPS`], or `STRICTDOT_RESTART_REPS` if set to a number.
fn repetitions() -> usize {
    std::env::var("STRICTDOT_RESTART_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(REPS)
}

/// Per-repetition counts of one transport.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    answered: AtomicU64,
    /// TCP only: answered after one reconnect, the connection having been closed cleanly.
    reconnected: AtomicU64,
    lost: AtomicU64,
}

struct Load {
    /// The repetition queries are counted in (from 1; 0 is never used once the load runs).
    epoch: AtomicUsize,
    stop: AtomicBool,
    ids: AtomicUsize,
    /// [transport][epoch]
    tallies: Vec<Vec<Tally>>,
    /// What went wrong, for the report (first few).
    errors: std::sync::Mutex<Vec<String>>,
}

const UDP: usize = 0;
const TCP_KEEP: usize = 1;
const TCP_FRESH: usize = 2;
const NAMES: [&str; 3] = ["udp (fresh socket)", "tcp (persistent)", "tcp (fresh conn)"];

impl Load {
    fn new(reps: usize) -> Load {
        Load {
            epoch: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            ids: AtomicUsize::new(0),
            tallies: (0..3)
                .map(|_| (0..=reps).map(|_| Tally::default()).collect())
                .collect(),
            errors: Default::default(),
        }
    }

    fn next(&self) -> (u16, String, usize) {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        (
            n as u16,
            format!("r{n}.example"),
            self.epoch.load(Ordering::SeqCst),
        )
    }

    fn count(&self, transport: usize, epoch: usize, outcome: Result<bool, String>) {
        let t = &self.tallies[transport][epoch];
        t.sent.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(false) => t.answered.fetch_add(1, Ordering::Relaxed),
            Ok(true) => t.reconnected.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                let mut errors = self.errors.lock().unwrap();
                if errors.len() < 20 {
                    errors.push(format!("{} rep {epoch}: {e}", NAMES[transport]));
                }
                t.lost.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

impl Load {
    /// Prints the counts per transport and repetition under `title`; returns the queries
    /// lost per transport.
    fn report(&self, title: &str) -> [u64; 3] {
        println!("{title}");
        println!(
            "  {:<20} rep  sent  answered  reconnected  lost",
            "transport"
        );
        let mut lost = [0u64; 3];
        for (t, name) in NAMES.iter().enumerate() {
            for (rep, tally) in self.tallies[t].iter().enumerate().skip(1) {
                let l = tally.lost.load(Ordering::Relaxed);
                lost[t] += l;
                println!(
                    "  {name:<20} {rep:>3} {:>5} {:>9} {:>12} {l:>5}",
                    tally.sent.load(Ordering::Relaxed),
                    tally.answered.load(Ordering::Relaxed),
                    tally.reconnected.load(Ordering::Relaxed),
                );
            }
        }
        lost
    }
}

/// Checks that `reply` answers query `id` with NOERROR.
fn check(reply: &[u8], id: u16) -> Result<(), String> {
    let m = parse(reply);
    if m.id() != id {
        return Err(format!("reply ID {} for query {id}", m.id()));
    }
    if m.response_code() != hickory_proto::op::ResponseCode::NoError {
        return Err(format!("rcode {:?}", m.response_code()));
    }
    Ok(())
}

async fn udp_query(addr: SocketAddr, id: u16, name: &str) -> Result<bool, String> {
    let sock = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    // Connected, so an ICMP refusal shows up as an error rather than a timeout.
    sock.connect(addr).await.map_err(|e| e.to_string())?;
    sock.send(&query(id, name, 1, None))
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(ANSWER_WAIT, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => check(&buf[..n], id).map(|()| false),
        Ok(Err(e)) => Err(format!("recv: {e}")),
        Err(_) => Err("no answer".into()),
    }
}

/// Sends one query on `conn` and reads its answer: `Ok(None)` when the connection ended
/// cleanly (end of stream) before the answer, `Err` on a reset, a timeout or a bad answer.
async fn tcp_ask(conn: &mut TcpStream, id: u16, name: &str) -> Result<Option<()>, String> {
    let msg = query(id, name, 1, None);
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend(&msg);
    if let Err(e) = conn.write_all(&framed).await {
        return match e.kind() {
            // The server closed (FIN then our write hit the closed socket): clean enough to
            // retry only if nothing was reset before; report it.
            ErrorKind::BrokenPipe => Ok(None),
            _ => Err(format!("write: {e}")),
        };
    }
    use tokio::io::AsyncReadExt;
    let read = async {
        let len = conn.read_u16().await?;
        let mut buf = vec![0u8; usize::from(len)];
        conn.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    match tokio::time::timeout(ANSWER_WAIT, read).await {
        Ok(Ok(reply)) => check(&reply, id).map(Some),
        Ok(Err(e)) if e.kind() == ErrorKind::UnexpectedEof => Ok(None),
        Ok(Err(e)) => Err(format!("read: {e}")),
        Err(_) => Err("no answer".into()),
    }
}

/// One query over TCP on `conn` (opened if `None`), reconnecting once after a clean close.
async fn tcp_query(
    addr: SocketAddr,
    conn: &mut Option<TcpStream>,
    id: u16,
    name: &str,
) -> Result<bool, String> {
    for attempt in 0..2 {
        let c = match conn {
            Some(c) => c,
            None => conn.insert(
                TcpStream::connect(addr)
                    .await
                    .map_err(|e| format!("connect: {e}"))?,
            ),
        };
        match tcp_ask(c, id, name).await {
            Ok(Some(())) => return Ok(attempt > 0),
            Ok(None) => *conn = None,
            Err(e) => {
                *conn = None;
                return Err(e);
            }
        }
    }
    Err("closed cleanly twice in a row".into())
}

/// Runs one kind of client at `per_second` queries until the load stops.
fn spawn_workers(
    set: &mut JoinSet<()>,
    load: &Arc<Load>,
    addr: SocketAddr,
    transport: usize,
    workers: usize,
    per_second: u64,
) {
    let every = Duration::from_micros(1_000_000 * workers as u64 / per_second);
    for _ in 0..workers {
        let load = load.clone();
        set.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut conn = None;
            while !load.stop.load(Ordering::SeqCst) {
                tick.tick().await;
                let (id, name, epoch) = load.next();
                let outcome = match transport {
                    UDP => udp_query(addr, id, &name).await,
                    TCP_KEEP => tcp_query(addr, &mut conn, id, &name).await,
                    _ => tcp_query(addr, &mut None, id, &name).await,
                };
                load.count(transport, epoch, outcome);
            }
        });
    }
}

/// One strictdot process with its own notification socket (killed and reaped if dropped
/// while it runs, so a failing test leaves none behind).
struct Instance {
    child: Reaped,
    notify: UnixDatagram,
    log: PathBuf,
}

impl Instance {
    fn start(dir: &Path, tag: usize, args: &[String]) -> Instance {
        let mut cmd = strictdot_command();
        cmd.args(args);
        Instance::spawn(dir, tag, cmd)
    }

    fn spawn(dir: &Path, tag: usize, mut cmd: Command) -> Instance {
        let socket = dir.join(format!("notify-{tag}.sock"));
        let _ = std::fs::remove_file(&socket);
        let notify = UnixDatagram::bind(&socket).unwrap();
        notify.set_read_timeout(Some(PROCESS_WAIT)).unwrap();
        let log = dir.join(format!("instance-{tag}.log"));
        // The fake upstreams sign nothing: these tests are about restarts, not DNSSEC.
        let child = Reaped::spawn(
            cmd.env("STRICTDOT_DNSSEC", "off")
                .env("NOTIFY_SOCKET", &socket)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(create_file(&log)),
        );
        Instance { child, notify, log }
    }

    /// Waits for `READY=1` from the instance.
    async fn ready(self) -> Instance {
        tokio::task::spawn_blocking(move || {
            let mut buf = [0u8; 256];
            loop {
                match self.notify.recv(&mut buf) {
                    Ok(n) if buf[..n].split(|&b| b == b'\n').any(|l| l == b"READY=1") => {
                        return self;
                    }
                    Ok(_) => continue,
                    Err(e) => panic!(
                        "no READY=1 ({e}); log:\n{}",
                        std::fs::read_to_string(&self.log).unwrap_or_default()
                    ),
                }
            }
        })
        .await
        .unwrap()
    }

    /// Sends SIGTERM and waits for the exit code.
    async fn terminate(mut self) -> (Option<i32>, String) {
        send_signal(self.child.0.id(), "-TERM");
        let deadline = tokio::time::Instant::now() + PROCESS_WAIT;
        loop {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                return (status.code(), log);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no exit after SIGTERM"
            );
            // Polling the exit status (std has no wait with a deadline).
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// `net.ipv4.tcp_migrate_req` (Linux 5.14+) while the test runs: turned on if it can be,
/// put back afterwards.
struct MigrateReq {
    before: Option<String>,
    on: bool,
}

impl MigrateReq {
    const PATH: &'static str = "/proc/sys/net/ipv4/tcp_migrate_req";

    fn enable() -> MigrateReq {
        let before = std::fs::read_to_string(Self::PATH).ok();
        let on = match before.as_deref().map(str::trim) {
            Some("1") => true,
            Some(_) => std::fs::write(Self::PATH, "1").is_ok(),
            None => false,
        };
        MigrateReq { before, on }
    }
}

impl Drop for MigrateReq {
    fn drop(&mut self) {
        if let Some(b) = &self.before {
            if b.trim() != "1" && self.on {
                let _ = std::fs::write(Self::PATH, b.trim());
            }
        }
    }
}

/// What every test here starts from: a fake DoT upstream for `dot.test`, and a directory
/// of the test's own (`strictdot-TAG-PID` under the temp dir) holding, as `ca.pem`, the
/// CA that issued the upstream's certificate.
struct Setup {
    up: FakeUpstream,
    dir: PathBuf,
    ca_path: PathBuf,
}

impl Setup {
    async fn start(tag: &str) -> Setup {
        let root = ca("Test Root");
        let server = leaf("dot.test", &root);
        let up = UpstreamOptions::new(&server, &[]).start().await;
        let dir = temp_dir(tag);
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, root.pem()).unwrap();
        Setup { up, dir, ca_path }
    }

    /// strictdot's arguments: `upstream` (the fake one, or another address) for
    /// `dot.test`, checked against `ca.pem`, then `extra`.
    fn args_for(&self, upstream: SocketAddr, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--upstream".into(),
            format!("{upstream}#dot.test"),
            "--ca-file".into(),
            self.ca_path.display().to_string(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    }

    /// [`Setup::args_for`] the fake upstream.
    fn args(&self, extra: &[&str]) -> Vec<String> {
        self.args_for(self.up.addr, extra)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_under_load_loses_no_query() {
    let reps = repetitions();
    let migrate = MigrateReq::enable();
    let setup = Setup::start("restart").await;
    let dir = &setup.dir;
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let args = setup.args(&["--listen", &addr.to_string(), "--rate-limit", "0"]);

    let mut running = Instance::start(dir, 0, &args).ready().await;
    let load = Arc::new(Load::new(reps));
    let mut clients = JoinSet::new();
    spawn_workers(&mut clients, &load, addr, UDP, 16, 2000);
    spawn_workers(&mut clients, &load, addr, TCP_KEEP, 4, 400);
    spawn_workers(&mut clients, &load, addr, TCP_FRESH, 4, 200);

    for rep in 1..=reps {
        load.epoch.store(rep, Ordering::SeqCst);
        let next = Instance::start(dir, rep, &args).ready().await;
        let (code, log) = running.terminate().await;
        assert_eq!(code, Some(0), "rep {rep}: old instance's exit; log:\n{log}");
        running = next;
    }
    load.stop.store(true, Ordering::SeqCst);
    while clients.join_next().await.is_some() {}
    let (code, log) = running.terminate().await;
    assert_eq!(code, Some(0), "last instance's exit; log:\n{log}");

    let lost = load.report(&format!(
        "restart under load, {reps} handovers (tcp_migrate_req {}):",
        if migrate.on { "on" } else { "OFF" }
    ));
    let errors = load.errors.lock().unwrap().clone();
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(lost[UDP], 0, "UDP queries lost: {errors:#?}");
    assert_eq!(lost[TCP_KEEP], 0, "TCP queries lost: {errors:#?}");
    if migrate.on {
        assert_eq!(lost[TCP_FRESH], 0, "TCP queries lost: {errors:#?}");
    } else {
        eprintln!(
            "WARNING: net.ipv4.tcp_migrate_req could not be turned on: NOT asserting that \
             fresh TCP connections survive a restart ({} lost)",
            lost[TCP_FRESH]
        );
    }
    let sent: u64 = load.tallies[UDP]
        .iter()
        .map(|t| t.sent.load(Ordering::Relaxed))
        .sum();
    assert!(sent > 1000, "the load ran ({sent} UDP queries)");
}

/// The sockets of the shipped `strictdot.socket`, bound the way systemd binds them: UDP
/// and TCP on one port of 127.0.0.1, `Backlog=1024`, `ReceiveBuffer=4M`, inherited across
/// exec (no CLOEXEC).
fn activation_sockets() -> (socket2::Socket, socket2::Socket, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    // One port for both: the listener takes a free one (SO_REUSEADDR, as systemd sets it,
    // so TIME_WAIT leftovers do not matter), UDP the same number (retried if taken).
    let (udp, tcp, addr) = (0..16)
        .find_map(|_| {
            let tcp = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            tcp.set_reuse_address(true).unwrap();
            tcp.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
                .unwrap();
            let addr = tcp.local_addr().unwrap().as_socket().unwrap();
            let udp = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
            udp.bind(&addr.into()).ok()?;
            tcp.listen(1024).unwrap();
            Some((udp, tcp, addr))
        })
        .expect("a port free for UDP and TCP");
    // As much as net.core.rmem_max allows (systemd, as root, forces it past that).
    let _ = udp.set_recv_buffer_size(4 << 20);
    udp.set_cloexec(false).unwrap();
    tcp.set_cloexec(false).unwrap();
    (udp, tcp, addr)
}

/// strictdot started the way systemd starts a socket-activated service: `udp` and `tcp`
/// as descriptors 3 and 4, `LISTEN_FDS=2`, `LISTEN_FDNAMES`, and `LISTEN_PID` the pid of
/// the process that is exec'd (bash's own, which `exec` keeps).
fn activated(
    dir: &Path,
    tag: usize,
    udp: &socket2::Socket,
    tcp: &socket2::Socket,
    args: &[String],
) -> Instance {
    use std::os::fd::AsRawFd;
    let (u, t) = (udp.as_raw_fd(), tcp.as_raw_fd());
    let script = format!(
        "exec 100<&{u} 101<&{t} && exec {u}<&- {t}<&- && exec 3<&100 4<&101 100<&- 101<&- && \
         LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=dns:dns exec \"$0\" \"$@\""
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_strictdot"))
        .args(args);
    Instance::spawn(dir, tag, cmd)
}

/// Socket activation: strictdot serves on the sockets it is given (it binds nothing of
/// its own for DNS: the test holds the port without SO_REUSEPORT), and a restart keeps
/// them, so a query sent while no instance runs waits in the kernel and is answered by
/// the next one; a connection made meanwhile waits in the accept queue. This is what
/// `systemctl restart` does with the shipped units.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_activated_restart_keeps_the_queued_queries() {
    let setup = Setup::start("activation").await;
    let dir = &setup.dir;
    let (udp, tcp, addr) = activation_sockets();
    let args = setup.args(&[]);

    let first = activated(dir, 0, &udp, &tcp, &args).ready().await;
    let reply = udp_exchange(addr, &query(1, "www.example", 1, None), ANSWER_WAIT)
        .await
        .expect("an answer over the inherited UDP socket");
    check(&reply, 1).unwrap();
    let mut conn = None;
    assert_eq!(
        tcp_query(addr, &mut conn, 2, "www.example").await,
        Ok(false)
    );
    drop(conn);
    let (code, log) = first.terminate().await;
    assert_eq!(code, Some(0), "{log}");

    // Nothing runs now; the sockets stay open (here the test holds them, under systemd
    // the socket unit does).
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(&query(3, "www.example", 1, None), addr)
        .await
        .unwrap();
    let mut waiting = TcpStream::connect(addr)
        .await
        .expect("the accept queue takes it");
    let second = activated(dir, 1, &udp, &tcp, &args).ready().await;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(ANSWER_WAIT, client.recv(&mut buf))
        .await
        .expect("the query sent between the two instances is answered")
        .unwrap();
    check(&buf[..n], 3).unwrap();
    assert_eq!(tcp_ask(&mut waiting, 4, "www.example").await, Ok(Some(())));
    let (code, log) = second.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `systemctl restart` of the shipped units under a steady load: the test plays systemd.
/// It holds the sockets (`activation_sockets`, as `strictdot.socket` declares them),
/// starts an instance on them with `LISTEN_FDS`, and at each repetition sends it SIGTERM,
/// waits for it to exit and starts the next on the same sockets, waiting for its
/// `READY=1`, while clients send a few thousand queries a second over UDP (a fresh socket
/// each) and TCP (persistent connections and a fresh one per query). What arrives while
/// no instance runs waits in the sockets' queues (UDP) and the accept queue (TCP): every
/// query must be answered. A TCP client may reconnect once after a clean close.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn socket_activated_restart_under_load_loses_no_query() {
    let reps = repetitions();
    let setup = Setup::start("activation-load").await;
    let dir = &setup.dir;
    let (udp, tcp, addr) = activation_sockets();
    let args = setup.args(&["--rate-limit", "0"]);

    let mut running = activated(dir, 0, &udp, &tcp, &args).ready().await;
    let load = Arc::new(Load::new(reps));
    let mut clients = JoinSet::new();
    spawn_workers(&mut clients, &load, addr, UDP, 16, 2000);
    spawn_workers(&mut clients, &load, addr, TCP_KEEP, 4, 400);
    spawn_workers(&mut clients, &load, addr, TCP_FRESH, 4, 200);
    let mut gaps = Vec::new();
    for rep in 1..=reps {
        load.epoch.store(rep, Ordering::SeqCst);
        let stopped = tokio::time::Instant::now();
        let (code, log) = running.terminate().await;
        assert_eq!(code, Some(0), "rep {rep}: old instance's exit; log:\n{log}");
        let exited = stopped.elapsed();
        running = activated(dir, rep, &udp, &tcp, &args).ready().await;
        gaps.push((exited, stopped.elapsed() - exited));
        // The new instance carries the load for a while (a count, not a sleep) before the
        // next restart.
        let answered = || {
            let t = &load.tallies[UDP][rep];
            t.answered.load(Ordering::Relaxed) + t.lost.load(Ordering::Relaxed)
        };
        let deadline = tokio::time::Instant::now() + PROCESS_WAIT;
        while answered() < 1000 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    load.stop.store(true, Ordering::SeqCst);
    while clients.join_next().await.is_some() {}
    let (code, log) = running.terminate().await;
    assert_eq!(code, Some(0), "last instance's exit; log:\n{log}");

    let lost = load.report(&format!(
        "socket-activated restart under load, {reps} restarts (SIGTERM, exit, start on the same sockets):"
    ));
    for (rep, (exit, start)) in gaps.iter().enumerate() {
        println!(
            "  rep {}: SIGTERM to exit {} ms, exit to READY=1 {} ms (no instance running)",
            rep + 1,
            exit.as_millis(),
            start.as_millis()
        );
    }
    let errors = load.errors.lock().unwrap().clone();
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(
        lost,
        [0, 0, 0],
        "queries lost (udp, tcp persistent, tcp fresh): {errors:#?}"
    );
    let sent: u64 = load.tallies[UDP]
        .iter()
        .map(|t| t.sent.load(Ordering::Relaxed))
        .sum();
    assert!(sent > 1000, "the load ran ({sent} UDP queries)");
}

/// Runs `strictdot healthcheck ARGS`; whether it exited 0.
fn healthcheck(args: &[&str]) -> bool {
    strictdot_command()
        .arg("healthcheck")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Waits (bounded) until `check` holds, looking every 50 ms: the ready file is the signal
/// being waited for, and a file has no notification of its own here.
async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PROCESS_WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Readiness during a surge (the DaemonSet's `maxSurge: 1`): two instances share every
/// port, `--metrics` included (SO_REUSEPORT), so a probe of `127.0.0.1:PORT` reaches either
/// one. The new one cannot reach its upstream: its own check (`healthcheck --ready-file`)
/// says not ready however often it is asked, while the old one's says ready; a file the
/// new one's path held before it started (a crash) is gone. At SIGTERM the old one's file
/// goes before its drain starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_file_is_per_instance_during_a_surge() {
    let setup = Setup::start("surge").await;
    let dir = &setup.dir;
    let port = free_port();
    let metrics = format!("127.0.0.1:{}", free_port());
    let (old_dir, new_dir) = (dir.join("old"), dir.join("new"));
    std::fs::create_dir_all(&old_dir).unwrap();
    std::fs::create_dir_all(&new_dir).unwrap();
    let (old_file, new_file) = (old_dir.join("ready"), new_dir.join("ready"));
    // A port nothing listens on: connections to it are refused.
    let unreachable = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = unreachable.local_addr().unwrap();
    drop(unreachable);
    let args = |upstream: SocketAddr, ready: &Path| -> Vec<String> {
        let listen = format!("127.0.0.1:{port}");
        let ready = ready.display().to_string();
        let extra = [
            "--listen",
            &listen,
            "--metrics",
            &metrics,
            "--ready-file",
            &ready,
        ];
        setup.args_for(upstream, &extra)
    };

    let old = Instance::start(dir, 0, &args(setup.up.addr, &old_file))
        .ready()
        .await;
    until("the old instance's ready file", || old_file.exists()).await;
    assert!(healthcheck(&["--ready-file", old_file.to_str().unwrap()]));

    // Left by a crashed process at the new instance's path.
    std::fs::write(&new_file, "1\n").unwrap();
    let new = Instance::start(dir, 1, &args(dead, &new_file))
        .ready()
        .await;
    // The new instance serves (READY=1) and removed the stale file before binding; it stays
    // not ready for as long as its upstream is unreachable, whatever the shared port says.
    let mut shared_port_said_ready = 0;
    for _ in 0..20 {
        assert!(
            !healthcheck(&["--ready-file", new_file.to_str().unwrap()]),
            "the new instance's own check says ready without an upstream"
        );
        assert!(healthcheck(&["--ready-file", old_file.to_str().unwrap()]));
        if healthcheck(&["--metrics", &metrics]) {
            shared_port_said_ready += 1;
        }
        // Readiness is looked at every 250 ms: 20 rounds span several looks.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "shared --metrics port: {shared_port_said_ready} of 20 probes said ready (answered by \
         the old instance); the new instance's --ready-file: 0 of 20"
    );

    let (code, log) = old.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(
        !old_file.exists(),
        "the old instance's ready file outlived it"
    );
    let lines: Vec<&str> = log.lines().collect();
    let removed = lines
        .iter()
        .position(|l| l.contains("draining: ready file removed"));
    let drain = lines
        .iter()
        .position(|l| l.trim_end().ends_with("INFO draining"));
    assert!(
        matches!((removed, drain), (Some(r), Some(d)) if r < d),
        "the ready file goes before the drain starts:\n{log}"
    );
    assert!(!healthcheck(&["--ready-file", old_file.to_str().unwrap()]));
    let (code, log) = new.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    let _ = std::fs::remove_dir_all(dir);
}
