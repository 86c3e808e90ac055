//! The report as a plain-text table for people: no colour, aligned columns, a summary line
//! per scenario, then each scenario's steps with their cache result and, where a step
//! missed in a rebuild, the build's one-line reason.

use std::fmt::Write as _;

use super::report::{BenchReport, ScenarioKind, ScenarioReport, StepReport};

/// Longest instruction text shown before it is cut with `…`.
const MAX_INSTRUCTION: usize = 48;

/// Renders `report` (with its comparison, if any).
pub fn render(report: &BenchReport) -> String {
    let mut out = String::new();
    let file = report
        .dockerfile
        .as_deref()
        .map(|f| format!(" (-f {f})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "rbuild bench {}{file}: {} run{} per scenario after {} warm-up{}",
        report.context,
        report.runs,
        plural(report.runs),
        report.warmup,
        plural(report.warmup),
    );
    if let Some(c) = &report.comparison {
        let _ = writeln!(out, "compared with {} ({})", c.baseline, c.baseline_created);
    }
    out.push('\n');

    let mut head = vec![
        "SCENARIO", "MEDIAN", "MIN", "MAX", "PEAK MEM", "HITS", "MISSES", "HASHED", "WRITTEN",
    ];
    let mut align = String::from("lrrrrrrrr");
    if report.comparison.is_some() {
        head.extend(["BASELINE", "RATIO"]);
        align.push_str("rr");
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for s in &report.scenarios {
        let mut row = vec![
            s.name.clone(),
            ms(s.wall_ms.median),
            ms(s.wall_ms.min),
            ms(s.wall_ms.max),
            bytes(s.max_rss_kib.median * 1024.0),
            s.cache_hits.to_string(),
            s.cache_misses.to_string(),
            bytes(stat(s, "bytes_hashed")),
            bytes(stat(s, "layer_bytes_written")),
        ];
        if let Some(c) = &report.comparison {
            let sc = c.scenario(&s.name);
            row.push(sc.and_then(|x| x.baseline_median_ms).map_or("-".into(), ms));
            row.push(sc.and_then(|x| x.ratio).map_or("-".into(), ratio));
        }
        rows.push(row);
    }
    grid(&mut out, "", &head, &align, &rows);

    for s in &report.scenarios {
        out.push('\n');
        let _ = writeln!(
            out,
            "{}: steps (median of {} run{})",
            s.name,
            s.runs.len(),
            plural(s.runs.len())
        );
        let cmp = report.comparison.as_ref().and_then(|c| c.scenario(&s.name));
        let mut head = vec!["STAGE", "STEP", "MEDIAN", "CACHE"];
        let mut align = String::from("llrl");
        if cmp.is_some() {
            head.push("RATIO");
            align.push('r');
        }
        let explain = s.kind != ScenarioKind::Cold && s.steps.iter().any(|st| st.misses > 0);
        if explain {
            head.push("WHY IT MISSED");
            align.push('l');
        }
        let mut missed_stages: Vec<&str> = Vec::new();
        let rows: Vec<Vec<String>> = s
            .steps
            .iter()
            .map(|step| {
                let mut row = vec![
                    step.stage.clone(),
                    cut(&step.instruction),
                    ms(step.duration_ms.median),
                    cache(step),
                ];
                if let Some(c) = cmp {
                    row.push(c.step_ratio(step).map_or("-".into(), ratio));
                }
                if explain {
                    let after_miss = missed_stages.contains(&step.stage.as_str());
                    let why = match (&step.miss_reason, step.misses) {
                        (_, 0) => String::new(),
                        (Some(r), _) => r.clone(),
                        // Within a stage, a miss changes the cache key of every later step.
                        (None, _) if after_miss => "(an earlier step missed)".into(),
                        (None, _) => "(no reason given)".into(),
                    };
                    row.push(why);
                }
                if step.misses > 0 {
                    missed_stages.push(&step.stage);
                }
                row
            })
            .collect();
        grid(&mut out, "  ", &head, &align, &rows);
    }
    if !report.notes.is_empty() {
        out.push('\n');
        for n in &report.notes {
            let _ = writeln!(out, "note: {n}");
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn stat(s: &ScenarioReport, key: &str) -> f64 {
    s.stats.get(key).copied().unwrap_or(0) as f64
}

fn cache(step: &StepReport) -> String {
    match (step.hits, step.misses) {
        (_, 0) => "cached".into(),
        (0, _) => "miss".into(),
        (h, m) => format!("{h}/{} hit", h + m),
    }
}

fn cut(s: &str) -> String {
    let one_line = s.replace('\n', "\\n");
    if one_line.chars().count() <= MAX_INSTRUCTION {
        return one_line;
    }
    let mut t: String = one_line.chars().take(MAX_INSTRUCTION - 1).collect();
    t.push('…');
    t
}

/// A duration in milliseconds, with a unit that keeps three or four significant digits.
pub fn ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}s", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}ms")
    } else if v >= 10.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.2}ms")
    }
}

