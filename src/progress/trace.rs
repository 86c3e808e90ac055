//! `--trace FILE`: the recorded build as Chrome trace-event JSON (opens in Perfetto and
//! `chrome://tracing`): one track per stage, a slice per step named by its instruction
//! and marked cached or not, nested slices for the phases that cost time.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::StepRecord;

/// The trace document for `steps` (timestamps in µs on the build clock).
pub fn chrome_trace(steps: &[StepRecord]) -> Value {
    let mut tracks: BTreeMap<String, u64> = BTreeMap::new();
    let mut events: Vec<Value> = Vec::new();
    for s in steps {
        let track = if s.info.stage.is_empty() {
            "build".to_string()
        } else {
            format!("stage {}", s.info.stage)
        };
        let next = tracks.len() as u64 + 1;
        let tid = *tracks.entry(track).or_insert(next);
        let end = s.end_us.max(s.start_us);
        let name = if s.cached {
            format!("{} (cached)", s.info.text)
        } else {
            s.info.text.clone()
        };
        let mut args = serde_json::Map::new();
        args.insert("cached".into(), s.cached.into());
        args.insert(
            "step".into(),
            format!("{}/{}", s.info.index, s.info.total).into(),
        );
        if let Some(r) = &s.miss_reason {
            args.insert("cache_miss".into(), r.clone().into());
        }
        if s.failed {
            args.insert("failed".into(), true.into());
        }
        events.push(json!({
            "name": name, "cat": if s.cached { "step,cached" } else { "step" }, "ph": "X",
            "ts": s.start_us, "dur": end - s.start_us, "pid": 1, "tid": tid, "args": Value::Object(args),
        }));
        for p in &s.phases {
            let phase = serde_json::to_value(p.phase).unwrap_or(Value::Null);
            events.push(json!({
                "name": phase, "cat": "phase", "ph": "X",
                "ts": p.start_us, "dur": p.end_us.saturating_sub(p.start_us), "pid": 1, "tid": tid,
            }));
        }
    }
    for (name, tid) in &tracks {
        events.push(
            json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}}),
        );
    }
    events.push(json!({"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "rbuild"}}));
    json!({ "traceEvents": events, "displayTimeUnit": "ms" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{Phase, PhaseSpan, StepInfo};

    #[test]
    fn one_slice_per_step_and_tracks_per_stage() {
        let step = |id, stage: &str, cached| StepRecord {
            info: StepInfo {
                id,
                stage: stage.into(),
                index: 1,
                total: 2,
                text: format!("RUN {id}"),
                show_stage: true,
            },
            start_us: 10 * id as u64,
            end_us: 10 * id as u64 + 5,
            cached,
            failed: false,
            miss_reason: None,
            phases: vec![PhaseSpan {
                phase: Phase::Command,
                start_us: 10 * id as u64 + 1,
                end_us: 10 * id as u64 + 4,
            }],
        };
        let t = chrome_trace(&[step(1, "a", true), step(2, "b", false)]);
        let ev = t["traceEvents"].as_array().unwrap();
        let steps: Vec<_> = ev
            .iter()
            .filter(|e| e["cat"].as_str().is_some_and(|c| c.starts_with("step")))
            .collect();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0]["name"], "RUN 1 (cached)");
        assert_ne!(steps[0]["tid"], steps[1]["tid"]);
        assert_eq!(ev.iter().filter(|e| e["cat"] == "phase").count(), 2);
        assert_eq!(ev.iter().filter(|e| e["name"] == "thread_name").count(), 2);
    }
}
