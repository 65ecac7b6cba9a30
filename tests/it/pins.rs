//! Pin lifecycle (issue 12): what the last authenticated handshake established, in metrics
//! and logs; `strictdot check --live`; the alert rules; `strictdot pin`'s CA marks and policy
//! block.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use strictdot::pin::Pin;
use strictdot::upstream::expiry::PinNote;

use crate::support::*;

/// `root` written to `root.pem` in the directory named after `tag`.
fn ca_file(tag: &str, root: &Issued) -> PathBuf {
    let path = temp_dir(&format!("pins-{tag}")).join("root.pem");
    std::fs::write(&path, root.pem()).unwrap();
    path
}

/// The flags for an upstream at `addr` authenticated as `dot.test` on a chain to the CA in
/// `ca_path`, then `more`.
fn by_name(addr: std::net::SocketAddr, ca_path: &Path, more: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--upstream".to_owned(),
        format!("{addr}#dot.test"),
        "--ca-file".to_owned(),
        ca_path.display().to_string(),
    ];
    args.extend(more.iter().map(|a| a.to_string()));
    args
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

/// Per upstream: the end-entity certificate's expiry, the earliest expiry on the validated
/// path (here the intermediate's, before the leaf's), each pin's `expires`, and which pin
/// matched on the last handshake; every label escaped, and the page passes promtool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_matched_pin_metrics_pass_promtool() {
    // The root (given as a CA file, so its date counts) outlives the intermediate.
    let root = dated_ca("Test Root", -1, 365);
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