/// A byte count in binary units.
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = v.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A ratio to the baseline, `1.03x`.
pub fn ratio(r: f64) -> String {
    format!("{r:.2}x")
}

/// Writes a header and rows, each line prefixed with `indent`; `align` has an `l` (left)
/// or `r` (right) per column. Trailing spaces are trimmed.
fn grid(out: &mut String, indent: &str, head: &[&str], align: &str, rows: &[Vec<String>]) {
    let right: Vec<bool> = align.chars().map(|c| c == 'r').collect();
    let n = head.len();
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::from(indent);
        for (i, c) in cells.iter().enumerate() {
            let pad = width[i].saturating_sub(c.chars().count());
            if i > 0 {
                s.push_str("  ");
            }
            if !right.get(i).copied().unwrap_or(false) {
                s.push_str(c);
                s.extend(std::iter::repeat_n(' ', pad));
            } else {
                s.extend(std::iter::repeat_n(' ', pad));
                s.push_str(c);
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    out.push_str(&line(head.to_vec()));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::aggregate::fixtures::{changed_scenario, report};
    use crate::bench::compare::compare;

    #[test]
    fn units() {
        assert_eq!(ms(0.412), "0.41ms");
        assert_eq!(ms(21.44), "21.4ms");
        assert_eq!(ms(812.3), "812ms");
        assert_eq!(ms(1234.0), "1.23s");
        assert_eq!(ms(61_000.0), "61.0s");
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0), "3.0 MiB");
        assert_eq!(ratio(1.0), "1.00x");
    }

    #[test]
    fn renders_scenarios_steps_and_reasons() {
        let r = report(vec![changed_scenario()]);
        let text = render(&r);
        let expected = "\
rbuild bench ctx: 3 runs per scenario after 1 warm-up

SCENARIO       MEDIAN     MIN     MAX    PEAK MEM  HITS  MISSES  HASHED  WRITTEN
changed:src/x  20.0ms  10.0ms  30.0ms  1020.0 KiB     2       2   200 B  4.0 KiB

changed:src/x: steps (median of 3 runs)
  STAGE    STEP             MEDIAN  CACHE   WHY IT MISSED
  stage-0  FROM scratch     0.10ms  cached
  stage-0  COPY a /a        0.20ms  cached
  stage-0  COPY src/ /src/  2.00ms  miss    file src/x changed
  stage-0  COPY src/ /src/  2.00ms  miss    parent step changed
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn comparison_adds_baseline_and_ratio_columns() {
        let mut r = report(vec![changed_scenario()]);
        r.comparison = Some(compare(&r, &r, "old.json"));
        let text = render(&r);
        assert!(
            text.contains("compared with old.json (2025-01-01T00:00:00Z)"),
            "{text}"
        );
        let summary = text
            .lines()
            .find(|l| l.starts_with("changed:src/x "))
            .unwrap();
        assert!(summary.ends_with("20.0ms  1.00x"), "{summary}");
        let step = text.lines().find(|l| l.contains("COPY a /a")).unwrap();
        assert!(step.contains("cached  1.00x"), "{step}");
    }

    #[test]
    fn a_miss_without_a_reason_is_explained_by_the_one_before() {
        let mut s = changed_scenario();
        s.steps[3].miss_reason = None;
        let mut r = report(vec![s.clone()]);
        let text = render(&r);
        assert!(
            text.lines()
                .last()
                .unwrap()
                .ends_with("miss    (an earlier step missed)"),
            "{text}"
        );
        s.steps[2].miss_reason = None;
        r.scenarios = vec![s];
        let text = render(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[lines.len() - 2].ends_with("miss    (no reason given)"),
            "{text}"
        );
    }

    #[test]
    fn long_instructions_are_cut_and_mixed_results_counted() {
        let long = "RUN ".to_string() + &"x".repeat(100);
        assert_eq!(cut(&long).chars().count(), MAX_INSTRUCTION);
        assert!(cut(&long).ends_with('…'));
        assert_eq!(cut("COPY <<EOF /a\nhi\nEOF"), "COPY <<EOF /a\\nhi\\nEOF");
        let mut s = changed_scenario().steps[2].clone();
        s.hits = 1;
        s.misses = 2;
        assert_eq!(cache(&s), "1/3 hit");
    }
}
