//! The live terminal view (`--progress tty`): a spinner per running step showing its last
//! output line; finished steps scroll above as `=> [stage i/n] INSTRUCTION  0.3s`.
//! Readable without colour; `NO_COLOR` is honoured by never emitting colour at all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::plain::human_bytes;
use super::{Event, Sink, StepId, TransferPhase};

/// Live progress on a terminal (standard error).
pub struct TtyPrinter {
    multi: MultiProgress,
    state: Mutex<HashMap<StepId, Running>>,
}

struct Running {
    bar: ProgressBar,
    label: String,
    cached: bool,
    last_line: Vec<u8>,
    transfers: HashMap<String, ProgressBar>,
}

impl Default for TtyPrinter {
    fn default() -> Self {
        TtyPrinter::new()
    }
}

impl TtyPrinter {
    /// A live view on standard error.
    pub fn new() -> TtyPrinter {
        TtyPrinter {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            state: Mutex::new(HashMap::new()),
        }
    }

    fn spinner_style() -> ProgressStyle {
        ProgressStyle::with_template(" {spinner} {msg} {elapsed:>4}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
    }

    fn bytes_style() -> ProgressStyle {
        ProgressStyle::with_template("     {msg} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
    }
}

impl Sink for TtyPrinter {
    fn emit(&self, event: &Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match event {
            Event::StepStart(info) => {
                let label = if info.stage.is_empty() {
                    info.text.clone()
                } else if info.show_stage {
                    format!(
                        "[{} {}/{}] {}",
                        info.stage, info.index, info.total, info.text
                    )
                } else {
                    format!("[{}/{}] {}", info.index, info.total, info.text)
                };
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(Self::spinner_style());
                bar.set_message(label.clone());
                bar.enable_steady_tick(Duration::from_millis(100));
                st.insert(
                    info.id,
                    Running {
                        bar,
                        label,
                        cached: false,
                        last_line: Vec::new(),
                        transfers: HashMap::new(),
                    },
                );
            }
            Event::StepCached { id } => {
                if let Some(r) = st.get_mut(id) {
                    r.cached = true;
                }
            }
            Event::StepOutput { id, data, .. } => {
                if let Some(r) = st.get_mut(id) {
                    r.last_line.extend_from_slice(data);
                    if let Some(pos) = r.last_line[..r.last_line.len().saturating_sub(1)]
                        .iter()
                        .rposition(|&b| b == b'\n')
                    {
                        r.last_line.drain(..=pos);
                    }
                    let line = String::from_utf8_lossy(&r.last_line).trim_end().to_string();
                    r.bar
                        .set_message(format!("{}\n     {}", r.label, truncate(&line, 100)));
                }
            }
            Event::StepNote { id, message }
            | Event::StepMiss {
                id,
                reason: message,
            } => {
                if let Some(r) = st.get(id) {
                    self.multi
                        .suspend(|| eprintln!("   {}: {message}", r.label));
                }
            }
            Event::Transfer {
                id,
                digest,
                phase,
                done,
                total,
            } => {
                if let Some(r) = st.get_mut(id) {
                    let short: String = digest
                        .trim_start_matches("sha256:")
                        .chars()
                        .take(12)
                        .collect();
                    match phase {
                        TransferPhase::Start | TransferPhase::Progress => {
                            let bar = r.transfers.entry(short.clone()).or_insert_with(|| {
                                let b = self.multi.insert_after(&r.bar, ProgressBar::new(*total));
                                b.set_style(Self::bytes_style());
                                b.set_message(format!("sha256:{short}"));
                                b
                            });
                            bar.set_length(*total);
                            bar.set_position(*done);
                        }
                        TransferPhase::Done | TransferPhase::Skipped | TransferPhase::Mounted => {
                            if let Some(b) = r.transfers.remove(&short) {
                                b.finish_and_clear();
                                self.multi.remove(&b);
                            }
                            if *phase == TransferPhase::Done {
                                let size = human_bytes(*total);
                                self.multi
                                    .suspend(|| eprintln!("     sha256:{short} {size} done"));
                            }
                        }
                    }
                }
            }
            Event::StepDone {
                id,
                cached,
                elapsed,
            } => {
                if let Some(r) = st.remove(id) {
                    r.bar.finish_and_clear();
                    self.multi.remove(&r.bar);
                    let tail = if *cached || r.cached {
                        "CACHED".to_string()
                    } else {
                        format!("{:.1}s", elapsed.as_secs_f64())
                    };
                    self.multi.suspend(|| eprintln!(" => {} {tail}", r.label));
                }
            }
            Event::StepError { id, message } => {
                if let Some(r) = st.remove(id) {
                    r.bar.finish_and_clear();
                    self.multi.remove(&r.bar);
                    let first = message.lines().next().unwrap_or("");
                    self.multi
                        .suspend(|| eprintln!(" => ERROR {}: {first}", r.label));
                }
            }
            Event::Warning { message } => self.multi.suspend(|| eprintln!("WARNING: {message}")),
            Event::PhaseStart { .. } | Event::PhaseEnd { .. } => {}
        }
    }

    fn finish(&self) {
        if let Ok(mut st) = self.state.lock() {
            for (_, r) in st.drain() {
                r.bar.finish_and_clear();
            }
        }
        let _ = self.multi.clear();
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max).collect::<String>() + "…"
    }
}
