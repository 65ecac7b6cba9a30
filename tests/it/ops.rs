//! The operations endpoint: Prometheus metrics (checked by promtool), liveness, readiness,
//! and the `healthcheck` subcommand.

use std::process::Stdio;
use std::time::Duration;
use tokio::time::Instant;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_count_traffic() {
    let (_up, proxy, ops) = ops_endpoint().await;
    wait_ready(ops).await;
    for i in 0..5 {
        assert_answers(&proxy, &format!("m{i}.example")).await;
    }
    let mut bad = query(9, "x.example", 1, None);
    bad[5] = 2;
    udp_exchange(proxy.addr, &bad, Duration::from_secs(3))
        .await
        .unwrap();
    let (code, body) = http_get(ops, "/metrics").await;
    assert_eq!(code, 200);
    for needle in [
        "strictdot_responses_total{transport=\"udp\",rcode=\"NOERROR\"} 5",
        "strictdot_responses_total{transport=\"udp\",rcode=\"FORMERR\"} 1",
        "strictdot_tls_handshakes_total 1",
        "strictdot_upstream_up{upstream=",
        "strictdot_upstream_latency_seconds_count{upstream=",
        "strictdot_auth_failures_total{reason=\"pin\"} 0",
        "strictdot_limit_hits_total{limit=\"rate_limit\"} 0",
        "strictdot_build_info{version=\"",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_start_time_seconds ",
        "strictdot_request_duration_seconds_count{transport=\"udp\"} 6",
        "strictdot_request_duration_seconds_count{transport=\"tls\"} 0",
        "strictdot_client_tls_handshakes_total 0",
        "strictdot_client_tls_resumptions_total 0",
        "strictdot_client_tls_handshake_failures_total 0",
    ] {
        assert!(body.contains(needle), "missing {needle} in:\n{body}");
    }
    promtool(&["check", "metrics"], Some(&body));
    assert_eq!(http_get(ops, "/health").await.0, 200);
    assert_eq!(http_get(ops, "/nope").await.0, 404);
    // The healthcheck subcommand agrees.
    let status = tokio::task::spawn_blocking(move || {
        strictdot_command()
            .args(["healthcheck", "--metrics", &ops.to_string()])
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_without_an_authenticated_upstream() {
    let server = self_signed("x.test");
    let other = self_signed("x.test");
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let (proxy, ops) = start_proxy_with(
        config(vec![upstream(up.addr, None, vec![other.pin()])], &[]),
        true,
    )
    .await;
    let ops = ops.unwrap();
    // Wait for the warm-up handshake to fail (counted), then readiness must be 503.
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.metrics.auth_failures.get() == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(http_get(ops, "/ready").await.0, 503);
    assert_eq!(http_get(ops, "/health").await.0, 200);
    let (_, body) = http_get(ops, "/metrics").await;
    assert!(
        body.contains("strictdot_auth_failures_total{reason=\"pin\"} 1"),
        "{body}"
    );
    let status = tokio::task::spawn_blocking(move || {
        strictdot_command()
            .args(["healthcheck", "--metrics", &ops.to_string()])
            .stderr(Stdio::null())
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(1));
}

/// Sends `request` as is and returns the whole response (the server closes after one).
async fn http_raw(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// The value of header `name` (case-insensitive) in a response head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// strictdot in front of an upstream it authenticates by name, with its operations
/// endpoint (whose address comes last).
async fn ops_endpoint() -> (FakeUpstream, Proxy, std::net::SocketAddr) {
    let (_root, up, c) = named_upstream(Behavior::Answer).await;
    let (proxy, ops) = start_proxy_with(c, true).await;
    (up, proxy, ops.unwrap())
}

/// Finding 10: HEAD gets GET's header fields, Content-Length included, and no content
/// (RFC 9110 §9.3.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_gets_headers_and_no_body() {
    let (_up, _proxy, ops) = ops_endpoint().await;
    for (path, status, length) in [
        ("/health", "200", Some("3")),
        ("/nope", "404", Some("10")),
        ("/metrics", "200", None),
    ] {
        let get = http_raw(ops, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")).await;
        let head = http_raw(ops, &format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n")).await;
        let (get_head, get_body) = get.split_once("\r\n\r\n").unwrap();
        let (head_head, head_body) = head.split_once("\r\n\r\n").unwrap();
        assert_eq!(head_head.split_whitespace().nth(1), Some(status), "{head}");
        assert_eq!(head_body, "", "HEAD {path} carried a body");
        let len = header(head_head, "Content-Length").expect("Content-Length");
        assert_eq!(
            header(get_head, "Content-Length").unwrap(),
            get_body.len().to_string()
        );
        match length {
            Some(l) => assert_eq!(len, l, "HEAD {path}"),
            None => assert!(len.parse::<usize>().unwrap() > 0, "HEAD {path}: {len}"),
        }
    }
}

/// Finding 10: a method other than GET and HEAD gets 405 with `Allow: GET, HEAD`
/// (RFC 9110 §15.5.6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_not_allowed_names_the_allowed_methods() {
    let (_up, _proxy, ops) = ops_endpoint().await;
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let reply = http_raw(
            ops,
            &format!("{method} /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
        )
        .await;
        let (head, _) = reply.split_once("\r\n\r\n").unwrap();
        assert_eq!(head.split_whitespace().nth(1), Some("405"), "{reply}");
        assert_eq!(header(head, "Allow"), Some("GET, HEAD"), "{reply}");
    }
}

/// Finding 10: an upstream name (from a policy file) with a double quote, a backslash and a
/// line feed is escaped in every label (promtool accepts the page), so no name can end a
/// label or forge a series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_names_escaped_in_metric_labels() {
    let root = ca("Test Root");
    let server = leaf("dot.test", &root);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let mut u = upstream(up.addr, Some("dot.test"), vec![]);
    u.name = "evil\"} 1\nstrictdot_forged{a=\"\\".into();
    let (proxy, ops) = start_proxy_with(config(vec![u], &[&root]), true).await;
    let ops = ops.unwrap();
    wait_ready(ops).await;
    assert_answers(&proxy, "e.example").await;
    let (code, body) = http_get(ops, "/metrics").await;
    assert_eq!(code, 200);
    let label = r#"upstream="evil\"} 1\nstrictdot_forged{a=\"\\""#;
    for series in [
        "strictdot_upstream_up",
        "strictdot_upstream_connections",
        "strictdot_upstream_in_flight",
        "strictdot_upstream_latency_seconds_count",
    ] {
        let needle = format!("{series}{{{label}}}");
        assert!(body.contains(&needle), "missing {needle} in:\n{body}");
    }
    assert!(
        !body.lines().any(|l| l.starts_with("strictdot_forged")),
        "{body}"
    );
    promtool(&["check", "metrics"], Some(&body));
}
