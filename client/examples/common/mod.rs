//! What the examples share: their logging and their command line.

/// Logs warnings and worse to stderr (`RUST_LOG` for more).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        // Colour for a terminal only: escape codes in a file or a pipe are noise.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// The positional arguments; `None` when `-h` or `--help` asked for `usage`, which is then
/// printed. Any other option is an error that names it.
pub fn positional(usage: &str) -> anyhow::Result<Option<Vec<String>>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{usage}");
        return Ok(None);
    }
    if let Some(option) = args.iter().find(|a| a.starts_with('-')) {
        anyhow::bail!("unknown option {option}\n{usage}");
    }
    Ok(Some(args))
}
