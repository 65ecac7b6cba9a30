//! The binary from the outside: exit code 2 and one clear line for each bad setting,
//! the `pin` subcommand, and a clean exit on SIGTERM.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::time::Instant;

use crate::support::*;

fn strictdot(args: &[&str]) -> std::process::Output {
    strictdot_command()
        .args(args)
        .output()
        .expect("run strictdot")
}

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let path = temp_dir("cli").join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(contents)
        .unwrap();
    path
}

fn assert_config_error(args: &[&str], needle: &str) {
    let out = strictdot(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: {stderr}");
    assert!(
        stderr.to_lowercase().contains(&needle.to_lowercase()),
        "args {args:?}: expected '{needle}' in: {stderr}"
    );
}

#[test]
fn bad_settings_exit_2_with_a_clear_line() {
    let l = ["--listen", "127.0.0.1:0"];
    let with =
        |extra: &[&str]| -> Vec<String> { l.iter().chain(extra).map(|s| s.to_string()).collect() };
    let run = |extra: &[&str], needle: &str| {
        let args = with(extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_config_error(&refs, needle);
    };
    run(
        &[
            "--upstream",
            "127.0.0.1:853#x.test",
            "--pin-sha256",
            "nope!",
        ],
        "base64",
    );
    run(
        &["--upstream", "127.0.0.1:853#x.test", "--pin-sha256", "AAAA"],
        "32",
    );
    run(&["--upstream", "dns.example:853"], "not an IP address");
    run(&["--upstream", "127.0.0.1:99999#x.test"], "port");
    run(
        &["--upstream", "127.0.0.1:853"],
        "neither an authentication name",
    );
    run(&["--tls-min-version", "1.1"], "1.1");
    run(&["--timeout", "90s"], "out of range");
    let empty = temp_file("empty.pem", b"");
    run(
        &["--ca-file", empty.to_str().unwrap()],
        "no PEM certificate",
    );
    run(&["--ca-file", "/nonexistent/ca.pem"], "CA file");
    assert_config_error(&["--listen", "not-an-address"], "invalid");
}

/// The DNSSEC settings: a bad mode, an unreadable or malformed trust anchor file, a bad
/// zone name, and anchors or exemptions given while validation is off (they would be
/// ignored) each stop strictdot with exit 2 and a line naming the setting.
#[test]
fn bad_dnssec_settings_exit_2_naming_the_setting() {
    let run = |extra: &[&str], needle: &str| {
        let mut args = vec!["--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        assert_config_error(&args, needle);
    };
    run(&["--dnssec", "maybe"], "--dnssec maybe");
    run(
        &["--trust-anchor-file", "/nonexistent/root.key"],
        "trust anchor file /nonexistent/root.key",
    );
    let junk = temp_file("anchor-junk.key", b". IN A 192.0.2.1\n");
    run(
        &["--trust-anchor-file", junk.to_str().unwrap()],
        "trust anchor line 1",
    );
    run(&["--insecure-zone", "a..b"], "not a domain name");
    let good = temp_file(
        "anchor-root.key",
        b". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n",
    );
    run(
        &[
            "--dnssec",
            "off",
            "--trust-anchor-file",
            good.to_str().unwrap(),
        ],
        "would be ignored",
    );
    run(
        &["--dnssec", "off", "--insecure-zone", "corp.example"],
        "would be ignored",
    );
}

/// Each message names the flag (or variable, or policy key), says what is accepted, and
/// gives an example; these are the ones users tripped over.
#[test]
fn messages_name_the_setting_the_accepted_form_and_an_example() {
    let run = |extra: &[&str], needles: &[&str]| {
        let mut args = vec!["--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let out = strictdot(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{args:?}: expected '{needle}' in: {stderr}"
            );
        }
        stderr.to_string()
    };
    run(
        &["--timeout", "0"],
        &[
            "--timeout 0: out of range; expected a duration from 100ms to 60s",
            "e.g. --timeout 4s",
        ],
    );
    // Ranges that reach an hour take hours: 1h passes (the next problem is the upstream).
    run(
        &[
            "--upstream-idle-timeout",
            "1h",
            "--upstream",
            "127.0.0.1:853",
        ],
        &["has neither an authentication name"],
    );
    run(&["--upstream-idle-timeout", "2h"], &["100ms to 1h"]);
    let stderr = run(
        &["--rate-limit", "-1"],
        &[
            "--rate-limit -1: not a whole number",
            "0 (off) to 10000000 queries per second",
            "e.g. --rate-limit 1000",
        ],
    );
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
    for bad in ["5359", "localhost:5359"] {
        let out = strictdot(&["--listen", bad]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        for needle in [
            &format!("--listen {bad}: invalid address")[..],
            "IP:PORT",
            "127.0.0.1:5359",
            "[::1]:5359",
        ] {
            assert!(
                stderr.contains(needle),
                "--listen {bad}: expected '{needle}' in: {stderr}"
            );
        }
    }
    run(
        &[
            "--upstream",
            "127.0.0.1:853#x.test",
            "--pin-sha256",
            "d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM",
        ],
        &["--pin-sha256 d6qz", "'=' padding", "strictdot pin"],
    );
}

/// The same row gives the same message for a variable and a policy key.
#[test]
fn environment_and_policy_values_are_checked_by_the_same_row() {
    let out = strictdot_command()
        .env("STRICTDOT_LISTEN", "127.0.0.1:0")
        .env("STRICTDOT_TIMEOUT", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("STRICTDOT_TIMEOUT=0: out of range; expected a duration from 100ms to 60s")
            && stderr.contains("e.g. STRICTDOT_TIMEOUT=4s"),
        "{stderr}"
    );
    let policy = temp_file("limits.toml", b"[limits]\nrate_limit = 20000000\n");
    let out = strictdot(&["check", "--policy", policy.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("policy limits.rate_limit = 20000000: out of range")
            && stderr.contains("e.g. policy limits.rate_limit = 1000"),
        "{stderr}"
    );
}

/// A pin in the environment that the policy's upstreams would ignore fails `check`.
#[test]
fn check_refuses_a_pin_the_policy_would_ignore() {
    let policy = temp_file(
        "pinned.toml",
        b"[[upstream]]\nname = \"x\"\naddress = \"192.0.2.1\"\nauth_name = \"x.test\"\n",
    );
    let out = strictdot_command()
        .env(
            "STRICTDOT_PIN_SHA256",
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        )
        .args(["check", "--policy", policy.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("STRICTDOT_PIN_SHA256=") && stderr.contains("would be ignored"),
        "{stderr}"
    );
}

/// An empty or truncated policy names no upstream: refused, not a silent fall-back to the
/// built-in upstreams. Upstreams given by flag or variable make it fine.
#[test]
fn a_policy_without_upstreams_is_refused_unless_upstreams_are_given() {
    let check = |name: &str, text: &str, env: &[(&str, &str)]| {
        let path = temp_file(name, text.as_bytes());
        strictdot_command()
            .envs(env.iter().copied())
            .args(["check", "--policy", path.to_str().unwrap()])
            .output()
            .unwrap()
    };
    for (name, text) in [
        ("empty.toml", ""),
        (
            "truncated.toml",
            "[listen]\naddresses = [\"127.0.0.1:53\"]\n",
        ),
    ] {
        let out = check(name, text, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("names no [[upstream]]"), "{name}: {stderr}");
    }
    let out = check(
        "empty.toml",
        "",
        &[("STRICTDOT_UPSTREAM", "192.0.2.1#x.test")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("192.0.2.1:853: name x.test"), "{stdout}");
}

/// `2620:fe::fe:853` is an address and an address with a port: refused, with the bracketed
/// form to write, on the command line, in the environment and in a policy alike.
#[test]
fn ipv6_upstream_without_brackets_is_refused_with_a_hint() {
    // Accepted, this would run (and be killed after the wait); refused, it exits at once.
    let mut child = strictdot_command()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "2620:fe::fe:853#dns.quad9.net",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("2620:fe::fe:853 was accepted as an upstream address");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--upstream 2620:fe::fe:853#dns.quad9.net")
            && stderr.contains("write [2620:fe::fe]:853"),
        "{stderr}"
    );
    let policy = temp_file(
        "v6.toml",
        b"[[upstream]]\nname = \"quad9\"\naddress = \"2620:fe::fe:853\"\nauth_name = \"dns.quad9.net\"\n",
    );
    let out = strictdot(&["check", "--policy", policy.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[2620:fe::fe]:853"), "{stderr}");
}

#[test]
fn pin_subcommand_reads_pem_file() {
    let root = ca("Pin Root");
    let server = leaf("dot.test", &root);
    let pem = format!("{}{}", server.pem(), root.pem());
    let path = temp_file("chain.pem", pem.as_bytes());
    let out = strictdot(&["pin", "--cert", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("pin-sha256: {}", server.pin())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("pin-sha256: {}", root.pin())),
        "{stdout}"
    );
    assert!(stdout.contains("CN=dot.test"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_subcommand_reads_live_chain_without_sending_dns() {
    let root = ca("Pin Root");
    let inter = intermediate("Pin Intermediate", &root);
    let server = leaf("dot.test", &inter);
    let up = UpstreamOptions::new(&server, &[&inter]).start().await;
    let target = format!("{}#dot.test", up.addr);
    let out = tokio::task::spawn_blocking(move || strictdot(&["pin", &target]))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("pin-sha256: {}", server.pin())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("pin-sha256: {}", inter.pin())),
        "{stdout}"
    );
    assert_eq!(
        up.seen.handshakes.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(up.seen.queries.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Nothing listening: exit 1 with a message.
    let dead = dead_addr().to_string();
    let out = tokio::task::spawn_blocking(move || strictdot(&["pin", &dead]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// The binary on a free port with `extra` flags, forwarding to a fake upstream it
/// authenticates by name (the CA in a file named after `tag`), stderr to `stderr`; returned
/// with its first answer, to a query for `name` (it is polled until one comes).
async fn forwarding_binary(
    tag: &str,
    extra: &[&str],
    stderr: Stdio,
    name: &str,
) -> (FakeUpstream, Reaped, Vec<u8>) {
    let root = ca("Test Root");
    let server = leaf("dot.test", &root);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let ca_path = temp_file(&format!("{tag}-ca.pem"), root.pem().as_bytes());
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Reaped::spawn(
        strictdot_command()
            .args([
                "--listen",
                &listen,
                "--upstream",
                &format!("{}#dot.test", up.addr),
                "--dnssec",
                "off",
            ])
            .args(extra)
            .arg("--ca-file")
            .arg(&ca_path)
            .stdout(Stdio::null())
            .stderr(stderr),
    );
    let addr = listen.parse().unwrap();
    // Ready when it answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = udp_exchange(addr, &query(1, name, 1, None), Duration::from_millis(200)).await;
        if let Some(reply) = reply {
            return (up, child, reply);
        }
        assert!(Instant::now() < deadline, "strictdot did not come up");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_zero() {
    let (_up, mut child, reply) =
        forwarding_binary("sigterm", &[], Stdio::null(), "www.example").await;
    assert_eq!(
        parse(&reply).response_code(),
        hickory_proto::op::ResponseCode::NoError
    );
    send_signal(child.0.id(), "-TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s.code();
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(code, Some(0));
}

#[test]
fn settings_are_read_from_the_environment() {
    let out = strictdot_command()
        .env("STRICTDOT_LISTEN", "127.0.0.1:0")
        .env("STRICTDOT_UPSTREAM", "127.0.0.1:853#a.test,127.0.0.1:8853")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("127.0.0.1:8853 has neither"), "{stderr}");
}

/// The advice for an untrusted chain must not teach trusting an interceptor.
#[test]
fn readme_warns_that_an_untrusted_public_chain_is_likely_interception() {
    let readme = include_str!("../../README.md");
    let row = readme
        .lines()
        .find(|l| l.starts_with("| `certificate chain does not lead to a trusted root`"))
        .expect("README's troubleshooting table has the untrusted row");
    for needle in [
        "**public** resolver",
        "intercepting",
        "Do **not** add its CA",
    ] {
        assert!(row.contains(needle), "expected '{needle}' in {row}");
    }
}

/// Runs the binary with `extra` flags on a free port, sends one query over UDP, stops it
/// with SIGTERM and returns its exit code and log.
async fn one_query_log(name: &str, extra: &[&str]) -> (Option<i32>, String) {
    let (_up, child, _) =
        forwarding_binary(name, extra, Stdio::piped(), "secret-name.example").await;
    terminated(child).await
}

/// Sends SIGTERM to `child` (stderr piped) and returns its exit code and whole log.
async fn terminated(mut child: Reaped) -> (Option<i32>, String) {
    send_signal(child.0.id(), "-TERM");
    let mut stderr = child.0.stderr.take().unwrap();
    let log = tokio::task::spawn_blocking(move || {
        let mut log = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
        log
    })
    .await
    .unwrap();
    let code = child.0.wait().unwrap().code();
    (code, log)
}

/// Several SO_REUSEPORT sockets serve one address (one per core): it is logged once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_udp_address_is_logged_once() {
    let (code, log) = one_query_log("udp-once", &[]).await;
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(
        log.matches("serving DNS over UDP").count(),
        1,
        "one line per address:\n{log}"
    );
}

/// `--log-level debug` logs each answered query's outcome, and without `--log-queries` never
/// its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_each_answer_without_its_name() {
    let (code, log) = one_query_log("debug-answer", &["--log-level", "debug"]).await;
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("answered") && l.contains("rcode=0")),
        "no debug line for the answer:\n{log}"
    );
    assert!(!log.contains("secret-name"), "name logged:\n{log}");
}

/// `check` names the strategy as the flag spells it.
#[test]
fn check_names_the_strategy_as_the_flag_spells_it() {
    for strategy in ["latency", "round-robin", "failover"] {
        let out = strictdot(&[
            "check",
            "--upstream",
            "127.0.0.1#dot.test",
            "--strategy",
            strategy,
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("({strategy} strategy,")),
            "{strategy}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `pin --cert` given a key file says it holds a private key, and does not call it a CA file.
#[test]
fn pin_cert_on_a_key_file_says_it_is_a_key() {
    let root = ca("Pin Root");
    let server = leaf("dot.test", &root);
    let path = temp_file("server.key", server.key.serialize_pem().as_bytes());
    let out = strictdot(&["pin", "--cert", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("private key"), "{stderr}");
    assert!(!stderr.contains("CA file"), "{stderr}");
}

/// JSON logs carry the counters as fields (numbers), not as one string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_counters_as_fields() {
    let (code, log) = one_query_log("json-fields", &["--log-format", "json"]).await;
    assert_eq!(code, Some(0), "{log}");
    let traffic: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "traffic")
        .unwrap_or_else(|| panic!("no traffic line:\n{log}"));
    assert!(
        traffic["fields"]["udp_queries"].as_u64() >= Some(1),
        "{traffic}"
    );
    assert_eq!(
        traffic["fields"]["tcp_queries"].as_u64(),
        Some(0),
        "{traffic}"
    );
}

#[test]
fn man_subcommand_prints_roff_naming_every_flag() {
    let out = strictdot(&["man"]);
    assert!(out.status.success(), "{out:?}");
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH strictdot"), "no title header");
    // roff escapes '-' as '\-'; undo that to find each long flag.
    let plain = page.replace("\\-", "-");
    for s in strictdot::config::table::SETTINGS {
        assert!(
            plain.contains(&format!("--{}", s.name)),
            "--{} missing",
            s.name
        );
    }
    for sub in ["pin", "healthcheck", "check", "man", "completions"] {
        assert!(plain.contains(sub), "subcommand {sub} missing");
    }
}

#[test]
fn completions_subcommand_writes_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef strictdot"),
        ("fish", "complete -c strictdot"),
    ] {
        let out = strictdot(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        assert!(script.contains("upstream"), "{shell}: no --upstream");
        assert!(script.contains("healthcheck"), "{shell}: no subcommand");
    }
    let bash = String::from_utf8(strictdot(&["completions", "bash"]).stdout).unwrap();
    assert!(bash.contains("--upstream"));
    let bad = strictdot(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn help_groups_flags_under_headings_and_shows_examples() {
    let out = strictdot(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    // The heading a flag is listed under: the last unindented "Name:" line above it.
    let under = |flag: &str| {
        let mut heading = "";
        for line in help.lines() {
            if !line.starts_with(' ') && line.ends_with(':') {
                heading = line;
            }
            if line.trim_start().starts_with(flag) || line.contains(&format!(", {flag}")) {
                return heading.to_owned();
            }
        }
        panic!("{flag} missing from --help:\n{help}")
    };
    for (heading, flag) in [
        ("Upstreams:", "--upstream <"),
        ("Upstreams:", "--pin-sha256 <"),
        ("Listening:", "--listen <"),
        ("Listening:", "--metrics <"),
        ("Limits:", "--rate-limit <"),
        ("Cache:", "--cache-size <"),
        ("DNSSEC:", "--dnssec <"),
        ("Privacy:", "--keep-ecs"),
        ("Logging:", "--log-level <"),
    ] {
        assert_eq!(under(flag), heading, "{flag}");
    }
    let at = |needle: &str| {
        help.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing"))
    };
    assert!(at("Examples:") > at("Logging:"));
    assert!(help.contains("strictdot completions bash"));
}

/// The image's HEALTHCHECK asks --metrics 127.0.0.1:9153; a `docker run` example that
/// replaces the CMD without serving metrics there would be marked unhealthy forever.
#[test]
fn readme_docker_examples_serve_what_the_healthcheck_asks() {
    let dockerfile = include_str!("../../Dockerfile");
    let probe = "--metrics\", \"127.0.0.1:9153\"";
    let healthcheck = dockerfile
        .split("HEALTHCHECK")
        .nth(1)
        .and_then(|h| h.split("ENTRYPOINT").next())
        .expect("Dockerfile has a HEALTHCHECK");
    assert!(healthcheck.contains(probe), "{healthcheck}");
    let cmd = dockerfile.lines().find(|l| l.starts_with("CMD ")).unwrap();
    assert!(
        cmd.contains(probe),
        "the default CMD serves the metrics: {cmd}"
    );

    let readme = include_str!("../../README.md").replace("\\\n", " ");
    let runs: Vec<&str> = readme
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("docker run "))
        .collect();
    assert!(runs.len() >= 3, "{runs:?}");
    for run in runs {
        // Arguments after the image name replace the CMD.
        let words: Vec<&str> = run.split_whitespace().collect();
        let image = (1..words.len())
            .find(|&i| words[i] == "strictdot" && words[i - 1] != "--name")
            .expect(run);
        let args = &words[image + 1..];
        let metrics = args
            .windows(2)
            .any(|w| w[0] == "--metrics" && w[1] == "127.0.0.1:9153");
        assert!(args.is_empty() || metrics, "unhealthy example: {run}");
    }
}

/// The runtime's worker threads of process `pid`, by name.
fn worker_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("/proc/PID/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "tokio-rt-worker")
        .count()
}

/// `--threads N` sets the runtime's worker threads and the UDP sockets per address; without
/// it there is one of each per core this process may use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_sets_the_workers_and_the_udp_sockets() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (given, expected) in [(Some("1"), 1), (Some("3"), 3), (None, cores)] {
        let extra: Vec<&str> = given.map(|n| vec!["--threads", n]).unwrap_or_default();
        let (_up, child, reply) =
            forwarding_binary("threads", &extra, Stdio::piped(), "www.example").await;
        assert_eq!(reply.get(3).map(|b| b & 0x0f), Some(0), "{reply:?}");
        let workers = worker_threads(child.0.id());
        let (code, log) = terminated(child).await;
        assert_eq!(code, Some(0), "{log}");
        assert_eq!(workers, expected, "--threads {given:?}:\n{log}");
        let udp = log
            .lines()
            .find(|l| l.contains("serving DNS over UDP"))
            .unwrap_or_else(|| panic!("no UDP line:\n{log}"));
        assert!(
            udp.contains(&format!("sockets={expected}")),
            "--threads {given:?}: {udp}"
        );
    }
}
