//! Signals, isolated here: the future that resolves on SIGTERM or SIGINT.

/// Resolves when the process is asked to stop (SIGTERM or SIGINT / Ctrl-C).
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received; draining"),
                    _ = int.recv() => tracing::info!("SIGINT received; draining"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A stream of SIGHUPs (reload requests); never yields where there are none.
pub fn hangups() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received; reloading the policy");
            if tx.send(()).await.is_err() {
                break;
            }
        }
    });
    #[cfg(not(unix))]
    drop(tx);
    rx
}
