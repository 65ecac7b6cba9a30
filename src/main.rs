//! The strictdot binary: parse the command line, validate the configuration, bind, run,
//! and map failure to an exit code (2: bad configuration, 1: runtime failure).

use std::process::ExitCode;

use clap::Parser;
use strictdot::cli::{Cli, Command, LogFormat, LogLevel};
use strictdot::config::Config;
use strictdot::{shutdown, Listeners, Server};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        None => {}
    }
    let config = match Config::from_cli(&cli.proxy) {
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
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> ExitCode {
    for u in &config.upstreams {
        tracing::info!(upstream = %u.spec, auth = %u.mode, "upstream configured");
    }
    let server = match Server::new(config.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("strictdot: error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut listeners = match Listeners::bind(&config.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("strictdot: error: cannot bind {:?}: {e}", config.listen);
            return ExitCode::from(1);
        }
    };
    if let Some(addr) = config.metrics {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => listeners.metrics = Some(l),
            Err(e) => {
                eprintln!("strictdot: error: cannot bind --metrics {addr}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let token = CancellationToken::new();
    let stop = token.clone();
    tokio::spawn(async move {
        shutdown::signal().await;
        stop.cancel();
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
