//! `rbuild bench --trace FILE`: one Chrome trace (Perfetto, `chrome://tracing`) holding the
//! representative run of every scenario, each as its own process (pid 1, 2, … in scenario
//! order, named after the scenario) with the build's stage tracks inside.
//!
//! Each build writes its own trace with `progress::chrome_trace`; combining only re-keys
//! those events, so the tracks and slices are exactly what `rbuild build --trace` shows.

use serde_json::{Value, json};

/// Combines one trace document per scenario, in order.
pub fn combine(parts: &[(String, Value)]) -> Value {
    let mut events: Vec<Value> = Vec::new();
    for (i, (name, doc)) in parts.iter().enumerate() {
        let pid = i as u64 + 1;
        let source = doc
            .get("traceEvents")
            .or(Some(doc))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for mut ev in source {
            if ev.get("ph") == Some(&json!("M")) && ev.get("name") == Some(&json!("process_name")) {
                continue;
            }
            if let Some(obj) = ev.as_object_mut() {
                obj.insert("pid".into(), pid.into());
                events.push(ev);
            }
        }
        events.push(json!({"name": "process_name", "ph": "M", "pid": pid, "args": {"name": name}}));
        events.push(
            json!({"name": "process_sort_index", "ph": "M", "pid": pid, "args": {"sort_index": pid}}),
        );
    }
    json!({ "traceEvents": events, "displayTimeUnit": "ms" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{StepInfo, StepRecord, chrome_trace};

    fn build_trace(steps: &[(&str, &str, bool)]) -> Value {
        let records: Vec<StepRecord> = steps
            .iter()
            .enumerate()
            .map(|(i, (stage, text, cached))| StepRecord {
                info: StepInfo {
                    id: i + 1,
                    stage: stage.to_string(),
                    index: i + 1,
                    total: steps.len(),
                    text: text.to_string(),
                    show_stage: true,
                },
                start_us: i as u64 * 100,
                end_us: i as u64 * 100 + 50,
                cached: *cached,
                failed: false,
                miss_reason: None,
                phases: Vec::new(),
            })
            .collect();
        chrome_trace(&records)
    }

    #[test]
    fn one_process_per_scenario_with_its_stage_tracks() {
        let cold = build_trace(&[("base", "FROM scratch", false), ("app", "COPY a /a", false)]);
        let noop = build_trace(&[("base", "FROM scratch", true), ("app", "COPY a /a", true)]);
        let t = combine(&[("cold".into(), cold), ("no-op".into(), noop)]);
        let ev = t["traceEvents"].as_array().unwrap();
        let names: Vec<(&Value, &Value)> = ev
            .iter()
            .filter(|e| e["name"] == "process_name")
            .map(|e| (&e["pid"], &e["args"]["name"]))
            .collect();
        assert_eq!(
            names,
            vec![(&json!(1), &json!("cold")), (&json!(2), &json!("no-op"))]
        );
        let slices = |pid: u64| {
            ev.iter()
                .filter(|e| e["ph"] == "X" && e["pid"] == pid)
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(slices(1), vec!["FROM scratch", "COPY a /a"]);
        assert_eq!(
            slices(2),
            vec!["FROM scratch (cached)", "COPY a /a (cached)"]
        );
        let tracks = ev
            .iter()
            .filter(|e| e["name"] == "thread_name" && e["pid"] == 2)
            .count();
        assert_eq!(tracks, 2);
        assert!(!ev.iter().any(|e| e["args"]["name"] == "rbuild"));
    }
}
