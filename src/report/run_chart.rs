//! A followed run as people see it in the deployment record and the job summary: its
//! measured time and cost beside the planned ones, and a Mermaid gantt of its tasks, the
//! chain that set its length marked and a failed task in red. Pure: the plan and the run's
//! task times in, Markdown out.

use std::fmt::Write;

use crate::plan::estimate::measured;
use crate::plan::Plan;

use super::run_cost::{seconds, usd};
use super::timeline::{critical_path, TaskSpan, Timeline};

/// Tasks drawn in the gantt at most: the chain that set the run's length, a failed task,
/// then the longest of the others.
const GANTT_TASKS: usize = 30;

/// The `### The run` section for a run that was followed to its end; `failed` names the
/// task that failed, when one did.
pub fn render(plan: Option<&Plan>, timeline: &Timeline, failed: Option<&str>) -> String {
    let spans = &timeline.spans;
    let Some(origin) = spans.iter().map(|s| s.start_s).min_by(f64::total_cmp) else {
        return String::new();
    };
    let end = spans
        .iter()
        .map(|s| s.end_s.unwrap_or(s.start_s))
        .max_by(f64::total_cmp)
        .unwrap_or(origin);
    let path = critical_path(spans, timeline.waits.as_ref());
    let mut out = String::from("### The run\n\n");
    if let Some(plan) = plan {
        out.push_str(&measured_table(plan, spans, end - origin, &path));
    }
    out.push_str(&gantt(spans, &path, failed, origin));
    out
}

/// Measured against planned: run time and cost.
fn measured_table(plan: &Plan, spans: &[TaskSpan], run_time_s: f64, path: &[&TaskSpan]) -> String {
    let took: std::collections::BTreeMap<&str, f64> = spans
        .iter()
        .filter_map(|s| Some((s.state.as_str(), s.end_s? - s.start_s)))
        .collect();
    let per_task: Vec<Option<f64>> = plan
        .tasks
        .iter()
        .map(|t| took.get(t.state.as_str()).copied())
        .collect();
    let planned = &plan.timing.estimate;
    let actual = measured(
        &plan.timing.task_runs,
        &per_task,
        run_time_s,
        path.iter().map(|s| s.state.clone()).collect(),
        planned.state_transitions,
        &plan.timing.prices,
    );
    let mut out = String::from("| This run | Planned | Measured |\n|---|---:|---:|\n");
    let _ = writeln!(
        out,
        "| Run time | {} | {} |",
        seconds(planned.run_time_s),
        seconds(actual.run_time_s)
    );
    let _ = writeln!(
        out,
        "| Cost | {} | {} |",
        usd(planned.total_usd),
        usd(actual.total_usd)
    );
    let _ = writeln!(
        out,
        "\n<sub>Measured: each task's time in the run's history at its planned size; {}.</sub>\n",
        plan.timing.prices.source
    );
    out
}

/// The gantt: one bar per task from its start to its end, in seconds from the run's start.
fn gantt(spans: &[TaskSpan], path: &[&TaskSpan], failed: Option<&str>, origin: f64) -> String {
    let on_path = |span: &TaskSpan| path.iter().any(|p| p.state == span.state);
    let took = |span: &TaskSpan| span.end_s.unwrap_or(span.start_s) - span.start_s;
    let longest_first = |a: &&TaskSpan, b: &&TaskSpan| {
        took(b)
            .total_cmp(&took(a))
            .then_with(|| a.state.cmp(&b.state))
    };
    // The failed task, then the chain's longest tasks, then the longest of the others.
    let mut chosen: Vec<&TaskSpan> = spans
        .iter()
        .filter(|s| Some(s.state.as_str()) == failed)
        .collect();
    let mut chain: Vec<&TaskSpan> = spans
        .iter()
        .filter(|s| on_path(s) && Some(s.state.as_str()) != failed)
        .collect();
    chain.sort_by(longest_first);
    let mut others: Vec<&TaskSpan> = spans
        .iter()
        .filter(|s| !on_path(s) && Some(s.state.as_str()) != failed)
        .collect();
    others.sort_by(longest_first);
    for group in [chain, others] {
        let room = GANTT_TASKS.saturating_sub(chosen.len());
        chosen.extend(group.into_iter().take(room));
    }
    chosen.sort_by(|a, b| {
        a.start_s
            .total_cmp(&b.start_s)
            .then_with(|| a.state.cmp(&b.state))
    });
    let length_s = spans
        .iter()
        .map(|s| s.end_s.unwrap_or(s.start_s) - origin)
        .fold(0.0, f64::max);
    let (tick, format) = ticks(length_s);
    let mut out = format!(
        "```mermaid\ngantt\n  dateFormat x\n  axisFormat {format}\n  tickInterval {tick}\n"
    );
    for (section, wanted) in [
        ("chain that set the run's length", true),
        ("other tasks", false),
    ] {
        let first = |s: &TaskSpan| on_path(s) || Some(s.state.as_str()) == failed;
        let in_section: Vec<&&TaskSpan> = chosen.iter().filter(|s| first(s) == wanted).collect();
        if in_section.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  section {section}");
        for span in in_section {
            let start = ((span.start_s - origin) * 1000.0).round().max(0.0) as u64;
            // A task that never ended is drawn to its start plus a sliver.
            let end = ((span.end_s.unwrap_or(span.start_s) - origin) * 1000.0)
                .round()
                .max(start as f64 + 1.0) as u64;
            // Mermaid's own colours, readable in its light and dark themes: the chain in
            // the plain bars, the others grey (`done`), a failure red (`crit`).
            let tag = if Some(span.state.as_str()) == failed {
                "crit, "
            } else if wanted {
                ""
            } else {
                "done, "
            };
            let _ = writeln!(
                out,
                "  {} ({}) :{tag}{start}, {end}",
                gantt_label(&span.state),
                seconds(took(span))
            );
        }
    }
    out.push_str("```\n\n");
    let hidden = spans.len().saturating_sub(chosen.len());
    let legend =
        "<sub>first: the chain of tasks that set the run's length · grey: the others · red: failed";
    match hidden {
        0 => {
            let _ = writeln!(out, "{legend}</sub>\n");
        }
        n => {
            let _ = writeln!(
                out,
                "{legend} · +{n} shorter tasks not drawn (the job's log lists every task)</sub>\n"
            );
        }
    }
    out
}

