//! Logging shim: `trace!` .. `error!` go to `defmt` or `log` (the `defmt` / `log` features),
//! or nowhere. Format strings must suit both backends: only `{}` with integers, `&str` and
//! [`Dbg`]-wrapped values.
#![allow(unused_macros)]

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("features `defmt` and `log` are mutually exclusive: enable at most one");

macro_rules! log_with {
    ($level:ident, $s:literal $(, $x:expr)* $(,)?) => {{
        #[cfg(feature = "defmt")]
        ::defmt::$level!($s $(, $x)*);
        #[cfg(feature = "log")]
        ::log::$level!($s $(, $x)*);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        let _ = ($( & $x ),*);
    }};
}

macro_rules! trace {
    ($($t:tt)*) => { log_with!(trace, $($t)*) };
}

macro_rules! debug {
    ($($t:tt)*) => { log_with!(debug, $($t)*) };
}

macro_rules! info {
    ($($t:tt)*) => { log_with!(info, $($t)*) };
}

macro_rules! warn {
    ($($t:tt)*) => { log_with!(warn, $($t)*) };
}

macro_rules! error {
    ($($t:tt)*) => { log_with!(error, $($t)*) };
}

/// Logs any `Debug` value with `{}` in either backend (`Display` for `log`, `Format` for
/// `defmt`), so types from other crates need no `defmt::Format` of their own.
pub(crate) struct Dbg<'a, T: core::fmt::Debug>(pub(crate) &'a T);

impl<T: core::fmt::Debug> core::fmt::Display for Dbg<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.0, f)
    }
}

#[cfg(feature = "defmt")]
impl<T: core::fmt::Debug> defmt::Format for Dbg<'_, T> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", defmt::Debug2Format(self.0))
    }
}
