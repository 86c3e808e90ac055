//! BuildKit-style plain output (`--progress plain`): one block per step,
//! `#N [stage i/n] INSTRUCTION`, output lines prefixed with their step number and time,
//! then `#N CACHED` or `#N DONE 0.3s`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use super::{Event, Sink, StepId, TransferPhase};

/// Writes plain progress to a writer (standard error by default).
pub struct PlainPrinter {
    state: Mutex<State>,
}

struct State {
    out: Box<dyn Write + Send>,
    started: HashMap<StepId, Instant>,
    partial: HashMap<StepId, Vec<u8>>,
    last: Option<StepId>,
}

impl PlainPrinter {
    /// Prints to standard error.
    pub fn stderr() -> PlainPrinter {
        PlainPrinter::to(Box::new(std::io::stderr()))
    }

    /// Prints to `out`.
    pub fn to(out: Box<dyn Write + Send>) -> PlainPrinter {
        PlainPrinter {
            state: Mutex::new(State {
                out,
                started: HashMap::new(),
                partial: HashMap::new(),
                last: None,
            }),
        }
    }
}

impl State {
    /// Separates blocks of different steps with a blank line, as BuildKit does.
    fn switch_to(&mut self, id: StepId) {
        if self.last.is_some_and(|l| l != id) {
            let _ = writeln!(self.out);
        }
        self.last = Some(id);
    }

    fn elapsed(&self, id: StepId) -> f64 {
        self.started
            .get(&id)
            .map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    fn line(&mut self, id: StepId, text: &str) {
        self.switch_to(id);
        let _ = writeln!(self.out, "#{id} {text}");
    }

    fn output(&mut self, id: StepId, data: &[u8]) {
        let mut buf = self.partial.remove(&id).unwrap_or_default();
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = memchr::memchr(b'\n', &buf[start..]) {
            let line = String::from_utf8_lossy(&buf[start..start + nl]).into_owned();
            let t = self.elapsed(id);
            self.line(id, &format!("{t:.3} {}", line.trim_end_matches('\r')));
            start += nl + 1;
        }
        buf.drain(..start);
        if !buf.is_empty() {
            self.partial.insert(id, buf);
        }
    }

    fn flush_partial(&mut self, id: StepId) {
        if let Some(rest) = self.partial.remove(&id).filter(|b| !b.is_empty()) {
            let t = self.elapsed(id);
            let text = String::from_utf8_lossy(&rest).into_owned();
            self.line(id, &format!("{t:.3} {text}"));
        }
    }
}

impl Sink for PlainPrinter {
    fn emit(&self, event: &Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match event {
            Event::StepStart(info) => {
                st.started.insert(info.id, Instant::now());
                let label = if info.stage.is_empty() {
                    String::new()
                } else if info.show_stage {
                    format!("[{} {}/{}] ", info.stage, info.index, info.total)
                } else {
                    format!("[{}/{}] ", info.index, info.total)
                };
                st.line(info.id, &format!("{label}{}", info.text));
            }
            Event::StepCached { id } => st.line(*id, "CACHED"),
            Event::StepMiss { id, reason } => st.line(*id, &format!("cache miss: {reason}")),
            Event::StepOutput { id, data, .. } => st.output(*id, data),
            Event::StepNote { id, message } => st.line(*id, message),
            Event::Transfer {
                id,
                digest,
                phase,
                done,
                total,
            } => {
                let short = digest.strip_prefix("sha256:").unwrap_or(digest);
                let short = &short[..short.len().min(12)];
                let text = match phase {
                    TransferPhase::Done => format!(
                        "sha256:{short} {} done",
                        human_bytes(if *total > 0 { *total } else { *done })
                    ),
                    TransferPhase::Skipped => format!("sha256:{short} already exists"),
                    TransferPhase::Mounted => {
                        format!("sha256:{short} mounted from another repository")
                    }
                    TransferPhase::Start | TransferPhase::Progress => return,
                };
                st.line(*id, &text);
            }
            Event::StepDone {
                id,
                cached,
                elapsed,
            } => {
                st.flush_partial(*id);
                if !cached {
                    st.line(*id, &format!("DONE {:.1}s", elapsed.as_secs_f64()));
                }
            }
            Event::StepError { id, message } => {
                st.flush_partial(*id);
                let first = message.lines().next().unwrap_or("");
                st.line(*id, &format!("ERROR: {first}"));
            }
            Event::Warning { message } => {
                st.last = None;
                let _ = writeln!(st.out, "WARNING: {message}");
            }
            Event::PhaseStart { .. } | Event::PhaseEnd { .. } => {}
        }
    }

    fn finish(&self) {
        if let Ok(mut st) = self.state.lock() {
            let _ = st.out.flush();
        }
    }
}

/// `1.2MB`-style sizes, as BuildKit prints them.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::progress::{StepInfo, Stream};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn info(id: usize, text: &str) -> StepInfo {
        StepInfo {
            id,
            stage: "base".into(),
            index: id,
            total: 3,
            text: text.into(),
            show_stage: true,
        }
    }

    #[test]
    fn blocks_like_buildkit() {
        let buf = Buf::default();
        let p = PlainPrinter::to(Box::new(buf.clone()));
        p.emit(&Event::StepStart(info(1, "FROM scratch")));
        p.emit(&Event::StepDone {
            id: 1,
            cached: false,
            elapsed: Duration::from_millis(10),
        });
        p.emit(&Event::StepStart(info(2, "COPY a /a")));
        p.emit(&Event::StepCached { id: 2 });
        p.emit(&Event::StepDone {
            id: 2,
            cached: true,
            elapsed: Duration::ZERO,
        });
        p.emit(&Event::StepStart(info(3, "RUN echo hi")));
        p.emit(&Event::StepOutput {
            id: 3,
            stream: Stream::Stdout,
            data: b"hel".to_vec(),
        });
        p.emit(&Event::StepOutput {
            id: 3,
            stream: Stream::Stdout,
            data: b"lo\npartial".to_vec(),
        });
        p.emit(&Event::StepDone {
            id: 3,
            cached: false,
            elapsed: Duration::from_millis(250),
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#1 [base 1/3] FROM scratch");
        assert_eq!(lines[1], "#1 DONE 0.0s");
        assert_eq!(lines[2], "");
        assert_eq!(lines[3], "#2 [base 2/3] COPY a /a");
        assert_eq!(lines[4], "#2 CACHED");
        assert_eq!(lines[6], "#3 [base 3/3] RUN echo hi");
        assert!(
            lines[7].starts_with("#3 0.") && lines[7].ends_with(" hello"),
            "{}",
            lines[7]
        );
        assert!(lines[8].ends_with(" partial"), "{}", lines[8]);
        assert_eq!(lines[9], "#3 DONE 0.2s");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(999), "999B");
        assert_eq!(human_bytes(1_500_000), "1.50MB");
    }
}
