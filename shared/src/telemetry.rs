//! The functions' JSON logs for CloudWatch, set up one way for all of them: one object per line,
//! with the current span's fields (source event id, correlation id, log group) on every line.
//! Feature `telemetry`; the functions enable it, the domain does not depend on it.

use std::sync::{Arc, Mutex, PoisonError};
use tracing_subscriber::fmt::MakeWriter;

/// Where lambda_runtime logs a handler's error a second time, as `{error:?}` text (and a panic,
/// as an opaque `Any`). Handlers log their own errors once, structured, and `log_panics` logs a
/// panic with its message, so this target is turned off.
const RUNTIME_DUPLICATE_TARGET: &str = "lambda_runtime::layers::panic=off";

/// Builds the subscriber a function installs; tests give it a `LogCapture` instead of stdout.
/// Every line carries the fields of every span it is in (`spans`), so a signal's or a record
/// operation's lines carry the invocation's `requestId` as well as their `correlation_id`.
pub fn subscriber<W>(
    writer: W,
    filter: tracing_subscriber::EnvFilter,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = match RUNTIME_DUPLICATE_TARGET.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(true)
        .with_target(false)
        // Lambda stamps every line with its own time.
        .without_time()
        .with_writer(writer)
        .finish()
}

/// Logs a panic once, as JSON with its message and place, before the runtime reports it to
/// Lambda (whose own log line of it is turned off, see `RUNTIME_DUPLICATE_TARGET`).
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|text| (*text).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info
            .location()
            .map(|location| format!("{}:{}", location.file(), location.line()))
            .unwrap_or_default();
        tracing::error!(error_type = "Panic", %message, %location, "handler panicked");
    }));
}

/// The level Lambda's logging configuration sets (`AWS_LAMBDA_LOG_LEVEL`), or info.
pub fn filter_from_env() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

/// A writer that keeps what was logged, so tests can read the lines a function would print.
#[derive(Clone, Default, Debug)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Everything logged so far (JSON lines, when written by `subscriber`).
    pub fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