/// About eight ticks over a run of `length_s`: Mermaid's `tickInterval` and the axis format.
fn ticks(length_s: f64) -> (&'static str, &'static str) {
    const STEPS: [(f64, &str); 14] = [
        (1.0, "1second"),
        (2.0, "2second"),
        (5.0, "5second"),
        (10.0, "10second"),
        (15.0, "15second"),
        (30.0, "30second"),
        (60.0, "1minute"),
        (120.0, "2minute"),
        (300.0, "5minute"),
        (600.0, "10minute"),
        (900.0, "15minute"),
        (1800.0, "30minute"),
        (3600.0, "1hour"),
        (7200.0, "2hour"),
    ];
    let tick = STEPS
        .iter()
        .find(|(seconds, _)| length_s / seconds <= 8.0)
        .map_or("6hour", |(_, tick)| tick);
    let format = if length_s >= 3600.0 { "%H:%M" } else { "%M:%S" };
    (tick, format)
}

/// A task name as a gantt bar's text: the characters gantt syntax reads (`:` ends the
/// title, `;` and `#` start other things) replaced, control characters dropped.
fn gantt_label(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            ':' | ';' | '#' => ' ',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        "task".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(state: &str, start: f64, end: Option<f64>) -> TaskSpan {
        TaskSpan {
            state: state.into(),
            start_s: start,
            end_s: end,
        }
    }

    #[test]
    fn the_gantt_marks_the_chain_and_the_failure() {
        let timeline = Timeline {
            spans: vec![
                span("a", 100.0, Some(102.0)),
                span("b: slow", 102.0, Some(110.0)),
                span("c", 102.0, Some(103.0)),
                span("d", 110.0, None),
            ],
            waits: None,
        };
        let out = render(None, &timeline, Some("d"));
        assert!(
            out.contains("gantt\n  dateFormat x\n  axisFormat %M:%S\n  tickInterval 2second\n"),
            "{out}"
        );
        assert!(out.contains("  a (2.0 s) :0, 2000\n"), "{out}");
        assert!(out.contains("  b  slow (8.0 s) :2000, 10000\n"), "{out}");
        assert!(out.contains("  c (1.0 s) :done, 2000, 3000\n"), "{out}");
        assert!(out.contains("  d (0.00 s) :crit, 10000, 10001\n"), "{out}");
        assert_eq!(out.matches("section").count(), 2);
    }

    #[test]
    fn a_long_chain_is_drawn_by_its_longest_tasks() {
        let spans: Vec<TaskSpan> = (0..200)
            .map(|i| {
                let start = f64::from(i);
                span(
                    &format!("t{i:03}"),
                    start,
                    Some(start + 0.5 + f64::from(i % 7) / 10.0),
                )
            })
            .collect();
        let out = render(None, &Timeline { spans, waits: None }, Some("t199"));
        let bars = out.lines().filter(|l| l.contains(" :")).count();
        assert_eq!(bars, GANTT_TASKS, "{out}");
        assert!(
            out.contains("  t199 (0.80 s) :crit, 199000, 199800\n"),
            "{out}"
        );
        assert!(out.contains("+170 shorter tasks not drawn"), "{out}");
    }

    #[test]
    fn a_long_run_draws_its_chain_and_the_longest_others() {
        let mut spans: Vec<TaskSpan> = (0..100)
            .map(|i| span(&format!("t{i:03}"), 0.0, Some(1.0 + f64::from(i) / 100.0)))
            .collect();
        spans.push(span("last", 2.0, Some(5.0)));
        let out = render(None, &Timeline { spans, waits: None }, None);
        let bars = out.lines().filter(|l| l.contains(" :")).count();
        assert_eq!(bars, GANTT_TASKS, "{out}");
        assert!(out.contains("+71 shorter tasks not drawn"), "{out}");
        assert!(
            out.contains("  t098 ("),
            "the longest others are drawn:\n{out}"
        );
        assert!(!out.contains("  t000 "), "{out}");
    }
}
