//! The `tickwire-server` command as a function, for the binary and for a game of your own:
//! the same flags (and `mint-token`), logging, checks that name the flag at fault, banner,
//! admin listener, network runtime and signals, around the rooms a [`GameFactory`] makes.
//!
//! ```no_run
//! use std::process::ExitCode;
//! use tickwire_server::game::arena::Arena;
//!
//! fn main() -> ExitCode {
//!     // The arena, with the flags' field and rounds: what `tickwire-server` itself runs.
//!     tickwire_server::command::main(|config| {
//!         let arena = config.arena();
//!         move |_room, seed| Arena::new(arena.clone(), seed)
//!     })
//! }
//! ```

use crate::auth::{JoinClaims, MintKey, mint, unix_now};
use crate::config::{Secret, ServerConfig};
use crate::game::GameFactory;
use crate::lan::lan_base_url;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::net::TcpListener;

/// Why the command stopped before it served: printed as `error: ...`, exit status 1.
#[derive(Debug)]
struct Stop(String);

/// anyhow's `context`, for this module's few fallible steps: the step's words, then the cause's.
trait Context<T> {
    fn context(self, what: impl Display) -> Result<T, Stop>;
    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T, Stop>;
}

impl<T, E: Display> Context<T> for Result<T, E> {
    fn context(self, what: impl Display) -> Result<T, Stop> {
        self.map_err(|e| Stop(format!("{what}: {e}")))
    }

    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T, Stop> {
        self.map_err(|e| Stop(format!("{}: {e}", what())))
    }
}

/// What `--help` says after the flags: the logging, which no flag sets.
const LOGGING_HELP: &str = "\
Logging: on stderr (stdout has only the addresses printed at start), at info unless RUST_LOG
says otherwise: comma-separated directives of a level (error, warn, info, debug, trace) for
everything or for a module, e.g. RUST_LOG=debug or RUST_LOG=info,tickwire_server=debug. A
directive that does not parse is ignored with a warning naming it. Refused connections are
logged each at debug, and at info at most once every 10 s. Colours only when stderr is a
terminal, and then not with NO_COLOR set. --log-format json writes one JSON object a line,
for a log collector: timestamp, level, target, message, the event's fields, and the spans it
happened in (a connection's peer, room and player); a panic too, with its message.

Signals: SIGINT or SIGTERM closes every client with 1001 (a node of a fleet drains first); a
second one exits at once, without waiting for the clients' answers.";

/// The tickwire authoritative game server.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true,
    after_help = LOGGING_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: ServerConfig,
    /// How log lines are written on stderr: text, for people (the default), or json, one
    /// object a line, for a log collector (see Logging below).
    #[arg(long, env = "TICKWIRE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One line of text an event, coloured on a terminal.
    Text,
    /// One JSON object an event.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes a join token (a JWT) for one player, as a game backend does, and prints it. A
    /// server started with the matching --join-secret, --join-secret-file or --join-public-key
    /// accepts it.
    MintToken(MintArgs),
}

#[derive(Debug, Args)]
struct MintArgs {
    /// HS256 secret: the server's --join-secret. Without this flag, --secret-file or
    /// --private-key, the secret in TICKWIRE_JOIN_SECRET (a node's own, so that mint-token run
    /// in a node's container signs with its key); given either of those flags, the variable is
    /// not read.
    #[arg(long, conflicts_with_all = ["private_key", "secret_file"])]
    secret: Option<Secret>,
    /// HS256 secret read from this file, trimmed: the server's --join-secret-file.
    #[arg(long, conflicts_with = "private_key")]
    secret_file: Option<PathBuf>,
    /// Ed25519 private key (PEM, PKCS#8) whose public key is the server's --join-public-key.
    #[arg(long)]
    private_key: Option<PathBuf>,
    /// The player's display name (1 to 24 bytes); it wins over the name in Hello.
    #[arg(long)]
    name: String,
    /// The only room the token joins.
    #[arg(long)]
    room: Option<String>,
    /// The only role the token joins as.
    #[arg(long, value_parser = ["player", "spectator", "controller"])]
    role: Option<String>,
    /// How long the token is valid: 90s, 10m, 2h, 30d; `exp` is now plus this. Servers accept
    /// a token for up to 30 s more (their leeway for clocks that disagree, SECURITY.md), so
    /// --ttl 90s is accepted for up to 120 s. A controller's build-time token wants days; a
    /// browser's should outlive a match and its reconnects, not much more.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    ttl: u64,
}

