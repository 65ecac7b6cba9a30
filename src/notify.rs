//! The service manager's notification protocol (`sd_notify`, systemd's `Type=notify`),
//! written by hand: one datagram of `KEY=VALUE` lines to the unix socket named by
//! `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). No libsystemd.
//!
//! strictdot sends `READY=1` once every listener is served, `STOPPING=1` when it starts to
//! drain, and `WATCHDOG=1` every half `$WATCHDOG_USEC` from a runtime task, so a wedged
//! runtime is restarted by the manager. Without `$NOTIFY_SOCKET` every call does nothing.

use std::ffi::OsString;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

/// Where notifications go, read once from the environment at start.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    target: Option<Target>,
    /// Send `WATCHDOG=1` this often (half the manager's `WATCHDOG_USEC`).
    watchdog: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// A socket file.
    Path(PathBuf),
    /// A name in Linux's abstract socket namespace (`@name` in `$NOTIFY_SOCKET`).
    Abstract(Vec<u8>),
}

/// The environment variables the protocol uses, as read at start.
#[derive(Clone, Debug, Default)]
pub struct NotifyEnv {
    /// `$NOTIFY_SOCKET`.
    pub socket: Option<OsString>,
    /// `$WATCHDOG_USEC`.
    pub watchdog_usec: Option<String>,
    /// `$WATCHDOG_PID`: the watchdog is meant for this process only if it is unset or ours.
    pub watchdog_pid: Option<String>,
}

impl NotifyEnv {
    /// Reads the variables from this process's environment.
    pub fn from_process() -> NotifyEnv {
        NotifyEnv {
            socket: std::env::var_os("NOTIFY_SOCKET"),
            watchdog_usec: std::env::var("WATCHDOG_USEC").ok(),
            watchdog_pid: std::env::var("WATCHDOG_PID").ok(),
        }
    }
}

impl Notifier {
    /// A notifier for `env`, in the process `pid`. An empty or relative socket name means
    /// no manager is listening.
    pub fn new(env: &NotifyEnv, pid: u32) -> Notifier {
        use std::os::unix::ffi::OsStrExt;
        let target = env.socket.as_ref().and_then(|s| {
            let bytes = s.as_bytes();
            match bytes.first() {
                Some(b'@') => Some(Target::Abstract(bytes[1..].to_vec())),
                Some(b'/') => Some(Target::Path(PathBuf::from(s))),
                _ => None,
            }
        });
        let ours = env
            .watchdog_pid
            .as_deref()
            .is_none_or(|p| p.parse::<u32>() == Ok(pid));
        let watchdog = env
            .watchdog_usec
            .as_deref()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|&u| u > 0 && ours && target.is_some())
            .map(|u| Duration::from_micros(u / 2));
        Notifier { target, watchdog }
    }

    /// Whether a manager listens.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// How often to send `WATCHDOG=1`, if the manager asked for it.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends `state` (newline-separated `KEY=VALUE` assignments). Best effort: a failure is
    /// logged at debug level and otherwise ignored, as the manager may be gone.
    pub fn notify(&self, state: &str) {
        let Some(target) = &self.target else {
            return;
        };
        if let Err(e) = send(target, state.as_bytes()) {
            tracing::debug!(error = %e, state, "sd_notify failed");
        }
    }

    /// Tells the manager the service is up: every listener is served.
    pub fn ready(&self) {
        self.notify("READY=1\nSTATUS=serving");
    }

    /// Tells the manager the service is draining and will exit.
    pub fn stopping(&self) {
        self.notify("STOPPING=1\nSTATUS=draining");
    }

    /// Sends `WATCHDOG=1` at the manager's interval until `stop` is cancelled.
    pub async fn watchdog_loop(self, stop: tokio_util::sync::CancellationToken) {
        let Some(every) = self.watchdog else {
            return;
        };
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => self.notify("WATCHDOG=1"),
            }
        }
    }
}

fn send(target: &Target, msg: &[u8]) -> std::io::Result<usize> {
    let socket = UnixDatagram::unbound()?;
    match target {
        Target::Path(path) => socket.send_to(msg, path),
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Target::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(msg, &addr)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        Target::Abstract(_) => Err(std::io::ErrorKind::Unsupported.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(socket: Option<&str>, usec: Option<&str>, pid: Option<&str>) -> NotifyEnv {
        NotifyEnv {
            socket: socket.map(OsString::from),
            watchdog_usec: usec.map(str::to_owned),
            watchdog_pid: pid.map(str::to_owned),
        }
    }

    #[test]
    fn socket_names_are_paths_or_abstract() {
        let n = Notifier::new(&env(Some("/run/systemd/notify"), None, None), 1);
        assert_eq!(n.target, Some(Target::Path("/run/systemd/notify".into())));
        let n = Notifier::new(&env(Some("@sd-notify"), None, None), 1);
        assert_eq!(n.target, Some(Target::Abstract(b"sd-notify".to_vec())));
        for off in [None, Some(""), Some("relative/path")] {
            assert!(!Notifier::new(&env(off, Some("1000"), None), 1).enabled());
        }
    }

    #[test]
    fn watchdog_is_half_the_interval_and_only_for_this_process() {
        let n = Notifier::new(&env(Some("@x"), Some("30000000"), None), 7);
        assert_eq!(n.watchdog(), Some(Duration::from_secs(15)));
        let n = Notifier::new(&env(Some("@x"), Some("30000000"), Some("7")), 7);
        assert_eq!(n.watchdog(), Some(Duration::from_secs(15)));
        for other in [Some("8"), Some("x")] {
            let n = Notifier::new(&env(Some("@x"), Some("30000000"), other), 7);
            assert_eq!(n.watchdog(), None);
        }
        assert_eq!(
            Notifier::new(&env(Some("@x"), Some("0"), None), 7).watchdog(),
            None
        );
        assert_eq!(
            Notifier::new(&env(None, Some("1000"), None), 7).watchdog(),
            None
        );
    }

    #[test]
    fn sends_to_a_socket_file_and_an_abstract_name() {
        let dir = std::env::temp_dir().join(format!("strictdot-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let file = UnixDatagram::bind(&path).unwrap();
        Notifier::new(&env(path.to_str(), None, None), 1).ready();
        let mut buf = [0u8; 256];
        let n = file.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving");
        let _ = std::fs::remove_dir_all(&dir);

        use std::os::linux::net::SocketAddrExt;
        let name = format!("strictdot-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let abs = UnixDatagram::bind_addr(&addr).unwrap();
        Notifier::new(&env(Some(&format!("@{name}")), None, None), 1).stopping();
        let n = abs.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\nSTATUS=draining");
    }
}
