//! Tests' view of the log: what a test on this thread logged, counted by level.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tracing_subscriber::layer::SubscriberExt;

/// Counts the warnings logged on this thread.
pub(crate) struct Warnings(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Counts this thread's warnings from now until the guard drops: the count, and the guard.
pub(crate) fn count_warnings() -> (Arc<AtomicUsize>, tracing::subscriber::DefaultGuard) {
    let warnings = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(Warnings(warnings.clone()));
    (warnings, tracing::subscriber::set_default(subscriber))
}