/// `90s`, `10m`, `2h`, `30d` (or bare seconds) as seconds, at most ten years.
pub(crate) fn parse_ttl(text: &str) -> Result<u64, String> {
    let (number, unit) = match text.trim().char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text.trim()[..at], c),
        _ => (text.trim(), 's'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(format!("`{text}`: use s, m, h or d (e.g. 10m)")),
    };
    let n: u64 =
        number.trim().parse().map_err(|_| format!("`{text}` is not a duration (e.g. 10m)"))?;
    let secs = n.checked_mul(scale).filter(|&s| s > 0 && s <= 3650 * 86_400);
    secs.ok_or_else(|| format!("`{text}` must be between 1 second and 10 years"))
}

/// The variable `mint-token --secret` falls back to, as `--join-secret` does.
const JOIN_SECRET_VAR: &str = "TICKWIRE_JOIN_SECRET";

fn mint_token(args: MintArgs) -> Result<(), Stop> {
    let secret = match (args.secret, &args.secret_file, &args.private_key) {
        (Some(secret), _, _) => Some(secret),
        (None, Some(path), _) => {
            Some(Secret(crate::auth::read_secret_file(path).context("cannot use --secret-file")?))
        }
        // Read by hand, not by clap: a variable clap read would count as `--secret` given,
        // and clash with the `--private-key` of whoever runs this in a node's container.
        // Blank counts as unset, as for the server.
        (None, None, None) => std::env::var(JOIN_SECRET_VAR)
            .ok()
            .filter(|secret| !secret.trim().is_empty())
            .map(Secret),
        (None, None, Some(_)) => None,
    };
    let key = match (secret, &args.private_key) {
        (Some(secret), _) => {
            if crate::auth::is_weak_secret(&secret.0) {
                eprintln!(
                    "warning: the secret is shorter than {} bytes: anyone who sees a token can \
                     guess it offline; use 32 random bytes or more (openssl rand -base64 32)",
                    crate::auth::MIN_SECRET_BYTES
                );
            }
            MintKey::Secret(secret.0)
        }
        (None, Some(path)) => MintKey::Ed25519Pem(
            std::fs::read(path)
                .with_context(|| format!("cannot read --private-key {}", path.display()))?,
        ),
        (None, None) => {
            return Err(Stop(format!(
                "give --secret (or {JOIN_SECRET_VAR}), --secret-file or --private-key"
            )));
        }
    };
    let claims = JoinClaims {
        sub: args.name,
        exp: unix_now() + args.ttl,
        nbf: None,
        room: args.room,
        role: args.role,
    };
    let token = mint(&claims, &key)
        .context("cannot sign the token (--private-key must be an Ed25519 PKCS#8 PEM)")?;
    println!("{token}");
    Ok(())
}

/// Runs the `tickwire-server` command (its flags from the process's arguments) with rooms of
/// the game `games` makes, until SIGINT or SIGTERM: what the binary's `main` is.
///
/// `games` is called once, with the parsed flags, after logging is set up (a global
/// `tracing` subscriber the program installed before is kept instead); it may adjust the
/// flags, for a game that needs it (one whose players must see the whole field sets
/// `view_radius` to 0). Usage, errors and `--version` name the binary as it was run.
///
/// Returns 1 for a start that failed (`error: ...` naming the flag at fault, a setting the
/// game changed out of its range included) and 0 after a clean shutdown. Flags that do not
/// parse exit at once with 2 and clap's message, as `--help` and `--version` exit with 0, and a
/// second SIGINT or SIGTERM during the shutdown exits with 130 or 143.
pub fn main<F: GameFactory>(games: impl FnOnce(&mut ServerConfig) -> F) -> ExitCode {
    main_with_flags(|config, NoGameFlags {}| games(config))
}

