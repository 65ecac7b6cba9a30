//! The strictdot binary: parse the command line (and policy file), validate the
//! configuration, bind, drop privileges while still one thread, start the runtime, run,
//! reload on SIGHUP, and map failure to an exit code (2: bad configuration, 1: runtime
//! failure).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use strictdot::bind::{Activation, Addresses, Bound};
use strictdot::cli::{Cli, Command};
use strictdot::config::table::POLICY;
use strictdot::config::{
    Config, ConfigError, Layer, LogFormat, LogLevel, ProcessEnvironment, Sources,
};
use strictdot::notify::{Notifier, NotifyEnv};
use strictdot::{privileges, shutdown, Server};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Generated from the command line alone: no environment, policy or logging needed.
    match &cli.command {
        Some(Command::Man) => {
            return write_or_fail(strictdot::cli::write_man(&mut std::io::stdout()))
        }
        Some(Command::Completions(args)) => {
            strictdot::cli::write_completions(args.shell, &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let env = match Layer::from_env(&ProcessEnvironment) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("strictdot: error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut flags = cli.proxy.flags;
    let default_policy = default_policy(&flags, &env, |p| p.is_file());
    if let Some(path) = default_policy {
        flags.set(&POLICY, vec![path.to_owned()]);
    }
    match Sources::new(flags.clone(), env.clone(), None).logging() {
        Ok((level, format)) => init_logging(level, format),
        Err(e) => {
            eprintln!("strictdot: error: {e}");
            return ExitCode::from(2);
        }
    }
    if let Some(path) = default_policy {
        tracing::info!(
            policy = path,
            "no --policy given: reading the default policy file"
        );
    }
    match &cli.command {
        Some(Command::Pin(args)) => return strictdot::pin_cmd::main(args),
        Some(Command::Healthcheck(args)) => {
            let path = if args.live { "/health" } else { "/ready" };
            let result = match &args.ready_file {
                Some(file) => strictdot::ready::check(file),
                None => strictdot::http::check(args.metrics, path, args.timeout),
            };
            return match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("strictdot healthcheck: {e}");
                    ExitCode::from(1)
                }
            };
        }
        Some(Command::Check(args)) => return strictdot::check_cmd::main(args, &env),
        Some(Command::Man | Command::Completions(_)) | None => {}
    }
    let config = match load_config(&flags, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strictdot: error: {e}");
            return ExitCode::from(2);
        }
    };
    // A ready file left by an earlier process says nothing about this one: gone before
    // anything can fail.
    if let Some(path) = config.ready_file() {
        strictdot::ready::ReadyFile::new(path).clear_stale();
    }
    // Bind first, then give up privileges while this is the only thread (capability sets
    // are per thread), and only then start the runtime's workers.
    privileges::raise_bind_capability();
    let tls_addrs = config
        .listen_tls()
        .map(|t| t.addrs().to_vec())
        .unwrap_or_default();
    // Read once: the UDP sockets and the runtime's workers must agree.
    let threads = config.threads();
    let addrs = Addresses {
        dns: config.listen(),
        tls: &tls_addrs,
        metrics: config.metrics(),
        udp_sockets: threads,
    };
    let bound = match Activation::from_process() {
        Some(activation) => {
            tracing::info!(
                sockets = activation.count,
                "socket activation: serving on the sockets the service manager passed (they replace --listen)"
            );
            Bound::inherit(&activation, addrs).map_err(|e| e.to_string())
        }
        None => Bound::bind(addrs).map_err(|e| e.to_string()),
    };
    let bound = match bound {
        Ok(b) => b,
        Err(e) => {
            eprintln!("strictdot: error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = privileges::drop_privileges(config.user()) {
        eprintln!("strictdot: error: {e}");
        return ExitCode::from(1);
    }
    if let Err(e) = privileges::drop_capabilities() {
        eprintln!("strictdot: error: {e}");
        return ExitCode::from(1);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strictdot: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(serve(config, bound, flags, env))
}

/// The policy file read when neither `--policy` nor `STRICTDOT_POLICY` names one, if it
/// exists (the systemd unit and the image rely on it).
const DEFAULT_POLICY: &str = "/etc/strictdot/strictdot.toml";

/// [`DEFAULT_POLICY`] when no layer names a policy and `exists` says it is there.
fn default_policy(
    flags: &Layer,
    env: &Layer,
    exists: impl Fn(&std::path::Path) -> bool,
) -> Option<&'static str> {
    let named = flags.get(&POLICY).is_some() || env.get(&POLICY).is_some();
    (!named && exists(std::path::Path::new(DEFAULT_POLICY))).then_some(DEFAULT_POLICY)
}

/// Reads the policy file the flags or the environment name, and merges every layer:
/// default < policy < environment < flag.
fn load_config(flags: &Layer, env: &Layer) -> Result<Config, ConfigError> {
    Sources::read(flags.clone(), env.clone())?.load()
}

async fn serve(config: Config, bound: Bound, flags: Layer, env: Layer) -> ExitCode {
    for u in config.upstreams() {
        tracing::info!(upstream = %u.name, address = %u.spec.addr, auth = %u.mode, "upstream configured");
    }
    let notifier = Notifier::new(&NotifyEnv::from_process(), std::process::id());
    let server = Server::new(config.clone()).with_notifier(notifier);
    let listeners = match bound.register() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("strictdot: error: cannot register the sockets: {e}");
            return ExitCode::from(1);
        }
    };
    let token = CancellationToken::new();
    let stop = token.clone();
    tokio::spawn(async move {
        shutdown::signal().await;
        stop.cancel();
    });
    // SIGHUP: read the policy again, built and checked as at start; a bad one is refused
    // and the old one stays. Settings bound at start (sockets, caps, user) keep the values
    // the process started with: a changed one is named in a warning.
    let reloader = server.reloader();
    let started = config;
    tokio::spawn(async move {
        let mut hups = shutdown::hangups();
        while hups.recv().await.is_some() {
            let next = Sources::read(flags.clone(), env.clone())
                .and_then(|s| s.reloading(&started).load());
            match next {
                Ok(next) => {
                    let restart = started.restart_needed(&next);
                    if !restart.is_empty() {
                        tracing::warn!(
                            settings = %restart.join(", "),
                            "changed settings take effect only after a restart; the running values stay"
                        );
                    }
                    reloader.reload(&next);
                }
                Err(e) => {
                    tracing::error!(error = %e, "reload refused; the old configuration stays")
                }
            }
        }
    });
    server.run(listeners, token).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

fn init_logging(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

/// Exit 0 if the output was written, else 1 with the error (a closed pipe included).
fn write_or_fail(result: std::io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strictdot: error: writing the output: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_read_only_when_none_is_named_and_it_exists() {
        let none = Layer::default();
        let mut named = Layer::default();
        named.set(&POLICY, vec!["/tmp/p.toml".into()]);
        let there = |p: &std::path::Path| p == std::path::Path::new(DEFAULT_POLICY);
        assert_eq!(default_policy(&none, &none, there), Some(DEFAULT_POLICY));
        assert_eq!(default_policy(&none, &none, |_| false), None);
        assert_eq!(default_policy(&named, &none, there), None);
        assert_eq!(default_policy(&none, &named, there), None);
    }
}
