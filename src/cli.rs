//! Command-line definitions. The forwarder's flags are generated from the settings table
//! (`config/table.rs`): clap only collects what was written, and the configuration parses
//! and checks it, so a flag, its variable and its policy key give the same messages. The
//! subcommands' own options are plain clap derive.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::ValueParser;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::config::table::{DefaultValue, Kind, Setting, SETTINGS};
use crate::config::Layer;
use crate::upstream_spec::UpstreamSpec;

/// strictdot: plain DNS in, strictly authenticated DNS-over-TLS out.
#[derive(Debug, Parser)]
#[command(name = "strictdot", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true)]
#[command(after_help = EXAMPLES)]
pub struct Cli {
    /// A subcommand; without one, strictdot runs the forwarder.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Forwarder options.
    #[command(flatten)]
    pub proxy: ProxyArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the SPKI SHA-256 pin of every certificate a server presents (or of a PEM file).
    Pin(PinArgs),
    /// Exit 0 if a running strictdot reports ready: its --metrics endpoint, or its
    /// --ready-file (for HEALTHCHECK and Kubernetes probes).
    Healthcheck(HealthArgs),
    /// Validate the configuration (flags, environment, --policy) and print how each upstream
    /// will be authenticated; with --live, connect to each and report (exit 1 on a failure
    /// or an expiry within --warn-days).
    Check(CheckArgs),
    /// Print the manual page (roff, for man(1)) generated from this command line.
    Man,
    /// Print a shell completion script generated from this command line.
    Completions(CompletionsArgs),
}

/// Options of `strictdot completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: CompletionShell,
}

/// The shells `strictdot completions` writes for.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum CompletionShell {
    /// bash (save as /usr/share/bash-completion/completions/strictdot).
    Bash,
    /// zsh (save as _strictdot in a directory of $fpath).
    Zsh,
    /// fish (save as ~/.config/fish/completions/strictdot.fish).
    Fish,
}

/// Writes the manual page of the whole command line, subcommands included, as roff.
pub fn write_man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    clap_mangen::Man::new(cmd).render(out)
}

/// Writes the completion script for `shell`.
pub fn write_completions(shell: CompletionShell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "strictdot", out);
}

/// The forwarder's flags as written on the command line (no defaults, no environment:
/// those are layers of their own, merged in `config/merge.rs`).
#[derive(Clone, Debug, Default)]
pub struct ProxyArgs {
    /// The values given, by setting.
    pub flags: Layer,
}

/// Examples shown after the flags in `--help` (and in the man page).
const EXAMPLES: &str = "\
Examples:
  Forward 127.0.0.1:5353 to Quad9, authenticated by name:
    strictdot -l 127.0.0.1:5353 -u '9.9.9.9:853#dns.quad9.net'
  A private resolver authenticated by its key, with a backup pin:
    strictdot -u 192.0.2.7:853 --pin-sha256 CURRENT_PIN= --pin-sha256 BACKUP_PIN=
  Check the configuration and each upstream, then serve with metrics for HEALTHCHECK:
    strictdot check --live --policy /etc/strictdot/strictdot.toml
    strictdot --policy /etc/strictdot/strictdot.toml --metrics 127.0.0.1:9153
  Install the manual page and bash completions:
    strictdot man > /usr/local/share/man/man1/strictdot.1
    strictdot completions bash > /usr/share/bash-completion/completions/strictdot";

/// The `--help` heading a setting is listed under, from its policy section (or its name,
/// for the settings the policy file cannot set).
pub fn heading(s: &Setting) -> &'static str {
    let policy = s.policy.unwrap_or("");
    let section = policy.split('.').next().unwrap_or("");
    if policy.starts_with("[[upstream]]")
        || matches!(policy, "tls_min_version" | "strategy")
        || matches!(s.name, "ca-file" | "warn-days")
    {
        "Upstreams"
    } else if (section == "listen" && policy.contains('.')) || s.name == "ready-file" {
        "Listening"
    } else if section == "limits" {
        "Limits"
    } else if section == "cache" {
        "Cache"
    } else if section == "dnssec" {
        "DNSSEC"
    } else if section == "privacy" {
        "Privacy"
    } else if s.name.starts_with("log-") {
        "Logging"
    } else {
        "Configuration"
    }
}

/// The clap argument of one setting.
fn arg(s: &'static Setting) -> Arg {
    let mut help = s.help.replace('`', "");
    if let Kind::Choice(words) = s.kind {
        help.push_str(&format!(" [possible values: {}]", words.join(", ")));
    }
    match s.default {
        DefaultValue::Value(v) => help.push_str(&format!(" [default: {v}]")),
        DefaultValue::Builtin(text) => help.push_str(&format!(" [default: {text}]")),
        DefaultValue::Unset => {}
    }
    help.push_str(&format!(" [env: {}]", s.env));
    let mut arg = Arg::new(s.name)
        .long(s.name)
        .help(help)
        .help_heading(heading(s));
    if let Some(c) = s.short {
        arg = arg.short(c);
    }
    match s.kind {
        Kind::Switch => arg.action(ArgAction::SetTrue),
        kind => {
            arg = arg
                .value_name(s.value_name)
                .value_parser(ValueParser::string())
                .action(if s.list {
                    ArgAction::Append
                } else {
                    ArgAction::Set
                });
            if s.list {
                arg = arg.value_delimiter(',');
            }
            if matches!(kind, Kind::Count { .. } | Kind::Duration { .. }) {
                // `--rate-limit -1` is a value to refuse with the range, not a flag.
                arg = arg.allow_negative_numbers(true);
            }
            arg
        }
    }
}

