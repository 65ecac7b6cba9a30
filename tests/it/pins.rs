//! Pin lifecycle (issue 12): what the last authenticated handshake established, in metrics
//! and logs; `strictdot check --live`; the alert rules; `strictdot pin`'s CA marks and policy
//! block.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use strictdot::pin::Pin;
use strictdot::upstream::expiry::PinNote;
use tokio::time::Instant;

use crate::support::*;

/// Runs promtool with `args` (and `stdin`, if any); panics with its output on failure.
fn promtool(args: &[&str], stdin: Option<&str>) {
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

/// A directory of this test process's own.
fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strictdot-pins-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A pin of no key in these tests, as a backup.
fn spare_pin() -> Pin {
    Pin::of_spki(b"a spare key, not on any chain")
}

/// The end of a `YYYY-MM-DD` day (the next midnight, UTC), seconds since the epoch.
fn end_of(day: &str) -> i64 {
    let n: Vec<i32> = day.split('-').map(|p| p.parse().unwrap()).collect();
    let month = time::Month::try_from(n[1] as u8).unwrap();
    let date = time::Date::from_calendar_date(n[0], month, n[2] as u8).unwrap();
    date.next_day()
        .unwrap()
        .midnight()
        .assume_utc()
        .unix_timestamp()
}

async fn wait_ready(ops: std::net::SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(ops, "/ready").await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Per upstream: the end-entity certificate's expiry, the earliest expiry on the validated
/// path (here the intermediate's, before the leaf's), each pin's `expires`, and which pin
/// matched on the last handshake; every label escaped, and the page passes promtool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_matched_pin_metrics_pass_promtool() {
    let root = ca("Test Root");
    let inter = intermediate("Test Intermediate", &root);
    let server = leaf_expiring_in("dot.test", &inter, time::Duration::days(60));
    let up = UpstreamOptions::new(&server, &[&inter]).start().await;
    let mut u = upstream(up.addr, Some("dot.test"), vec![inter.pin(), spare_pin()]);
    u.name = "quoted \"u\"".to_owned();
    u.pin_notes = vec![
        PinNote {
            pin: inter.pin(),
            comment: Some("intermediate".to_owned()),
            expires: Some("2099-12-31".to_owned()),
            expires_at: Some(end_of("2099-12-31")),
        },
        PinNote::bare(spare_pin()),
    ];
    let (proxy, ops) = start_proxy_with(config(vec![u], &[&root]), true).await;
    let ops = ops.unwrap();
    wait_ready(ops).await;
    assert_answers(&proxy, "m.example").await;
    let (code, body) = http_get(ops, "/metrics").await;
    assert_eq!(code, 200);
    let label = r#"upstream="quoted \"u\"""#;
    for needle in [
        format!(
            "strictdot_upstream_cert_expiry_timestamp_seconds{{{label}}} {}\n",
            not_after(&server)
        ),
        format!(
            "strictdot_upstream_chain_expiry_timestamp_seconds{{{label}}} {}\n",
            not_after(&inter)
        ),
        format!(
            "strictdot_upstream_pin_expiry_timestamp_seconds{{{label},pin=\"{}\"}} {}\n",
            inter.pin(),
            end_of("2099-12-31")
        ),
        format!(
            "strictdot_upstream_pin_matched{{{label},pin=\"{}\"}} 1\n",
            inter.pin()
        ),
        format!(
            "strictdot_upstream_pin_matched{{{label},pin=\"{}\"}} 0\n",
            spare_pin()
        ),
        "# TYPE strictdot_upstream_cert_expiry_timestamp_seconds gauge\n".to_owned(),
    ] {
        assert!(body.contains(&needle), "missing {needle} in:\n{body}");
    }
    // The spare pin has no `expires`: no expiry series for it.
    assert!(
        !body.contains(&format!(
            "strictdot_upstream_pin_expiry_timestamp_seconds{{{label},pin=\"{}\"}}",
            spare_pin()
        )),
        "{body}"
    );
    promtool(&["check", "metrics"], Some(&body));
}

/// The shipped alert rules are valid and fire 14 days ahead of an expiry (their promtool
/// unit test, which a 16-day threshold fails).
#[test]
fn alert_rules_pass_promtool_and_fire_14_days_ahead() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    let rules = dir.join("strictdot-alerts.yml");
    let text = std::fs::read_to_string(&rules).unwrap();
    for series in [
        "strictdot_upstream_cert_expiry_timestamp_seconds",
        "strictdot_upstream_chain_expiry_timestamp_seconds",
        "strictdot_upstream_pin_expiry_timestamp_seconds",
    ] {
        assert!(
            text.contains(&format!("{series} - time() < 14 * 86400")),
            "{series}"
        );
    }
    promtool(&["check", "rules", rules.to_str().unwrap()], None);
    promtool(
        &[
            "test",
            "rules",
            dir.join("strictdot-alerts.test.yml").to_str().unwrap(),
        ],
        None,
    );
}

