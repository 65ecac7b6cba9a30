//! The ready file (`--ready-file`): a file that exists exactly while this instance is ready
//! (its listeners are served and an upstream completed an authenticated handshake and is
//! not failing: what `/ready` reports), so that a probe can ask one instance rather than a
//! port.
//!
//! Why a file: during a handover two instances run side by side on the same addresses,
//! the `--metrics` port included (SO_REUSEPORT), and the kernel picks which of them
//! accepts a probe's connection; `GET /ready` then says whether *some* instance is ready.
//! A file in a directory of the instance's own (a pod's `emptyDir`) belongs to one
//! instance, and `strictdot healthcheck --ready-file FILE` reads it with no shell.
//!
//! The file is created atomically (written under a temporary name in the same directory,
//! then renamed), holds the process id, follows readiness while the server runs, is
//! removed when the drain starts (SIGTERM) and, if an earlier process left it (a crash,
//! SIGKILL), when the next one starts. A process killed with SIGKILL cannot remove it; the
//! next start does.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often readiness is looked at (an atomic load per upstream).
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// One instance's ready file.
#[derive(Clone, Debug)]
pub struct ReadyFile {
    path: PathBuf,
}

impl ReadyFile {
    /// The ready file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> ReadyFile {
        ReadyFile { path: path.into() }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the file, atomically: a reader sees no file or the whole file.
    pub fn create(&self) -> std::io::Result<()> {
        let name = self
            .path
            .file_name()
            .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "no file name"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.tmp", std::process::id()));
        let tmp = self.path.with_file_name(tmp_name);
        std::fs::write(&tmp, format!("{}\n", std::process::id()))?;
        std::fs::rename(&tmp, &self.path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// Removes the file; `Ok(false)` if there was none.
    pub fn remove(&self) -> std::io::Result<bool> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes a file an earlier process left (it said nothing about this one), logging it.
    pub fn clear_stale(&self) {
        match self.remove() {
            Ok(true) => tracing::info!(
                path = %self.path.display(),
                "removed a ready file left by an earlier process"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                path = %self.path.display(),
                error = %e,
                "cannot remove a ready file left by an earlier process"
            ),
        }
    }

    /// Keeps the file in step with `ready()` until `stop` is cancelled, then removes it.
    /// Called once the listeners are served.
    pub async fn follow(self, ready: impl Fn() -> bool, stop: CancellationToken) {
        self.clear_stale();
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shown = false;
        // The last failure logged, so a read-only directory is reported once, not 4 times
        // a second.
        let mut failed: Option<String> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let want = ready();
            if want == shown {
                continue;
            }
            let done = if want {
                self.create()
            } else {
                self.remove().map(|_| ())
            };
            match done {
                Ok(()) => {
                    shown = want;
                    failed = None;
                    if want {
                        tracing::info!(path = %self.path.display(), "ready: ready file created");
                    } else {
                        tracing::warn!(path = %self.path.display(), "not ready any more: ready file removed");
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    if failed.as_deref() != Some(&text) {
                        tracing::warn!(path = %self.path.display(), error = %text, "cannot update the ready file");
                        failed = Some(text);
                    }
                }
            }
        }
        match self.remove() {
            Ok(true) => tracing::info!(path = %self.path.display(), "draining: ready file removed"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the ready file")
            }
        }
    }
}

/// `strictdot healthcheck --ready-file FILE`: success iff the file exists.
pub fn check(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(format!("{} is not a file", path.display())),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(format!(
            "not ready: {} does not exist (no authenticated upstream yet, draining, or not started with --ready-file)",
            path.display()
        )),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_file_follows_readiness_and_goes_at_the_end() {
        let dir = std::env::temp_dir().join(format!("strictdot-ready-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ready");
        // Left by an earlier process: gone at start, whatever readiness says.
        std::fs::write(&path, "1\n").unwrap();
        let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = CancellationToken::new();
        let r = ready.clone();
        let task = tokio::spawn(ReadyFile::new(&path).follow(
            move || r.load(std::sync::atomic::Ordering::SeqCst),
            stop.clone(),
        ));
        tokio::time::sleep(CHECK_EVERY * 2).await;
        assert!(check(&path).is_err(), "a stale file is removed");
        ready.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(CHECK_EVERY * 2).await;
        assert_eq!(check(&path), Ok(()));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        ready.store(false, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(CHECK_EVERY * 2).await;
        assert!(check(&path).is_err(), "not ready: no file");
        ready.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(CHECK_EVERY * 2).await;
        assert_eq!(check(&path), Ok(()));
        stop.cancel();
        task.await.unwrap();
        assert!(check(&path).is_err(), "removed when stopped");
        // Nothing else was left in the directory (no temporary file).
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