/// [`main`] for a game with flags of its own: `A`'s (a `clap::Args` struct) are parsed with
/// the server's, each with its default and `env` as it declares them, listed by `--help` under
/// "Game options", and handed to `games` with the server's flags. Their names must not be the
/// server's own (clap refuses a command that repeats one).
///
/// ```no_run
/// use std::process::ExitCode;
/// use tickwire_server::game::arena::{Arena, ArenaConfig};
///
/// /// King of the hill's own settings.
/// #[derive(clap::Args)]
/// struct HillFlags {
///     /// Seconds the hill stays in one place.
///     #[arg(long, env = "HILL_MOVE_SECS", default_value_t = 20)]
///     hill_move_secs: u32,
/// }
///
/// fn main() -> ExitCode {
///     tickwire_server::command::main_with_flags(|config, flags: HillFlags| {
///         let arena = config.arena();
///         let _move_secs = flags.hill_move_secs; // what the game's own rule would take
///         move |_room, seed| Arena::new(arena.clone(), seed)
///     })
/// }
/// ```
pub fn main_with_flags<A: Args + FromArgMatches, F: GameFactory>(
    games: impl FnOnce(&mut ServerConfig, A) -> F,
) -> ExitCode {
    let name = std::env::args_os()
        .next()
        .and_then(|arg| PathBuf::from(arg).file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "tickwire-server".into());
    // The protocol too: what decides which clients play on it (PROTOCOL.md).
    let release =
        format!("{}, protocol {}", env!("CARGO_PKG_VERSION"), tickwire_shared::PROTOCOL_VERSION);
    let version = match name.as_str() {
        "tickwire-server" => release,
        _ => format!("(tickwire-server {release})"),
    };
    // clap keeps a command's name and version as `'static` strings (without its `string`
    // feature): made once per process, and needed for as long as it runs anyway.
    let name: &'static str = Box::leak(name.into_boxed_str());
    let version: &'static str = Box::leak(version.into_boxed_str());
    let command = command_with::<A>().name(name).bin_name(name).version(version);
    let matches = match command.clone().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => {
            // Under systemd or Kubernetes only variables are set: say which one was wrong.
            let argv: Vec<_> = std::env::args_os().collect();
            if let Some(variable) = variable_behind(&e, &command, &argv, |v| std::env::var_os(v)) {
                let rendered = e.render().to_string();
                let (first, rest) = rendered.split_once('\n').unwrap_or((&rendered, ""));
                eprint!("{first}\n  (the value came from {variable})\n{rest}");
                return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
            }
            e.exit()
        }
    };
    let unread = unread_variables(&command, std::env::vars_os().map(|(name, _)| name));
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let outcome = match cli.command.take() {
        Some(Command::MintToken(args)) => mint_token(args),
        None => match A::from_arg_matches(&matches) {
            Ok(flags) => start(cli, |config| games(config, flags), name, &unread),
            Err(e) => e.exit(),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop(why)) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The server's command with a game's flags (`A`) after its own, under a heading of theirs.
fn command_with<A: Args>() -> clap::Command {
    A::augment_args(Cli::command().next_help_heading("Game options"))
}

// The flags of a game that has none of its own (`main`). Not a doc comment: clap would
// print it in `--help`.
#[derive(Debug, Args)]
struct NoGameFlags {}

/// The `TICKWIRE_*` variables of `names` that no flag of `command` reads, each with the
/// variable it is nearest to when one is near: a misspelt `TICKWIRE_JOIN_SECRET_FIEL` would
/// otherwise start a server that checks no join token, without a word. Only warned about,
/// never refused: a rollback to a release that lacks a newer variable the deployment sets
/// must still start.
fn unread_variables(
    command: &clap::Command,
    names: impl Iterator<Item = std::ffi::OsString>,
) -> Vec<(String, Option<String>)> {
    let mut known: Vec<String> = vec![JOIN_SECRET_VAR.to_string()];
    let mut commands = vec![command];
    while let Some(command) = commands.pop() {
        commands.extend(command.get_subcommands());
        known.extend(
            command.get_arguments().filter_map(|a| a.get_env()?.to_str().map(str::to_string)),
        );
    }
    let mut unread: Vec<(String, Option<String>)> = names
        .filter_map(|name| name.into_string().ok())
        .filter(|name| {
            name.starts_with("TICKWIRE_") && !known.contains(name) && !is_service_link(name)
        })
        .map(|name| {
            let nearest = known
                .iter()
                .map(|k| (strsim::levenshtein(k, &name), k))
                .filter(|(distance, _)| *distance <= 3)
                .min()
                .map(|(_, k)| k.clone());
            (name, nearest)
        })
        .collect();
    unread.sort();
    unread
}

/// Whether `name` is one of the variables Kubernetes gives a pod for each Service (a Service
/// named `tickwire` makes `TICKWIRE_SERVICE_HOST`, `TICKWIRE_PORT_80_TCP_ADDR` ...): no one's
/// misspelt flag.
fn is_service_link(name: &str) -> bool {
    if name.ends_with("_SERVICE_HOST") || name.ends_with("_PORT") {
        return true;
    }
    if let Some((_, rest)) = name.rsplit_once("_SERVICE_PORT") {
        return rest.is_empty() || rest.starts_with('_');
    }
    // `<SERVICE>_PORT_<port>_<protocol>`, and its `_PROTO`, `_PORT` and `_ADDR`.
    let parts: Vec<&str> = name.split('_').collect();
    parts.windows(3).any(|w| {
        w[0] == "PORT"
            && !w[1].is_empty()
            && w[1].bytes().all(|b| b.is_ascii_digit())
            && matches!(w[2], "TCP" | "UDP" | "SCTP")
    })
}

/// The environment variable a refused value came from: the refused flag's variable, when it is
/// set and the flag is not on the command line (clap's message names only the flag).
fn variable_behind(
    error: &clap::Error,
    command: &clap::Command,
    argv: &[std::ffi::OsString],
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(error.kind(), ErrorKind::ValueValidation | ErrorKind::InvalidValue) {
        return None;
    }
    let Some(ContextValue::String(refused)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = refused.strip_prefix("--")?.split([' ', '=']).next()?;
    let arg = command.get_arguments().find(|a| a.get_long() == Some(long))?;
    let variable = arg.get_env()?.to_str()?;
    let on_command_line = argv.iter().filter_map(|a| a.to_str()).any(|a| {
        a.strip_prefix("--")
            .and_then(|a| a.strip_prefix(long))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
    });
    (env(variable).is_some() && !on_command_line).then(|| variable.to_string())
}

/// Logging, the game, the open-files limit and the network runtime, then [`serve`] on it.
fn start<F: GameFactory>(
    mut cli: Cli,
    games: impl FnOnce(&mut ServerConfig) -> F,
    name: &str,
    unread: &[(String, Option<String>)],
) -> Result<(), Stop> {
    // Logs on stderr; stdout carries only the addresses printed below, for people and scripts.
    // Before the subscriber: a warning about RUST_LOG itself must not depend on RUST_LOG.
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, ignored) = crate::logging::filter(rust_log.as_deref());
    let no_color = std::env::var_os("NO_COLOR");
    let colour = crate::logging::colour(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        no_color.as_deref(),
    );
    // Fails only where the program installed a subscriber of its own: that one logs.
    match cli.log_format {
        LogFormat::Text => {
            for (directive, why) in &ignored {
                eprintln!("warning: RUST_LOG: ignoring `{directive}`: {why}");
            }
            let _ = tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_ansi(colour)
                .with_env_filter(filter)
                .try_init();
        }
        LogFormat::Json => {
            let _ = tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(true)
                .with_writer(std::io::stderr)
                .with_env_filter(filter)
                .try_init();
            crate::logging::log_panics_as_events();
            // Every line a collector reads is JSON, this one too; at error, so that the
            // filter it is about cannot hide it.
            for (directive, why) in &ignored {
                tracing::error!(
                    directive,
                    why,
                    "RUST_LOG: ignoring a directive that does not parse"
                );
            }
        }
    }
    // Read with the flags, before logging started: logged now, in the log's format.
    if let Some(warning) = cli.config.admin_tokens.as_ref().and_then(|t| t.warning()) {
        tracing::warn!("{warning}");
    }
    for (variable, nearest) in unread {
        match nearest {
            Some(nearest) => tracing::warn!(
                variable,
                "no flag reads this environment variable: it is ignored (did you mean {nearest}?)"
            ),
            None => tracing::warn!(
                variable,
                "no flag reads this environment variable: it is ignored (--help lists each \
                 flag's variable)"
            ),
        }
    }
    let games = crate::game::Games::new(games(&mut cli.config));
    // The flags were checked as they were parsed; what the game changed in them was not.
    cli.config.check().map_err(|e| Stop(format!("the game's settings: {e}")))?;
    // Before any socket opens: every client takes a descriptor.
    match crate::threads::raise_open_files_limit() {
        Ok(Some(open_files)) => {
            let wanted = u64::from(cli.config.max_connections) * 2;
            if open_files < wanted {
                tracing::warn!(
                    open_files,
                    max_connections = cli.config.max_connections,
                    "the open-files limit (ulimit -n) is below twice --max-connections: \
                     accepting will fail before the server is full; raise the hard limit \
                     (LimitNOFILE=, docker --ulimit nofile=) or lower --max-connections"
                );
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit (ulimit -n)"),
    }
    let runtime = crate::threads::network_runtime(cli.config.room_priority)
        .context("cannot start the network runtime")?;
    // Polled here, on the main thread, which keeps the process's priority: the room threads
    // that `run` starts inherit it, and only the runtime's workers step down (--room-priority).
    runtime.block_on(serve(cli, games, name))
}

/// Checks the flags that need more than parsing, binds, prints the banner, and serves until
/// the first SIGINT or SIGTERM.
async fn serve(cli: Cli, games: crate::game::Games, name: &str) -> Result<(), Stop> {
    // SIGHUP's default action ends the process. A fleet's `systemctl reload` may reach a node
    // still starting (waiting for its node id to lapse, up to a TTL): from here on it is
    // answered in the log until `run` listens for it as a reload. Tokio keeps a handler once
    // installed, for the process's life, so the stream may go after.
    #[cfg(unix)]
    let hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hangups) => Some(hangups),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: one would end the server");
            None
        }
    };
    // From here on, as the start may wait for the node id: SIGINT and SIGTERM stop it, logged.
    let mut signals = Signals::install().context("cannot listen for signals")?;
    // A client that only answers pings is pinged after a heartbeat interval of silence, so
    // the idle timeout must leave it that long to answer.
    if cli.config.heartbeat_interval >= cli.config.idle_timeout {
        return Err(Stop(format!(
            "--heartbeat-interval ({:?}) must be shorter than --idle-timeout ({:?}): a client \
             that only answers pings would be closed for its silence before it is pinged",
            cli.config.heartbeat_interval, cli.config.idle_timeout,
        )));
    }
    if let Some(clash) =
        cli.config.admin_tokens.as_ref().and_then(|t| t.clash_with(cli.config.moderation_token()))
    {
        return Err(Stop(clash));
    }
    // Checked here so that a bad file stops the binary with a message naming the flag.
    cli.config.join_verifier().context(
        "cannot check join tokens with the join keys given (--join-secret, \
             --join-secret-file, --join-public-key, or their --join-previous-... flags)",
    )?;
    if let (Some(cert), Some(key)) = (&cli.config.tls_cert, &cli.config.tls_key) {
        crate::tls::Certificates::load(cert, key)
            .context("cannot serve TLS with --tls-cert and --tls-key")?;
    }
    if cli.config.io_uring {
        crate::uring::check()
            .context("--io-uring: this kernel does not let the server set up an io_uring")?;
    }
    if let Some(url) = &cli.config.redis_url {
        crate::cluster::directory::check_url(url)
            .context("cannot use the room directory at --redis-url")?;
        cli.config.check_node_ttl().map_err(Stop)?;
        // A second live server with this node id would write over the first's rooms and seats.
        // Before binding: while it waits out a previous run's registration (up to a TTL), a
        // connection is refused at once, and a balancer or a relaying node turns elsewhere,
        // rather than hanging in the backlog of a port nobody serves yet.
        let check = crate::cluster::check_node_id(&cli.config);
        #[cfg(unix)]
        wait_answering_signals(check, &mut signals, hangups).await?;
        #[cfg(not(unix))]
        tokio::select! {
            checked = check => checked.map_err(Stop)?,
            (signal, status) = signals.next() => stopped_while_starting(signal, status),
        }
    }
    let (ws, http) = if cli.config.tls_cert.is_some() { ("wss", "https") } else { ("ws", "http") };
    let listener = TcpListener::bind(cli.config.bind)
        .await
        .with_context(|| format!("cannot listen on {} (--bind)", cli.config.bind))?;
    let addr = listener.local_addr().context("cannot read the listening address (--bind)")?;
    let admin = match cli.config.admin_bind {
        Some(bind) => Some(
            TcpListener::bind(bind)
                .await
                .with_context(|| format!("cannot listen on {bind} (--admin-bind)"))?,
        ),
        None => None,
    };
    let reachable = |addr: std::net::SocketAddr| {
        if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        }
    };
    let shown = reachable(addr);
    if let Some(root) = &cli.config.web_root
        && !root.join("index.html").is_file()
    {
        return Err(Stop(format!(
            "--web-root {}: no index.html there (point it at client-web/)",
            root.display()
        )));
    }
    tracing::info!(
        %addr,
        tick_rate = cli.config.tick_rate,
        room_threads = cli.config.room_threads,
        room_priority = cli.config.room_priority,
        "tickwire listening"
    );
    // Written, not `println!`: a server whose stdout was closed (a pipe that went away) must
    // go on serving, not panic.
    let mut banner = format!("{name} listening on {addr}\n");
    match &cli.config.public_url {
        // Where players are sent (invites, the admin dashboard's links); this machine's own
        // address is then only the local one.
        Some(public) => banner.push_str(&format!(
            "  play:           {public}/ (--public-url)\n  local:          {http}://{shown}/\n"
        )),
        None => banner.push_str(&format!("  play:           {http}://{shown}/\n")),
    }
    match lan_base_url(addr) {
        Some(url) => banner.push_str(&format!(
            "  on your network: {} (phones: scan the QR code in the lobby)\n",
            url.replacen("http", http, 1)
        )),
        None if addr.ip().is_loopback() => banner.push_str(&format!(
            "  on your network: unreachable (bound to loopback; --bind 0.0.0.0:{} lets phones join)\n",
            addr.port()
        )),
        None => banner.push_str("  on your network: no LAN address found\n"),
    }
    banner.push_str(&format!(
        "  dashboard:      {http}://{shown}/dashboard\n  game WebSocket: {ws}://{shown}/ws (subprotocol tickwire.v1)\n  rooms:          {http}://{shown}/rooms\n"
    ));
    let operators = match &admin {
        Some(admin) => {
            let admin = reachable(
                admin.local_addr().context("cannot read the listening address (--admin-bind)")?,
            );
            banner.push_str(&format!(
                "  metrics:        http://{admin}/metrics (admin listener, --admin-bind: also /livez, /healthz, /stats, /dashboard)\n"
            ));
            format!("http://{admin}")
        }
        None => {
            banner.push_str(&format!("  metrics:        {http}://{shown}/metrics\n"));
            format!("{http}://{shown}")
        }
    };
    if cli.config.moderation_on() {
        banner.push_str(&format!(
            "  moderation:     {operators}/dashboard (its Moderation panel), for {}\n                  and {operators}/bans, /rooms/ROOM/seats, /moderation/log (Authorization: Bearer <token>)\n",
            cli.config.operators().map(|(name, _)| name).collect::<Vec<_>>().join(", ")
        ));
    }
    if cli.config.echo {
        banner.push_str(&format!("  echo:           {ws}://{shown}/echo\n"));
    }
    if cli.config.redis_url.is_some() {
        banner.push_str(&format!(
            "  fleet:          {http}://{shown}/nodes (a node of a fleet: rooms in Redis, --redis-url)\n"
        ));
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout(), banner.as_bytes());
    let shutdown = shutdown_signal(signals);
    let mut server = crate::Server::new(cli.config).with_games(games);
    if let Some(admin) = admin {
        server = server.admin(admin);
    }
    server.run(listener, shutdown).await;
    Ok(())
}

