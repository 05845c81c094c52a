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
        // Without a backend the arguments are not evaluated (a closure never called), so a
        // log line costs no flash: `kick.message.as_str()` alone was 176 bytes on Cortex-M0+.
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        let _ = || { $( let _ = & $x; )* };
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

/// Logs a value with `{}` in either backend: its `Debug` for `log`, its `defmt::Format` for
/// `defmt` (deliberately not `Debug2Format`, which would pull `core::fmt` into the firmware).
pub(crate) struct Dbg<'a, T: ?Sized>(pub(crate) &'a T);

impl<T: core::fmt::Debug + ?Sized> core::fmt::Display for Dbg<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.0, f)
    }
}

#[cfg(feature = "defmt")]
impl<T: defmt::Format + ?Sized> defmt::Format for Dbg<'_, T> {
    fn format(&self, f: defmt::Formatter<'_>) {
        self.0.format(f)
    }
}
