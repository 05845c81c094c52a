//! `tickwire-server`: parses flags, sets up logging, binds, runs.

use anyhow::Context;
use clap::Parser;
use tickwire_server::config::ServerConfig;
use tickwire_server::lan::lan_base_url;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// The tickwire authoritative game server.
///
/// Logging follows RUST_LOG (default: info), e.g. RUST_LOG=tickwire_server=debug.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    config: ServerConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let listener = TcpListener::bind(cli.config.bind)
        .await
        .with_context(|| format!("cannot listen on {} (--bind)", cli.config.bind))?;
    let addr = listener.local_addr()?;
    let shown = if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    };
    if let Some(root) = &cli.config.web_root
        && !root.join("index.html").is_file()
    {
        anyhow::bail!(
            "--web-root {}: no index.html there (point it at client-web/)",
            root.display()
        );
    }
    tracing::info!(%addr, tick_rate = cli.config.tick_rate, "tickwire listening");
    println!("tickwire-server listening on {addr}");
    println!("  play:           http://{shown}/");
    match lan_base_url(addr) {
        Some(url) => println!("  on your network: {url} (phones: scan the QR code in the lobby)"),
        None if addr.ip().is_loopback() => {
            println!(
                "  on your network: unreachable (bound to loopback; --bind 0.0.0.0:{} lets phones join)",
                addr.port()
            )
        }
        None => println!("  on your network: no LAN address found"),
    }
    println!("  dashboard:      http://{shown}/dashboard");
    println!("  game WebSocket: ws://{shown}/ws (subprotocol tickwire.v1)");
    println!("  rooms:          http://{shown}/rooms");
    println!("  metrics:        http://{shown}/metrics");
    if cli.config.echo {
        println!("  echo:           ws://{shown}/echo");
    }
    tickwire_server::run(listener, cli.config, shutdown_signal()).await;
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
