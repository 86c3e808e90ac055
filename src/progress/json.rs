//! `--progress rawjson`: every event as one JSON object per line, with a timestamp.

use std::io::Write;
use std::sync::Mutex;

use super::{Clock, Event, Sink};

/// Writes events as JSON lines.
pub struct JsonPrinter {
    out: Mutex<Box<dyn Write + Send>>,
    clock: Clock,
}

impl JsonPrinter {
    /// Prints to `out`, timestamps from `clock`.
    pub fn new(out: Box<dyn Write + Send>, clock: Clock) -> JsonPrinter {
        JsonPrinter {
            out: Mutex::new(out),
            clock,
        }
    }
}

impl Sink for JsonPrinter {
    fn emit(&self, event: &Event) {
        let Ok(mut value) = serde_json::to_value(event) else {
            return;
        };
        if let Some(obj) = value.as_object_mut() {
            obj.insert("ts_us".into(), self.clock.micros().into());
        }
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{value}");
        }
    }

    fn finish(&self) {
        if let Ok(mut out) = self.out.lock() {
            let _ = out.flush();
        }
    }
}