/// SIGINT and SIGTERM, listened for from start to exit: once the handlers are installed the
/// default action (ending the process) is gone, so a second signal would do nothing unless it
/// is listened for too.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next SIGINT or SIGTERM: its name, and the exit status a process it killed would
    /// have (128 plus its number).
    async fn next(&mut self) -> (&'static str, i32) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => ("SIGINT", 130),
                _ = self.terminate.recv() => ("SIGTERM", 143),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            ("Ctrl-C", 130)
        }
    }
}

/// Waits for `check` (the node id's, which may take up to a TTL), answering signals meanwhile:
/// a SIGHUP in the log (nothing is loaded yet to reload), a SIGINT or SIGTERM by stopping the
/// start with the status the signal's default action would have given.
#[cfg(unix)]
async fn wait_answering_signals(
    check: impl std::future::Future<Output = Result<(), String>>,
    signals: &mut Signals,
    mut hangups: Option<tokio::signal::unix::Signal>,
) -> Result<(), Stop> {
    tokio::pin!(check);
    loop {
        let hangup = async {
            match hangups.as_mut() {
                Some(hangups) => hangups.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            checked = &mut check => return checked.map_err(Stop),
            (signal, status) = signals.next() => stopped_while_starting(signal, status),
            Some(()) = hangup => tracing::info!(
                "SIGHUP while this node waits for its id to lapse: nothing to reload yet (the \
                 files are read as the server starts)"
            ),
        }
    }
}

/// A SIGINT or SIGTERM before the server serves: logged, and the process exits with `status`.
fn stopped_while_starting(signal: &str, status: i32) -> ! {
    tracing::info!(signal, status, "stopped while this node waited for its id to lapse");
    std::process::exit(status)
}

/// Resolves at the first SIGINT or SIGTERM; a second one, while the server closes its clients
/// (up to --shutdown-timeout, after a fleet node's --drain-timeout), exits at once with that
/// signal's status, as an operator who sends it again means.
async fn shutdown_signal(mut signals: Signals) {
    let (first, _) = signals.next().await;
    tracing::info!(signal = first, "shutting down; a second signal exits at once");
    tokio::spawn(async move {
        let (second, status) = signals.next().await;
        tracing::warn!(
            signal = second,
            status,
            "second signal: exiting now, without waiting for the clients' closes"
        );
        std::process::exit(status);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    /// A game's own flags, as `main_with_flags` takes them.
    #[derive(Debug, Args)]
    struct TagFlags {
        /// How fast the tagger flies.
        #[arg(long, default_value_t = 3)]
        tag_speed: u32,
    }

    #[test]
    fn a_game_s_own_flags_are_parsed_beside_the_server_s_and_listed_apart() {
        let command = command_with::<TagFlags>();
        let matches = command
            .clone()
            .try_get_matches_from(["tag", "--tag-speed", "5", "--tick-rate", "20"])
            .expect("both taken");
        assert_eq!(TagFlags::from_arg_matches(&matches).unwrap().tag_speed, 5);
        assert_eq!(Cli::from_arg_matches(&matches).unwrap().config.tick_rate, 20);
        let defaults = command.clone().try_get_matches_from(["tag"]).unwrap();
        assert_eq!(TagFlags::from_arg_matches(&defaults).unwrap().tag_speed, 3);
        let refused = command.clone().try_get_matches_from(["tag", "--tag-speed", "fast"]);
        assert!(refused.unwrap_err().to_string().contains("--tag-speed"));
        let help = command.clone().render_long_help().to_string();
        let heading = help.find("Game options:").expect("a heading of their own");
        assert!(help[heading..].contains("--tag-speed"), "{help}");
        assert!(!help[heading..].contains("--tick-rate"), "the server's before it: {help}");
        // Without flags of its own, the command is the server's.
        let plain = command_with::<NoGameFlags>().render_long_help().to_string();
        assert!(!plain.contains("Game options"), "{plain}");
    }

    #[test]
    fn variables_no_flag_reads_are_named_with_the_nearest_one() {
        let command = command_with::<NoGameFlags>();
        let set = [
            "TICKWIRE_JOIN_SECRET_FIEL",
            "TICKWIRE_TICK_RATE",
            "TICKWIRE_JOIN_SECRET",
            "TICKWIRE_SOMETHING_ELSE",
            "HOME",
        ];
        let unread = unread_variables(&command, set.iter().map(OsString::from));
        assert_eq!(
            unread,
            [
                (
                    "TICKWIRE_JOIN_SECRET_FIEL".to_string(),
                    Some("TICKWIRE_JOIN_SECRET_FILE".to_string())
                ),
                ("TICKWIRE_SOMETHING_ELSE".to_string(), None),
            ]
        );
        // The variables Kubernetes makes of the Services `tickwire` and `tickwire-redis`.
        let links = [
            "TICKWIRE_SERVICE_HOST",
            "TICKWIRE_SERVICE_PORT",
            "TICKWIRE_SERVICE_PORT_HTTP",
            "TICKWIRE_PORT",
            "TICKWIRE_PORT_80_TCP",
            "TICKWIRE_PORT_80_TCP_PROTO",
            "TICKWIRE_PORT_80_TCP_PORT",
            "TICKWIRE_PORT_80_TCP_ADDR",
            "TICKWIRE_REDIS_SERVICE_HOST",
            "TICKWIRE_REDIS_PORT_6379_TCP_ADDR",
        ];
        assert!(unread_variables(&command, links.iter().map(OsString::from)).is_empty());
        // mint-token's variables are read too.
        let mint: Vec<String> = Cli::command()
            .find_subcommand("mint-token")
            .unwrap()
            .get_arguments()
            .filter_map(|a| a.get_env()?.to_str().map(str::to_string))
            .collect();
        let unread = unread_variables(&command, mint.iter().map(OsString::from));
        assert!(unread.is_empty(), "{unread:?}");
    }

    #[test]
    fn a_refused_value_from_the_environment_names_its_variable() {
        let command = Cli::command();
        let error = command
            .clone()
            .try_get_matches_from(["tickwire-server", "--tick-rate", "bogus"])
            .expect_err("refused");
        let set = |v: &str| (v == "TICKWIRE_TICK_RATE").then(|| OsString::from("bogus"));
        let unset = |_: &str| None;
        let bare = [OsString::from("tickwire-server")];
        assert_eq!(
            variable_behind(&error, &command, &bare, set).as_deref(),
            Some("TICKWIRE_TICK_RATE"),
            "only the variable could have set it"
        );
        let flagged = ["tickwire-server", "--tick-rate", "bogus"].map(OsString::from);
        assert_eq!(variable_behind(&error, &command, &flagged, set), None, "the flag's own value");
        let joined = ["tickwire-server", "--tick-rate=bogus"].map(OsString::from);
        assert_eq!(variable_behind(&error, &command, &joined, set), None);
        assert_eq!(variable_behind(&error, &command, &bare, unset), None);
    }
}
