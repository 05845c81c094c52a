//! How the server logs: the filter `RUST_LOG` asks for, whether to colour, and how text a
//! remote peer chose is shown in a line.

use std::ffi::OsStr;
use std::fmt::{self, Write};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{Directive, LevelFilter};

/// What the filter is without a valid `RUST_LOG`: info, but rustls only at error. rustls warns
/// on every handshake that sends a malformed or numeric server name (SNI), naming it: any
/// client could write a line a handshake, of its own text, past the refusal log's limit.
const DEFAULT_FILTER: &str = "info,rustls=error";

/// The filter for `RUST_LOG` (`None` or empty: info, rustls at error), and the directives it
/// ignored because they do not parse, each with why. A typo in one directive costs only that
/// one: the rest still apply, and the binary warns naming it (without a valid one, the
/// default).
pub fn filter(rust_log: Option<&str>) -> (EnvFilter, Vec<(String, String)>) {
    let mut valid = Vec::new();
    let mut ignored = Vec::new();
    // Split as tracing-subscriber splits them.
    for text in rust_log.unwrap_or("").split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match text.parse::<Directive>() {
            Ok(_) => valid.push(text),
            Err(e) => ignored.push((text.to_string(), e.to_string())),
        }
    }
    let filter = if valid.is_empty() {
        EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .parse_lossy(DEFAULT_FILTER)
    } else {
        // Every one parsed already: nothing is printed or lost here.
        EnvFilter::builder().parse_lossy(valid.join(","))
    };
    (filter, ignored)
}

/// Whether log lines get ANSI colours: only on a terminal (a file, a pipe or journald would
/// keep the escape codes as text), and not when `NO_COLOR` is set to anything but empty
/// (<https://no-color.org>).
pub fn colour(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// Logs every panic as an error event, with its message, where it happened and the thread's
/// name, instead of the standard library's plain lines on stderr: with `--log-format json`,
/// a panic in a game (which closes its room, and nothing else) would otherwise be the one
/// line a log collector cannot read, and the room's "crashed" event would not say why.
pub fn log_panics_as_events() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        tracing::error!(
            panic = %panic_text(info.payload()),
            location = info.location().map(tracing::field::display),
            thread = thread.name().unwrap_or("unnamed"),
            "a thread panicked"
        );
    }));
}

/// What a panic said: its message when it is text (`panic!` with or without arguments), or
/// that it was not.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "a panic whose payload is not text"
    }
}

/// Characters of [`Untrusted`] text a line shows; the rest is cut, marked with `…`.
pub const UNTRUSTED_SHOWN: usize = 256;

/// Text a remote peer chose (a join token's contents echoed by its parser, an Origin, a
/// name), as a log line shows it: control characters (a newline that would start a forged
/// line, a terminal's escape sequences) and bidirectional overrides (which reorder what a
/// terminal shows) escaped as Rust writes them (`\n`, `\u{1b}`), and at most
/// [`UNTRUSTED_SHOWN`] characters. The JSON log escapes control characters itself; the text
/// log does not.
pub struct Untrusted<T>(pub T);

impl<T: fmt::Display> fmt::Display for Untrusted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        for (shown, c) in text.chars().enumerate() {
            if shown == UNTRUSTED_SHOWN {
                return f.write_char('…');
            }
            if c.is_control() || is_bidi_control(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// The characters that embed, override or isolate a direction (Unicode's `Bidi_Control`
/// less the marks, which reorder nothing around them).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panics_message_is_told_whichever_way_it_was_written() {
        let literal = std::panic::catch_unwind(|| panic!("the game broke")).unwrap_err();
        assert_eq!(panic_text(literal.as_ref()), "the game broke");
        let tick = 30;
        let formatted = std::panic::catch_unwind(|| panic!("broke at tick {tick}")).unwrap_err();
        assert_eq!(panic_text(formatted.as_ref()), "broke at tick 30");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(panic_text(other.as_ref()), "a panic whose payload is not text");
    }

    #[test]
    fn untrusted_text_starts_no_line_and_sends_no_escape_to_a_terminal() {
        let forged = "X\n2026-12-07T05:50:00Z ERROR tickwire_server: FORGED\u{1b}[2J\u{202e}lave";
        let shown = Untrusted(forged).to_string();
        assert!(!shown.chars().any(|c| c.is_control() || is_bidi_control(c)), "{shown}");
        assert_eq!(
            shown,
            "X\\n2026-12-07T05:50:00Z ERROR tickwire_server: FORGED\\u{1b}[2J\\u{202e}lave"
        );
        assert_eq!(Untrusted("ada ünd 東京").to_string(), "ada ünd 東京", "the rest as it is");
        let long = "a".repeat(UNTRUSTED_SHOWN + 1);
        let cut = Untrusted(&long).to_string();
        assert_eq!(cut.chars().count(), UNTRUSTED_SHOWN + 1);
        assert!(cut.ends_with("a…"), "{cut}");
        assert_eq!(Untrusted(&long[1..]).to_string(), long[1..], "not cut at the limit");
    }

    #[test]
    fn a_directive_that_does_not_parse_is_named_and_the_others_kept() {
        let (kept, ignored) = filter_of("nonsense=[,tickwire_server=debug");
        assert_eq!(ignored.len(), 1, "{ignored:?}");
        assert_eq!(ignored[0].0, "nonsense=[");
        assert_eq!(kept, "tickwire_server=debug");
        let (kept, ignored) = filter_of("nonsense=[");
        assert_eq!(ignored.len(), 1);
        assert_eq!(kept, "rustls=error,info", "nothing valid: the default");
        for unset in [None, Some(""), Some(" , ")] {
            let (kept, ignored) = filter(unset);
            assert!(ignored.is_empty());
            assert_eq!(kept.to_string(), "rustls=error,info", "{unset:?}");
        }
        let (kept, ignored) = filter_of("warn,tickwire_server::room=trace");
        assert!(ignored.is_empty());
        assert_eq!(kept, "tickwire_server::room=trace,warn");
    }

    fn filter_of(text: &str) -> (String, Vec<(String, String)>) {
        let (filter, ignored) = filter(Some(text));
        (filter.to_string(), ignored)
    }

    #[test]
    fn colour_only_on_a_terminal_and_not_with_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))), "an empty NO_COLOR is unset");
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None), "a file or a pipe gets no escape codes");
    }
}