/// Starts the strictdot binary with `args` (and an empty environment) and collects its log
/// lines until one contains `until` or 10 s pass; returns them, the process killed.
async fn log_until(args: Vec<String>, until: &'static str) -> Vec<String> {
    tokio::task::spawn_blocking(move || {
        let mut child = Reaped::spawn(
            strictdot_command()
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let mut lines = Vec::new();
        LogLines::follow(&mut child.0).wait_for(&[until], &mut lines);
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
    let ca_path = ca_file("one-pin", &root);
    let pin = root.pin().to_string();
    let lines = log_until(
        by_name(
            up.addr,
            &ca_path,
            &["--listen", "127.0.0.1:0", "--pin-sha256", &pin],
        ),
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

/// At reload too: a policy whose upstream had a backup pin draws no warning at start; the
/// same policy with one pin left, read again on SIGHUP, names the upstream in a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pin_without_backup_is_warned_on_reload() {
    let server = self_signed("p.test");
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let path = temp_dir("pins-one-pin-reload").join("p.toml");
    let policy = move |pins: &[Pin]| {
        let pins: Vec<String> = pins
            .iter()
            .map(|p| format!("{{ sha256 = \"{p}\" }}"))
            .collect();
        format!(
            "[listen]\naddresses = [\"127.0.0.1:0\"]\n[[upstream]]\nname = \"u\"\naddress = \"{}\"\npins = [{}]\n",
            up.addr,
            pins.join(", ")
        )
    };
    let (pin, spare) = (server.pin(), spare_pin());
    std::fs::write(&path, policy(&[pin, spare])).unwrap();
    let (before, after) = tokio::task::spawn_blocking(move || {
        let mut child = Reaped::spawn(
            strictdot_command()
                .arg("--policy")
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let log = LogLines::follow(&mut child.0);
        let mut before = Vec::new();
        assert!(
            log.wait_for(&["serving DNS over TCP"], &mut before),
            "never started: {before:#?}"
        );
        std::fs::write(&path, policy(&[pin])).unwrap();
        send_signal(child.0.id(), "-HUP");
        let mut after = Vec::new();
        assert!(
            log.wait_for(&["configuration reloaded"], &mut after),
            "never reloaded: {after:#?}"
        );
        (before, after)
    })
    .await
    .unwrap();
    assert!(
        !before
            .iter()
            .any(|l| l.contains("relies on exactly one pin")),
        "{before:#?}"
    );
    let warning = after
        .iter()
        .find(|l| l.contains("relies on exactly one pin"))
        .unwrap_or_else(|| panic!("no one-pin warning on reload in {after:#?}"));
    assert!(
        warning.contains("WARN")
            && warning.contains("upstream u:")
            && warning.contains(&pin.to_string()),
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

// ---------------------------------------------------------------- strictdot check --live

/// `strictdot check --live ARGS` with an empty environment, off the runtime's threads (the
/// fake upstreams run on them): exit code and stdout.
async fn check_live(args: Vec<String>) -> (Option<i32>, String) {
    let out = tokio::task::spawn_blocking(move || {
        strictdot_command()
            .args(["check", "--live"])
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code(), format!("{stdout}{stderr}"))
}

/// A `YYYY-MM-DD` date `days` from today (UTC).
fn day_from_today(days: i64) -> String {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Three upstreams from a policy, each pinned at another place: the intermediate key
/// (with a name), the end-entity key (pins only), and the root that anchors the path (with
/// a name). `check --live` authenticates each with the server's verifier, names the pin
/// that matched and where it sits, sees the spare pin as a backup, and exits 0; the JSON
/// form holds the same facts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_live_names_the_matched_pin_and_where_it_sits() {
    // The root (a CA file, so its date counts) outlives the intermediate.
    let root = dated_ca("Live Root", -1, 365);
    let inter = intermediate("Live Intermediate", &root);
    let server = leaf_expiring_in("dot.test", &inter, time::Duration::days(60));
    let up = UpstreamOptions::new(&server, &[&inter]).start().await;
    let ca_path = ca_file("live-good", &root);
    let ca = ca_path.display();
    let spare = spare_pin();
    let policy = format!(
        "[[upstream]]\nname = \"by-intermediate\"\naddress = \"{addr}\"\nauth_name = \"dot.test\"\nca_file = \"{ca}\"\n\
         pins = [{{ sha256 = \"{i}\", comment = \"issuing CA\", expires = \"2099-12-31\" }}, {{ sha256 = \"{spare}\", comment = \"spare\" }}]\n\
         [[upstream]]\nname = \"by-leaf\"\naddress = \"{addr}\"\n\
         pins = [{{ sha256 = \"{l}\", comment = \"server key\" }}, {{ sha256 = \"{spare}\" }}]\n\
         [[upstream]]\nname = \"by-root\"\naddress = \"{addr}\"\nauth_name = \"dot.test\"\nca_file = \"{ca}\"\n\
         pins = [{{ sha256 = \"{r}\" }}, {{ sha256 = \"{spare}\" }}]\n",
        addr = up.addr,
        i = inter.pin(),
        l = server.pin(),
        r = root.pin(),
    );
    let path = ca_path.with_file_name("good.toml");
    std::fs::write(&path, policy).unwrap();
    let policy_arg = path.display().to_string();
    // The test CA and intermediate expire in 30 days: warn 10 days ahead only.
    let args = |json: bool| {
        let mut a = vec!["--policy".to_owned(), policy_arg.clone()];
        a.extend(["--warn-days".to_owned(), "10".to_owned()]);
        if json {
            a.extend(["--format".to_owned(), "json".to_owned()]);
        }
        a
    };
    let (code, text) = check_live(args(false)).await;
    assert_eq!(code, Some(0), "{text}");
    for needle in [
        "upstream by-intermediate at ".to_owned(),
        format!(
            "matched pin {} 'issuing CA' on the intermediate certificate",
            inter.pin()
        ),
        format!("backup pin: yes, not in use: {spare} 'spare'"),
        format!("pin {} 'issuing CA': expires on 2099-12-31", inter.pin()),
        format!(
            "matched pin {} 'server key' on the end-entity certificate",
            server.pin()
        ),
        format!("matched pin {} on the anchor certificate", root.pin()),
        format!(
            "end-entity certificate expires {}",
            strictdot::upstream::expiry::utc_time(not_after(&server))
        ),
        "result: 3 of 3 upstream(s) authenticated, 0 problem(s): exit 0".to_owned(),
    ] {
        assert!(text.contains(&needle), "expected '{needle}' in:\n{text}");
    }
    // The end-entity pin alone (with a spare) is worth a warning, not a failure.
    assert!(
        text.contains("the only matching pin is the end-entity key"),
        "{text}"
    );

    let (code, json) = check_live(args(true)).await;
    assert_eq!(code, Some(0), "{json}");
    let report: serde_json::Value =
        serde_json::from_str(&json).expect("check --format json is JSON");
    assert_eq!(report["ok"], true);
    assert_eq!(report["warn_days"], 10);
    let ups = report["upstreams"].as_array().unwrap();
    assert_eq!(ups.len(), 3);
    let first = &ups[0];
    assert_eq!(first["name"], "by-intermediate");
    assert_eq!(first["authenticated"], true);
    assert_eq!(first["failure"], serde_json::Value::Null);
    assert_eq!(first["matched_pins"][0]["pin"], inter.pin().to_string());
    assert_eq!(first["matched_pins"][0]["position"], "intermediate");
    assert_eq!(first["matched_pins"][0]["comment"], "issuing CA");
    assert_eq!(first["backup_pin"], true);
    assert_eq!(first["end_entity"]["timestamp"], not_after(&server));
    assert_eq!(first["chain"]["timestamp"], not_after(&inter));
    assert_eq!(first["pins"][0]["expires"], "2099-12-31");
    assert_eq!(first["pins"][1]["matched"], serde_json::Value::Null);
    assert_eq!(ups[1]["matched_pins"][0]["position"], "end-entity");
    assert_eq!(ups[2]["matched_pins"][0]["position"], "anchor");
    assert_eq!(ups[2]["matched_pins"][0]["pin"], root.pin().to_string());
}

/// An upstream whose key is not pinned fails the check (exit 1) with the failure class of
/// the metrics and the Extended DNS Error: an SPKI pin mismatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_live_fails_on_a_pin_mismatch() {
    let server = self_signed("p.test");
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let args = vec![
        "--upstream".to_owned(),
        up.addr.to_string(),
        "--pin-sha256".to_owned(),
        spare_pin().to_string(),
    ];
    let (code, text) = check_live(args.clone()).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("NOT AUTHENTICATED: SPKI pin mismatch [pin]"),
        "{text}"
    );
    assert!(text.contains("0 of 1 upstream(s) authenticated"), "{text}");
    let mut json_args = args;
    json_args.extend(["--format".to_owned(), "json".to_owned()]);
    let (code, json) = check_live(json_args).await;
    assert_eq!(code, Some(1), "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["ok"], false);
    let u = &report["upstreams"][0];
    assert_eq!(u["authenticated"], false);
    assert_eq!(u["failure"]["class"], "pin");
    assert_eq!(u["failure"]["reason"], "SPKI pin mismatch");
    assert_eq!(u["matched_pins"].as_array().unwrap().len(), 0);
}

/// An expired server certificate fails the check (exit 1): the handshake is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_live_fails_on_an_expired_certificate() {
    let root = ca("Expired Root");
    let server = expired_leaf("dot.test", &root);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let ca_path = ca_file("live-expired", &root);
    let (code, text) = check_live(by_name(up.addr, &ca_path, &[])).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("NOT AUTHENTICATED: certificate expired [expiry]"),
        "{text}"
    );
}

/// A certificate that expires within --warn-days, and a pin whose `expires` falls within
/// it, fail the check (exit 1) though the upstream authenticates, each with its days left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_live_fails_when_something_expires_within_warn_days() {
    let root = ca("Soon Root");
    let server = leaf_expiring_in(
        "dot.test",
        &root,
        time::Duration::days(5) + time::Duration::hours(12),
    );
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let ca_path = ca_file("live-soon", &root);
    // Certificate only: 5 days left, inside a 10-day window, outside a 3-day one.
    let args = |days: &str| by_name(up.addr, &ca_path, &["--warn-days", days]);
    let (code, text) = check_live(args("10")).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("upstream") && text.contains("): authenticated"),
        "{text}"
    );
    assert!(
        text.contains("PROBLEM: the end-entity certificate expires")
            && text.contains("5 days left (within --warn-days 10)"),
        "{text}"
    );
    let (code, text) = check_live(args("3")).await;
    assert_eq!(code, Some(0), "{text}");
    // A pin dated to end within the window.
    let soon = day_from_today(2);
    let policy = format!(
        "[[upstream]]\nname = \"dated\"\naddress = \"{}\"\nauth_name = \"dot.test\"\nca_file = \"{}\"\n\
         pins = [{{ sha256 = \"{}\", comment = \"root\", expires = \"{soon}\" }}, {{ sha256 = \"{}\" }}]\n",
        up.addr,
        ca_path.display(),
        root.pin(),
        spare_pin()
    );
    let path = ca_path.with_file_name("dated.toml");
    std::fs::write(&path, policy).unwrap();
    let (code, text) = check_live(vec![
        "--policy".to_owned(),
        path.display().to_string(),
        "--warn-days".to_owned(),
        "3".to_owned(),
        "--format".to_owned(),
        "json".to_owned(),
    ])
    .await;
    assert_eq!(code, Some(1), "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let u = &report["upstreams"][0];
    assert_eq!(u["authenticated"], true);
    assert_eq!(u["pins"][0]["expires"], soon);
    assert_eq!(u["pins"][0]["days_left"], 2);
    let problems = u["problems"].to_string();
    assert!(
        problems.contains(&format!(
            "expires on {soon}, 2 days left (within --warn-days 3)"
        )),
        "{problems}"
    );
}

/// A CA certificate given with --ca-file ends the validated path, and the verifier refuses
/// that path once the certificate expires: its date counts as the chain's. Expiring within
/// --warn-days, while the server's own certificate has longer, it fails the check (exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_live_counts_a_ca_file_anchor_expiring_within_warn_days() {
    let root = dated_ca("Short Root", -1, 5);
    let server = leaf_expiring_in("dot.test", &root, time::Duration::days(60));
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let ca_path = ca_file("live-anchor", &root);
    let (code, text) = check_live(by_name(
        up.addr,
        &ca_path,
        &["--warn-days", "10", "--format", "json"],
    ))
    .await;
    assert_eq!(code, Some(1), "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let u = &report["upstreams"][0];
    assert_eq!(u["authenticated"], true);
    assert_eq!(u["end_entity"]["timestamp"], not_after(&server));
    assert_eq!(u["chain"]["timestamp"], not_after(&root));
    let problems = u["problems"].to_string();
    assert!(
        problems.contains("a certificate on the validated chain expires")
            && problems.contains("(within --warn-days 10)"),
        "{problems}"
    );
}

// ---------------------------------------------------------------- strictdot pin

/// `strictdot pin` marks the CA keys of a live chain, and its policy block pins the
/// intermediate with the root as backup; pasted into a policy, that block authenticates the
/// server with `check --live`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_marks_ca_keys_and_prints_a_policy_block_that_works() {
    let root = ca("Block Root");
    let inter = intermediate("Block Intermediate", &root);
    let server = leaf_expiring_in("dot.test", &inter, time::Duration::days(60));
    let up = UpstreamOptions::new(&server, &[&inter, &root])
        .start()
        .await;
    let target = format!("{}#dot.test", up.addr);
    let out = tokio::task::spawn_blocking(move || {
        strictdot_command().args(["pin", &target]).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let ca_mark = "[CA key: basicConstraints CA:TRUE]";
    for (c, is_ca) in [(&server, false), (&inter, true), (&root, true)] {
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!("pin-sha256: {}", c.pin())))
            .unwrap_or_else(|| panic!("no pin line for {} in {stdout}", c.pin()));
        assert_eq!(line.contains(ca_mark), is_ca, "{line}");
    }
    assert!(
        stdout.contains("A CA key pin survives the server's routine certificate"),
        "{stdout}"
    );
    let block = &stdout[stdout.find("[[upstream]]").expect("a policy block")..];
    let policy = strictdot::policy::parse(block, "block").unwrap();
    let u = &policy.upstreams[0];
    assert_eq!(u.address, up.addr.to_string());
    assert_eq!(u.auth_name.as_deref(), Some("dot.test"));
    let pins: Vec<String> = u.pins.iter().map(|p| p.sha256.clone()).collect();
    assert_eq!(pins, [inter.pin().to_string(), root.pin().to_string()]);
    // Pasted with the CA file, it authenticates (the root is a private one here).
    let ca_path = ca_file("pin-block", &root);
    let path = ca_path.with_file_name("block.toml");
    std::fs::write(
        &path,
        block.replacen(
            "pins = [",
            &format!("ca_file = \"{}\"\npins = [", ca_path.display()),
            1,
        ),
    )
    .unwrap();
    let (code, text) = check_live(vec![
        "--policy".to_owned(),
        path.display().to_string(),
        "--warn-days".to_owned(),
        "10".to_owned(),
    ])
    .await;
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("matched pin {} ", inter.pin()))
            && text.contains("on the intermediate certificate"),
        "{text}"
    );
}

/// The README's "Rotating pins" section gives the order of steps with the commands.
#[test]
fn readme_explains_rotating_pins_in_order() {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("### Rotating pins")
        .expect("a Rotating pins section");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n### ").map_or(section.len(), |e| e + 4)];
    let mut at = 0;
    for step in [
        "strictdot check --live --policy",
        "strictdot pin ",
        "expires",
        "*beside* the old one",
        "kill -HUP",
        "Remove the old pin",
        "--format json",
        "strictdot-alerts.yml",
    ] {
        let found = section[at..]
            .find(step)
            .unwrap_or_else(|| panic!("'{step}' missing or out of order in:\n{section}"));
        at += found;
    }
}
