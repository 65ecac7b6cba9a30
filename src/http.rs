//! The operations endpoint on `--metrics ADDR`: a deliberately tiny HTTP/1.1 server.
//!
//! - `GET /metrics`: Prometheus text format (version 0.0.4);
//! - `GET /health`: liveness, 200 while the server runs;
//! - `GET /ready`: readiness, 200 once an upstream has completed an authenticated
//!   handshake and is not failing, else 503.
//!
//! One request per connection, a request head of at most 4 KiB read within 5 seconds,
//! `Connection: close`; HEAD is GET without the content; another method gets 405 with
//! `Allow: GET, HEAD`, another path 404, an oversized head 400.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::forward::Switch;
use crate::metrics::Metrics;

const MAX_HEAD: usize = 4096;
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Concurrent requests at most; more are refused by closing the connection.
const MAX_CONNECTIONS: usize = 64;

/// What the endpoint reports on.
pub struct Ops {
    /// Process counters.
    pub metrics: Arc<Metrics>,
    /// The forwarder in force (its pool and cache).
    pub switch: Arc<Switch>,
}

/// Serves the endpoint until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    ops: Arc<Ops>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let ops = ops.clone();
        tracker.spawn(async move {
            let _ = tokio::time::timeout(IO_TIMEOUT, handle(stream, &ops)).await;
            drop(permit);
        });
    }
}

async fn handle(mut stream: TcpStream, ops: &Ops) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_HEAD {
            let reply = Reply::text("400 Bad Request", "request too large\n");
            return reply.write(&mut stream, false).await;
        }
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let reply = match method {
        "GET" | "HEAD" => route(path, ops),
        // RFC 9110 §15.5.6: a 405 names the methods the resource supports.
        _ => Reply {
            allow: true,
            ..Reply::text("405 Method Not Allowed", "GET and HEAD only\n")
        },
    };
    // RFC 9110 §9.3.2: HEAD gets the header fields GET would (Content-Length included),
    // and no content.
    reply.write(&mut stream, method == "HEAD").await
}

/// The answer to a GET (or HEAD) of `path`.
fn route(path: &str, ops: &Ops) -> Reply {
    match path.split('?').next().unwrap_or("") {
        "/metrics" => {
            let mut body = String::with_capacity(8192);
            let forwarder = ops.switch.get();
            ops.metrics.render(&mut body);
            forwarder.pool().render_metrics(&mut body);
            if let Some(cache) = forwarder.cache() {
                use std::fmt::Write as _;
                let _ = writeln!(
                    body,
                    "# HELP strictdot_cache_entries Answers in the cache.\n# TYPE strictdot_cache_entries gauge\nstrictdot_cache_entries {}",
                    cache.len()
                );
            }
            Reply {
                ctype: "text/plain; version=0.0.4; charset=utf-8",
                ..Reply::text("200 OK", body)
            }
        }
        "/health" | "/healthz" | "/live" => Reply::text("200 OK", "ok\n"),
        "/ready" | "/readyz" => {
            if ops.switch.get().pool().is_ready() {
                Reply::text("200 OK", "ready\n")
            } else {
                Reply::text("503 Service Unavailable", "no authenticated upstream yet\n")
            }
        }
        _ => Reply::text("404 Not Found", "not found\n"),
    }
}

/// One response of the endpoint.
struct Reply {
    /// Status code and reason phrase.
    status: &'static str,
    /// The Content-Type value.
    ctype: &'static str,
    /// What a GET gets (a HEAD gets only its length).
    body: Cow<'static, str>,
    /// Whether to send `Allow: GET, HEAD` (with 405).
    allow: bool,
}

impl Reply {
    fn text(status: &'static str, body: impl Into<Cow<'static, str>>) -> Reply {
        Reply {
            status,
            ctype: "text/plain",
            body: body.into(),
            allow: false,
        }
    }

    /// Writes the response and closes; `head_only` leaves the content out.
    async fn write(&self, stream: &mut TcpStream, head_only: bool) -> std::io::Result<()> {
        let head =
            format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
            self.status,
            self.ctype,
            self.body.len(),
            if self.allow { "Allow: GET, HEAD\r\n" } else { "" },
        );
        stream.write_all(head.as_bytes()).await?;
        if !head_only {
            stream.write_all(self.body.as_bytes()).await?;
        }
        stream.shutdown().await
    }
}

/// `strictdot healthcheck`: GETs `path` on the endpoint at `addr`; success iff 200. Usable
/// as a container HEALTHCHECK with no shell and no curl in the image.
pub fn check(addr: std::net::SocketAddr, path: &str, timeout: Duration) -> Result<(), String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    s.take(64 * 1024)
        .read_to_end(&mut reply)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&reply);
    let status = text.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(format!("{path}: {status}"))
    }
}
