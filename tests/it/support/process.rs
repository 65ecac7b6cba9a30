//! Real processes on loopback: the strictdot binary with an empty environment, scratch
//! directories, children killed and reaped on drop, free ports, readiness waits, a child's
//! log read line by line, signals, and the external tools (Unbound, promtool) the tests use.

#![allow(
    clippy::disallowed_types,
    reason = "plain threads waiting on processes, no tokio clock to follow"
)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest wait for a process to become ready.
pub const READY_WITHIN: Duration = Duration::from_secs(15);
/// Attempts at starting a process on a fresh free port.
pub const START_ATTEMPTS: usize = 3;

// ---------------------------------------------------------------- the binary

/// The strictdot binary with an empty environment (the caller's `STRICTDOT_*`, or a
/// `NOTIFY_SOCKET`, cannot change what a test runs) and stdin from /dev/null.
pub fn strictdot_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strictdot"));
    cmd.env_clear().stdin(Stdio::null());
    cmd
}

/// Sends `signal` (`-HUP`, `-TERM`) to process `pid` with kill(1), and asserts it went.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}: {status}");
}

// ---------------------------------------------------------------- children

/// A child process killed (and reaped) when dropped, so a failing test leaves none behind.
pub struct Reaped(pub Child);

impl Reaped {
    /// Spawns `cmd`, failing the test if it cannot start.
    pub fn spawn(cmd: &mut Command) -> Reaped {
        Reaped(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}")),
        )
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// A child's stderr, line by line, read on a thread of its own.
pub struct LogLines(Receiver<String>);

impl LogLines {
    /// Takes the child's (piped) stderr and starts reading it.
    pub fn follow(child: &mut Child) -> LogLines {
        use std::io::BufRead as _;
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LogLines(rx)
    }

    /// Collects lines into `seen` until one contains any of `until` (or 10 s pass);
    /// whether it came. Blocks: call it off the runtime's threads.
    pub fn wait_for(&self, until: &[&str], seen: &mut Vec<String>) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.0.recv_timeout(left) else {
                return false;
            };
            let done = until.iter().any(|u| line.contains(u));
            seen.push(line);
            if done {
                return true;
            }
        }
        false
    }
}

// ---------------------------------------------------------------- files

/// A directory of this test process's own, `strictdot-TAG-PID` under the temp dir (kept).
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strictdot-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fresh directory under the system temp dir; removed at the end unless the test failed,
/// so a failure leaves the configuration and logs behind for inspection.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("strictdot-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Scratch { path }
    }

    pub fn file(&self, name: &str) -> PathBuf {
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

/// A self-signed certificate for `name` made by rcgen, in `cert.pem` and `key.pem` of `dir`:
/// (certificate path, key path).
pub fn self_signed_files(dir: &Scratch, name: &str) -> (PathBuf, PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_owned()])
        .expect("rcgen generates a self-signed certificate");
    let cert = dir.file("cert.pem");
    let key = dir.file("key.pem");
    write_file(&cert, certified.cert.pem().as_bytes());
    write_file(&key, certified.signing_key.serialize_pem().as_bytes());
    (cert, key)
}

pub fn create_file(path: &Path) -> File {
    File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
}

pub fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

