//! The strictdot binary: parse the command line (and policy file), validate the
//! configuration, bind, drop privileges while still one thread, start the runtime, run,
//! reload on SIGHUP, and map failure to an exit code (2: bad configuration, 1: runtime
//! failure).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use strictdot::bind::{Addresses, Bound};
use strictdot::cli::{Cli, Command, LogFormat, LogLevel, ProxyArgs};
use strictdot::config::{Config, ConfigError};
use strictdot::{privileges, shutdown, Server};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    init_logging(cli.proxy.log_level, cli.proxy.log_format);
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
            let mut proxy = cli.proxy.clone();
            proxy.policy = Some(args.policy.clone());
            return match load_config(&proxy, &|_| false) {
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
    let explicit = move |id: &str| explicit_in(&matches, id);
    let config = match load_config(&cli.proxy, &explicit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strictdot: error: {e}");
            return ExitCode::from(2);
        }
    };
    // Bind first, then give up privileges while this is the only thread (capability sets
    // are per thread), and only then start the runtime's workers.
    privileges::raise_bind_capability();
    let tls_addrs = config
        .listen_tls
        .as_ref()
        .map(|t| t.addrs.clone())
        .unwrap_or_default();
    let bound = match Bound::bind(Addresses {
        dns: &config.listen,
        tls: &tls_addrs,
        metrics: config.metrics,
        udp_sockets: std::thread::available_parallelism().map_or(1, |n| n.get()),
    }) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("strictdot: error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = privileges::drop_privileges(config.user) {
        eprintln!("strictdot: error: {e}");
        return ExitCode::from(1);
    }
    if let Err(e) = privileges::drop_capabilities() {
        eprintln!("strictdot: error: {e}");
        return ExitCode::from(1);
    }
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
    runtime.block_on(serve(config, bound, cli.proxy, Box::new(explicit)))
}

/// only the rest).
fn explicit_in(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

fn load_config(args: &ProxyArgs, explicit: &dyn Fn(&str) -> bool) -> Result<Config, ConfigError> {
    let policy = match &args.policy {
        Some(path) => Some(strictdot::policy::load(path)?),
        None => None,
    };
    Config::from_args(args, policy.as_ref(), explicit)
}

async fn serve(
    config: Config,
    bound: Bound,
    args: ProxyArgs,
    explicit: Box<dyn Fn(&str) -> bool + Send + Sync>,
) -> ExitCode {
    for u in &config.upstreams {
        tracing::info!(upstream = %u.name, address = %u.spec.addr, auth = %u.mode, "upstream configured");
    }
    let server = match Server::new(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("strictdot: error: {e}");
            return ExitCode::from(2);
        }
    };
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
    // SIGHUP: read the policy again; a bad one is refused and the old one stays.
    let reloader = server.reloader();
    tokio::spawn(async move {
        let mut hups = shutdown::hangups();
        while hups.recv().await.is_some() {
            match load_config(&args, &*explicit) {
                Ok(next) => {
                    if let Err(e) = reloader.reload(&next) {
                        tracing::error!(error = %e, "reload refused; the old configuration stays");
                    }
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