// ---------------------------------------------------------------- warnings in the log

/// strictdot as a child process, killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the strictdot binary with `args` (and an empty environment) and collects its log
/// lines until one contains `until` or 10 s pass; returns them, the process killed.
async fn log_until(args: Vec<String>, until: &'static str) -> Vec<String> {
    use std::io::BufRead as _;
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_strictdot"))
            .args(&args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    tokio::task::spawn_blocking(move || {
        let _child = child;
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
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut lines = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = rx.recv_timeout(left) else {
                break;
            };
            let done = line.contains(until);
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    })
    .await
    .unwrap()
}

/// An upstream with a name and exactly one pin (no backup, RFC 7469 §4.3) is named in a
/// warning at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pin_without_backup_is_warned_at_start() {
    let root = ca("One Pin Root");
    let server = leaf("dot.test", &root);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let ca_path = temp_dir("one-pin").join("root.pem");
    std::fs::write(&ca_path, root.pem()).unwrap();
    let lines = log_until(
        vec![
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--upstream".to_owned(),
            format!("{}#dot.test", up.addr),
            "--pin-sha256".to_owned(),
            root.pin().to_string(),
            "--ca-file".to_owned(),
            ca_path.display().to_string(),
        ],
        "relies on exactly one pin",
    )
    .await;
    let warning = lines
        .iter()
        .find(|l| l.contains("relies on exactly one pin"))
        .unwrap_or_else(|| panic!("no one-pin warning in {lines:#?}"));
    assert!(
        warning.contains("WARN")
            && warning.contains(&root.pin().to_string())
            && warning.contains("no backup (RFC 7469 §4.3)"),
        "{warning}"
    );
}

/// When the only pin that matches is the end-entity key and that certificate expires
/// within --warn-days, the first authenticated handshake logs a warning (the key may change
/// with the certificate); a spare pin elsewhere does not silence it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_entity_only_pin_near_expiry_is_warned_after_the_first_handshake() {
    let root = ca("Leaf Pin Root");
    let server = leaf_expiring_in(
        "p.test",
        &root,
        time::Duration::days(5) + time::Duration::hours(12),
    );
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let lines = log_until(
        vec![
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--upstream".to_owned(),
            up.addr.to_string(),
            "--pin-sha256".to_owned(),
            format!("{},{}", server.pin(), spare_pin()),
            "--warn-days".to_owned(),
            "10".to_owned(),
        ],
        "the only pin that matched is the end-entity key",
    )
    .await;
    let warning = lines
        .iter()
        .find(|l| l.contains("the only pin that matched is the end-entity key"))
        .unwrap_or_else(|| panic!("no end-entity warning in {lines:#?}"));
    assert!(warning.contains("days_left=5"), "{warning}");
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("relies on exactly one pin")),
        "{lines:#?}"
    );
}
