//! How the binary logs: the filter `RUST_LOG` asks for, and whether to colour.

use std::ffi::OsStr;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{Directive, LevelFilter};

/// The filter for `RUST_LOG` (`None` or empty: info), and the directives it ignored because
/// they do not parse, each with why. A typo in one directive costs only that one: the rest
/// still apply, and the binary warns naming it (without a valid one, info).
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
        EnvFilter::builder().with_default_directive(LevelFilter::INFO.into()).parse_lossy("")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directive_that_does_not_parse_is_named_and_the_others_kept() {
        let (kept, ignored) = filter_of("nonsense=[,tickwire_server=debug");
        assert_eq!(ignored.len(), 1, "{ignored:?}");
        assert_eq!(ignored[0].0, "nonsense=[");
        assert_eq!(kept, "tickwire_server=debug");
        let (kept, ignored) = filter_of("nonsense=[");
        assert_eq!(ignored.len(), 1);
        assert_eq!(kept, "info", "nothing valid: info");
        for unset in [None, Some(""), Some(" , ")] {
            let (kept, ignored) = filter(unset);
            assert!(ignored.is_empty());
            assert_eq!(kept.to_string(), "info", "{unset:?}");
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
