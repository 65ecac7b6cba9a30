//! What the image ships: the default policy (`policy/strictdot.toml`, copied by the
//! Dockerfile to `/etc/strictdot/strictdot.toml`, read when no `--policy` is given) behaves
//! as the built-in defaults, so `docker run strictdot` does what the README says; and its
//! commented lines are the defaults, so uncommenting one changes nothing. That the binary
//! logs the file it read is asserted by `scripts/scratch-test.sh` (the file sits at its
//! real path only in an image or a chroot).

use std::path::Path;
use std::process::{Command, Stdio};

/// `strictdot check` with `args` and an empty environment: the summary and the settings,
/// each value without where it came from (default, policy...), and without the line that
/// names the policy file.
fn described(args: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_strictdot"))
        .env_clear()
        .arg("check")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "check {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .skip(1) // "configuration: valid" / "policy FILE: valid"
        .filter(|l| !l.trim_start().starts_with("--policy "))
        .map(|l| {
            let l = l.trim_end().trim_end_matches(" *");
            match l.rfind(" (") {
                Some(i) if l.starts_with("  --") && l.ends_with(')') => l[..i].to_owned(),
                _ => l.to_owned(),
            }
        })
        .collect()
}

/// The policy with every commented setting uncommented: a line `# key = value`, `# [section]`
/// or the continuation of a commented array (`#     "…"`). Prose comments stay.
fn uncommented(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let setting = line.strip_prefix("# ").filter(|rest| {
            let key: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            (rest.starts_with('[') && rest.trim_end().ends_with(']'))
                || (!key.is_empty() && rest[key.len()..].starts_with(" = "))
                || rest.trim_start().starts_with('"') && rest.starts_with(' ')
        });
        out.push_str(setting.unwrap_or(line));
        out.push('\n');
    }
    out
}

#[test]
fn the_shipped_default_policy_is_the_built_in_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policy/strictdot.toml");
    let text = std::fs::read_to_string(&path).expect("policy/strictdot.toml");
    let builtin = described(&[]);
    assert_eq!(
        described(&["--policy", path.to_str().unwrap()]),
        builtin,
        "policy/strictdot.toml differs from running with no policy"
    );
    let open = uncommented(&text);
    let settings = open.lines().filter(|l| l.contains(" = ")).count();
    assert!(settings > 30, "uncommented only {settings} lines:\n{open}");
    let dir = std::env::temp_dir().join(format!("strictdot-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let all = dir.join("uncommented.toml");
    std::fs::write(&all, &open).unwrap();
    let mut got = described(&["--policy", all.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    // The allow list written out is the built-in one, which `check` names in words.
    for l in &mut got {
        if l.starts_with("  --allow ") {
            assert!(
                l.ends_with("127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7,169.254.0.0/16,fe80::/10"),
                "{l}"
            );
            *l = builtin
                .iter()
                .find(|b| b.starts_with("  --allow "))
                .unwrap()
                .clone();
        }
    }
    assert_eq!(
        got, builtin,
        "a commented value in policy/strictdot.toml is not the default:\n{open}"
    );
}
