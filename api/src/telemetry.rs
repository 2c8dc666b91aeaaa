//! Tracing set-up: an env filter (`RUST_LOG` wins over the configured filter) and a switch
//! between human-readable and JSON output. Every request's log lines carry its request id
//! through the span opened by the HTTP layer, also from inside the spans below it (the
//! GraphQL operation, a domain operation, a database statement).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{FmtSpan, Format, Json, JsonFields};
use tracing_subscriber::fmt::{MakeWriter, SubscriberBuilder};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber; a second call (as in tests) is a no-op.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let _ = match settings.format {
        LogFormat::Json => json(filter, std::io::stdout).try_init(),
        LogFormat::Pretty => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_span_events(FmtSpan::NONE)
            .compact()
            .try_init(),
    };
}

/// JSON lines for a log pipeline (Logstash/Elasticsearch and the like): one object a line,
/// the event's fields at its top level (`message`, `error`, …) beside `timestamp`, `level`
/// and `target`, and `spans`: every span the event happened in, outermost first, so that
/// the `request` span's `request_id` is on every line of a request, however deep.
fn json<W>(filter: EnvFilter, writer: W) -> SubscriberBuilder<JsonFields, Format<Json>, EnvFilter, W>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_span_events(FmtSpan::NONE)
        .with_writer(writer)
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_env_filter(filter)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_json_line_carries_the_request_id_from_inside_nested_spans() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = json(EnvFilter::new("info"), move || writer.clone()).finish();
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request", request_id = "r-42", method = "POST", path = "/graphql");
            let _request = request.enter();
            let operation = crate::graphql::spans::operation(Some("Seats"), "mutation");
            let _operation = operation.enter();
            let domain = tracing::info_span!("holds.hold_seats");
            let _domain = domain.enter();
            tracing::warn!(seats = 2, "a seat was taken meanwhile");
        });
        let bytes = captured.0.lock().map(|b| b.clone()).unwrap_or_default();
        let text = String::from_utf8(bytes).unwrap_or_default();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(line["message"], "a seat was taken meanwhile");
        assert_eq!(line["seats"], 2);
        assert_eq!(line["level"], "WARN");
        let spans = line["spans"].as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(names, ["request", "graphql", "holds.hold_seats"]);
        assert_eq!(spans[0]["request_id"], "r-42");
        assert_eq!(spans[1]["operation.name"], "Seats");
    }
}