pub fn read_lossy(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

// ---------------------------------------------------------------- ports

/// A port that was free for TCP on 127.0.0.1 a moment ago.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A port that was free for both UDP and TCP on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// 127.0.0.1:`port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

// ---------------------------------------------------------------- served processes

/// A process serving on a loopback port, its output in files of a [`Scratch`]; killed and
/// reaped on drop.
pub struct Served {
    pub label: String,
    pub port: u16,
    pub log: PathBuf,
    child: Mutex<Reaped>,
}

impl Served {
    /// Starts the command `make(port)` builds on a free port (UDP and TCP), stdout and
    /// stderr to `LABEL-ATTEMPT.out` and `.log` in `dir`, and waits until `ready(port)`
    /// holds. If the process exits first (the port was taken meanwhile), it tries again on
    /// a fresh port; if it runs but is not ready within [`READY_WITHIN`], the test fails.
    pub fn start(
        dir: &Scratch,
        label: &str,
        make: &mut dyn FnMut(u16) -> Command,
        ready: &mut dyn FnMut(u16) -> Result<(), String>,
    ) -> Served {
        let mut failures = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let log = dir.file(&format!("{label}-{attempt}.log"));
            let served = Served {
                label: label.to_owned(),
                port,
                child: Mutex::new(Reaped::spawn(
                    make(port)
                        .current_dir(&dir.path)
                        .stdin(Stdio::null())
                        .stdout(create_file(&dir.file(&format!("{label}-{attempt}.out"))))
                        .stderr(create_file(&log)),
                )),
                log,
            };
            match served.poll_until(&mut || ready(port)) {
                Ok(()) => return served,
                Err(WaitError::Exited(status)) => failures.push_str(&format!(
                    "attempt {attempt} (port {port}): exited with {status}:\n{}\n",
                    served.log()
                )),
                Err(WaitError::NotReady(last)) => panic!(
                    "{label} on 127.0.0.1:{port} not ready within {READY_WITHIN:?}; last: \
                     {last}\nlog:\n{}",
                    served.log()
                ),
            }
        }
        panic!("{label} did not start in {START_ATTEMPTS} attempts:\n{failures}");
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    /// The exit status if the process has ended.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .exited()
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log)
    }

    /// Fails the test if the process has exited.
    pub fn assert_running(&self) {
        if let Some(status) = self.exited() {
            panic!("{} exited with {status}:\n{}", self.label, self.log());
        }
    }

    /// Polls `ready` until it succeeds; fails the test if the process exits or
    /// [`READY_WITHIN`] passes.
    pub fn wait_until(&self, what: &str, mut ready: impl FnMut() -> Result<(), String>) {
        match self.poll_until(&mut ready) {
            Ok(()) => {}
            Err(WaitError::Exited(status)) => panic!(
                "{} exited with {status} before {what}:\n{}",
                self.label,
                self.log()
            ),
            Err(WaitError::NotReady(last)) => panic!(
                "{} not ready ({what}) within {READY_WITHIN:?}; last: {last}\n{}",
                self.label,
                self.log()
            ),
        }
    }

    fn poll_until(&self, ready: &mut dyn FnMut() -> Result<(), String>) -> Result<(), WaitError> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.exited() {
                return Err(WaitError::Exited(status));
            }
            let last = match ready() {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(WaitError::NotReady(last));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

enum WaitError {
    Exited(ExitStatus),
    NotReady(String),
}

/// Ready when `port` on 127.0.0.1 accepts a TCP connection.
pub fn accepts_tcp(port: u16) -> Result<(), String> {
    TcpStream::connect_timeout(&loopback(port), Duration::from_millis(200))
        .map(|_| ())
        .map_err(|e| format!("connect to {}: {e}", loopback(port)))
}

/// One query, one answer, over TCP with two-octet length framing (RFC 1035 §4.2.2),
/// blocking; an answer with another ID is an error.
pub fn blocking_tcp_exchange(
    server: SocketAddr,
    query: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect_timeout(&server, timeout)
        .map_err(|e| format!("connect {server}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("timeouts: {e}"))?;
    let len = u16::try_from(query.len()).expect("query fits a frame");
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend(query);
    stream
        .write_all(&frame)
        .map_err(|e| format!("write to {server}: {e}"))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .map_err(|e| format!("read length from {server}: {e}"))?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut reply)
        .map_err(|e| format!("read message from {server}: {e}"))?;
    if reply.get(..2) != query.get(..2) {
        return Err(format!("answer from {server} with another ID"));
    }
    Ok(reply)
}

// ---------------------------------------------------------------- external tools

/// An executable on PATH or in the sbin and bin directories (unbound lives in /usr/sbin,
/// which is often not on a user's PATH).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
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
        .map(PathBuf::from),
    );
    dirs.into_iter().map(|d| d.join(name)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// `unbound -d -c CONF`: Unbound in the foreground with configuration `conf`.
pub fn unbound_command(unbound: &Path, conf: &Path) -> Command {
    let mut cmd = Command::new(unbound);
    cmd.arg("-d").arg("-c").arg(conf);
    cmd
}

/// The `server:` settings every test Unbound shares: loopback only, foreground, no
/// privileges dropped, logs to stderr, `dir` as its directory.
pub fn unbound_common_conf(dir: &Path) -> String {
    format!(
        r#"    verbosity: 1
    num-threads: 1
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
"#,
        dir = dir.display()
    )
}

/// Runs promtool with `args` (and `stdin`, if any); panics with its output on failure.
pub fn promtool(args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "promtool is needed for this test (Debian package prometheus): run scripts/test.sh",
        );
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