impl Args for ProxyArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        SETTINGS.iter().fold(cmd, |cmd, s| cmd.arg(arg(s)))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for ProxyArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Layer::default();
        for s in SETTINGS {
            if matches.value_source(s.name) != Some(ValueSource::CommandLine) {
                continue;
            }
            let values = match s.kind {
                Kind::Switch => vec!["true".to_owned()],
                _ => matches
                    .get_many::<String>(s.name)
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect(),
            };
            flags.set(s, values);
        }
        Ok(ProxyArgs { flags })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// The forwarder's flags from `argv` (the program name first), as `main` reads them.
pub fn flags_from<I, T>(argv: I) -> Result<Layer, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Ok(Cli::try_parse_from(argv)?.proxy.flags)
}

/// Options of `strictdot pin`.
#[derive(Debug, Args)]
pub struct PinArgs {
    /// Server to read the chain from: IP[:PORT][#NAME] (port 853 by default).
    #[arg(
        value_name = "IP[:PORT][#NAME]",
        required_unless_present = "cert",
        conflicts_with = "cert"
    )]
    pub server: Option<UpstreamSpec>,

    /// Name to send as SNI (same as #NAME).
    #[arg(long = "tls-name", value_name = "NAME")]
    pub tls_name: Option<String>,

    /// Read certificates from this PEM file instead of a server.
    #[arg(long = "cert", value_name = "PEM")]
    pub cert: Option<PathBuf>,

    /// Give up on the server after this long.
    #[arg(long = "timeout", value_name = "DURATION", default_value = "5s",
          value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Options of `strictdot check`: its own, and every setting of the forwarder (the
/// configuration to check is the one the server would run with).
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Connect to every upstream with the server's verifier and report: authenticated or
    /// why not, the matched pin and where it sits, backup pins, expiry dates. Exit 1 if an
    /// upstream fails or something expires within --warn-days.
    #[arg(long = "live")]
    pub live: bool,

    /// Output of --live.
    #[arg(
        long = "format",
        value_enum,
        value_name = "FORMAT",
        default_value = "text",
        requires = "live"
    )]
    pub format: CheckFormat,

    /// The forwarder's settings.
    #[command(flatten)]
    pub proxy: ProxyArgs,
}

/// Output formats of `strictdot check --live`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// Lines for people.
    Text,
    /// One JSON document.
    Json,
}

/// Options of `strictdot healthcheck`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The --metrics address of the running strictdot.
    #[arg(
        long = "metrics",
        value_name = "ADDR:PORT",
        env = "STRICTDOT_METRICS",
        default_value = "127.0.0.1:9153"
    )]
    pub metrics: SocketAddr,

    /// Check liveness (/health) instead of readiness (/ready).
    #[arg(long = "live", conflicts_with = "ready_file")]
    pub live: bool,

    /// Check this instance's readiness through the file it was started with
    /// (`--ready-file`) instead of asking --metrics: exit 0 iff the file exists. Where two
    /// instances share the --metrics port (a handover), the port may be answered by the
    /// other one; the file is this instance's own.
    #[arg(long = "ready-file", value_name = "FILE")]
    pub ready_file: Option<PathBuf>,

    /// Give up after this long.
    #[arg(long = "timeout", value_name = "DURATION", default_value = "3s",
          value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Parses a subcommand's time limit: `4s`, `1500ms`, `2m`, `1h`, or a bare number of
/// seconds; more than 0, at most a day.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = crate::config::parse::duration_text(s)
        .map_err(|e| format!("'{s}': {e} (examples: 4s, 1500ms, 2m, 1h)"))?;
    if d.is_zero() || d > Duration::from_secs(86_400) {
        return Err(format!(
            "'{s}' is out of range (more than 0, at most a day)"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("4s").unwrap(), Duration::from_secs(4));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["", "0", "-1s", "25h", "5d", "x", "1e999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn every_setting_has_a_help_heading() {
        use crate::config::table;
        for s in table::SETTINGS {
            let h = heading(s);
            assert!(
                h != "Configuration" || s.name == "policy",
                "{} has no heading",
                s.name
            );
        }
        assert_eq!(heading(&table::UPSTREAM), "Upstreams");
        assert_eq!(heading(&table::LISTEN), "Listening");
        assert_eq!(heading(&table::TIMEOUT), "Limits");
    }

    #[test]
    fn flags_are_collected_as_written() {
        use crate::config::table;
        let flags = flags_from([
            "strictdot",
            "-l",
            "127.0.0.1:5359,[::1]:5359",
            "--rate-limit",
            "-1",
            "--keep-ecs",
        ])
        .unwrap();
        assert_eq!(
            flags.get(&table::LISTEN).unwrap(),
            ["127.0.0.1:5359", "[::1]:5359"]
        );
        assert_eq!(flags.get(&table::RATE_LIMIT).unwrap(), ["-1"]);
        assert_eq!(flags.get(&table::KEEP_ECS).unwrap(), ["true"]);
        assert_eq!(flags.get(&table::TIMEOUT), None);
    }
}
