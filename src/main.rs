//! The strictdot binary: parse the command line (and policy file), validate the
//! configuration, bind, drop privileges, run, reload on SIGHUP, and map failure to an exit
//! code (2: bad configuration, 1: runtime failure).

use std::process::ExitCode;

use clap::Parser;
use strictdot::cli::{Cli, Command};
use strictdot::config::{
    Config, ConfigError, Layer, LogFormat, LogLevel, ProcessEnvironment, Sources,
};
use strictdot::{shutdown, Listeners, Server};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = match Layer::from_env(&ProcessEnvironment) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("strictdot: error: {e}");
            return ExitCode::from(2);
        }
    };
    let flags = cli.proxy.flags;
    match Sources::new(flags.clone(), env.clone(), None).logging() {
        Ok((level, format)) => init_logging(level, format),
        Err(e) => {
            eprintln!("strictdot: error: {e}");
            return ExitCode::from(2);
        }
    }
    match &cli.command {
        Some(Command::Pin(args)) => return strictdot::pin_cmd::main(args),
        Some(Command::Healthcheck(args)) => {
            let path = if args.live { "/health" } else { "/ready" };
            return match strictdot::http::check(args.metrics, path, args.timeout) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("strictdot healthcheck: {e}");
                    ExitCode::from(1)
                }
            };
        }
        Some(Command::Check(args)) => {
            let mut flags = Layer::default();
            flags.set(
                &strictdot::config::table::POLICY,
                vec![args.policy.display().to_string()],
            );
            return match load_config(&flags, &env) {
                Ok(config) => {
                    println!("policy {}: valid", args.policy.display());
                    print!("{}", config.describe());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("strictdot check: error: {e}");
                    ExitCode::from(2)
                }
            };
        }
        None => {}
    }
    let config = match load_config(&flags, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strictdot: error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strictdot: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(serve(config, flags, env))
}

/// Reads the policy file the flags or the environment name, and merges every layer:
/// default < policy < environment < flag.
fn load_config(flags: &Layer, env: &Layer) -> Result<Config, ConfigError> {
    Sources::read(flags.clone(), env.clone())?.load()
}

async fn serve(config: Config, flags: Layer, env: Layer) -> ExitCode {
    for u in config.upstreams() {
        tracing::info!(upstream = %u.name, address = %u.spec.addr, auth = %u.mode, "upstream configured");
    }
    let server = Server::new(config.clone());
    // A non-root process given CAP_NET_BIND_SERVICE (file capability on the binary, or a
    // runtime that grants it) uses it for the binds below and gives it up right after.
    raise_bind_capability();
    let mut listeners = match Listeners::bind(config.listen()).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("strictdot: error: cannot bind {:?}: {e}", config.listen());
            return ExitCode::from(1);
        }
    };
    if let Some(addr) = config.metrics() {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => listeners.metrics = Some(l),
            Err(e) => {
                eprintln!("strictdot: error: cannot bind --metrics {addr}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if let Some(t) = config.listen_tls() {
        for addr in t.addrs() {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => listeners.tls.push(l),
                Err(e) => {
                    eprintln!("strictdot: error: cannot bind --listen-tls {addr}: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    }
    if let Err(e) = drop_privileges(config.user()) {
        eprintln!("strictdot: error: {e}");
        return ExitCode::from(1);
    }
    if let Err(e) = drop_capabilities() {
        eprintln!("strictdot: error: {e}");
        return ExitCode::from(1);
    }
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
            match load_config(&flags, &env) {
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

/// When running as root and a user is configured, switch to it (group first, and drop
/// supplementary groups) now that the privileged ports are bound.
fn drop_privileges(user: Option<(u32, Option<u32>)>) -> Result<(), String> {
    use nix::unistd::{getuid, setgid, setgroups, setuid, Gid, Uid};
    let Some((uid, gid)) = user else {
        return Ok(());
    };
    if !getuid().is_root() {
        if getuid().as_raw() != uid {
            tracing::warn!(
                uid,
                "--user given but not running as root; staying as we are"
            );
        }
        return Ok(());
    }
    let gid = Gid::from_raw(gid.unwrap_or(uid));
    setgroups(&[gid]).map_err(|e| format!("setgroups: {e}"))?;
    setgid(gid).map_err(|e| format!("setgid {gid}: {e}"))?;
    setuid(Uid::from_raw(uid)).map_err(|e| format!("setuid {uid}: {e}"))?;
    if setuid(Uid::from_raw(0)).is_ok() {
        return Err("privileges could be regained after dropping them".to_owned());
    }
    tracing::info!(uid, gid = gid.as_raw(), "dropped root privileges");
    Ok(())
}

/// Makes CAP_NET_BIND_SERVICE effective if it is permitted but not effective (the image
/// gives the binary that capability as permitted only, so an exec never fails for lack
/// of it; it is raised here, for the binds only). Best effort: without it, a bind to a
/// port below 1024 fails with a clear error.
#[cfg(target_os = "linux")]
fn raise_bind_capability() {
    use caps::{CapSet, Capability};
    let cap = Capability::CAP_NET_BIND_SERVICE;
    if caps::has_cap(None, CapSet::Permitted, cap).unwrap_or(false)
        && !caps::has_cap(None, CapSet::Effective, cap).unwrap_or(false)
    {
        if let Err(e) = caps::raise(None, CapSet::Effective, cap) {
            tracing::debug!(error = %e, "could not raise CAP_NET_BIND_SERVICE");
        }
    }
}

/// Once every socket is bound, a process that is not root keeps no capability at all:
/// effective, permitted, inheritable and ambient sets are emptied (for good: an empty
/// permitted set cannot be refilled). Root is left alone: it is either switching to
/// `--user` (which empties them) or was deliberately run as root.
#[cfg(target_os = "linux")]
fn drop_capabilities() -> Result<(), String> {
    use caps::CapSet;
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let held =
        caps::read(None, CapSet::Permitted).map_err(|e| format!("reading capabilities: {e}"))?;
    if held.is_empty() {
        return Ok(());
    }
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(|e| format!("dropping capabilities: {e}"))?;
    }
    let names: Vec<String> = held.iter().map(|c| c.to_string()).collect();
    tracing::info!(dropped = %names.join(","), "dropped capabilities after binding");
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn raise_bind_capability() {}

#[cfg(not(target_os = "linux"))]
fn drop_capabilities() -> Result<(), String> {
    Ok(())
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
