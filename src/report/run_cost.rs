//! "What does one run take and cost, and what does this change do to it": the planned
//! machine against the deployed one, with the same durations and prices on both sides.

use std::fmt::Write;

use crate::plan::estimate::durations::DurationSource;
use crate::plan::estimate::Estimate;
use crate::plan::Plan;

use super::escape::{code, text};

/// Longest paths longer than this are shown by their ends and length.
const PATH_SHOWN: usize = 8;

/// The `### Run time and cost` section.
pub fn render(plan: &Plan, deployed: Option<&Estimate>) -> String {
    let planned = &plan.timing.estimate;
    let mut out = String::from("### Run time and cost\n\n");
    match deployed {
        Some(deployed) => {
            out.push_str("| One run | Deployed | Planned | Change |\n|---|---:|---:|---:|\n");
            let time = |label: &str, before: f64, after: f64| {
                format!(
                    "| {label} | {} | {} | {} |\n",
                    seconds(before),
                    seconds(after),
                    with_percent(seconds_delta(after - before), before, after)
                )
            };
            let money = |label: &str, before: f64, after: f64| {
                format!(
                    "| {label} | {} | {} | {} |\n",
                    usd(before),
                    usd(after),
                    with_percent(usd_delta(after - before), before, after)
                )
            };
            out.push_str(&time("Run time", deployed.run_time_s, planned.run_time_s));
            out.push_str(&money("Lambda", deployed.lambda_usd, planned.lambda_usd));
            if deployed.ecs_usd > 0.0 || planned.ecs_usd > 0.0 {
                out.push_str(&money("ECS Fargate", deployed.ecs_usd, planned.ecs_usd));
            }
            out.push_str(&money(
                "Step Functions",
                deployed.step_functions_usd,
                planned.step_functions_usd,
            ));
            out.push_str(&money("**Total**", deployed.total_usd, planned.total_usd));
        }
        None => {
            out.push_str("| One run | Planned |\n|---|---:|\n");
            let _ = writeln!(out, "| Run time | {} |", seconds(planned.run_time_s));
            let _ = writeln!(out, "| Lambda | {} |", usd(planned.lambda_usd));
            if planned.ecs_usd > 0.0 {
                let _ = writeln!(out, "| ECS Fargate | {} |", usd(planned.ecs_usd));
            }
            let _ = writeln!(
                out,
                "| Step Functions | {} |",
                usd(planned.step_functions_usd)
            );
            let _ = writeln!(out, "| **Total** | {} |", usd(planned.total_usd));
        }
    }
    let _ = writeln!(
        out,
        "\nLongest path: {} ({} state transitions per run).\n",
        path(&planned.longest_path),
        planned.state_transitions
    );
    let _ = writeln!(out, "{}\n", durations_sentence(plan));
    let _ = writeln!(
        out,
        "Prices: {}, Lambda's free tier left out; `prices:` in kedro-sfn.yml sets others.\n",
        text(&plan.timing.prices.source)
    );
    out
}

/// One line for a headline: "expected 14 s and $0.000430 per run (+2 s, +$0.000040)".
pub fn headline(plan: &Plan, deployed: Option<&Estimate>) -> String {
    let planned = &plan.timing.estimate;
    let mut line = format!(
        "expected {} and {} per run",
        seconds(planned.run_time_s),
        usd(planned.total_usd)
    );
    if let Some(deployed) = deployed {
        let _ = write!(
            line,
            " ({}, {} against the deployed machine)",
            seconds_delta(planned.run_time_s - deployed.run_time_s),
            usd_delta(planned.total_usd - deployed.total_usd)
        );
    }
    line
}

/// Where the durations came from, counted by source.
pub fn durations_sentence(plan: &Plan) -> String {
    let count = |source| {
        plan.tasks
            .iter()
            .filter(|t| t.duration_source == source)
            .count()
    };
    let mut parts = Vec::new();
    let from_history = count(DurationSource::History);
    if from_history > 0 {
        parts.push(format!(
            "{from_history} task(s) from past runs (the median over the last {} successful execution(s))",
            plan.timing.history.executions
        ));
    }
    let from_config = count(DurationSource::Config);
    if from_config > 0 {
        parts.push(format!("{from_config} from `duration_s` in the config"));
    }
    let by_default = count(DurationSource::Default);
    if by_default > 0 {
        parts.push(format!("{by_default} at the default of 1 s per node"));
    }
    let mut sentence = format!("Durations: {}.", parts.join(", "));
    if let Some(note) = &plan.timing.history.note {
        let _ = write!(sentence, " {}", text(note));
    }
    sentence
}

fn path(states: &[String]) -> String {
    let shown: Vec<String> = if states.len() > PATH_SHOWN {
        let head = states[..PATH_SHOWN / 2].iter().map(|s| code(s));
        let tail = states[states.len() - PATH_SHOWN / 2..]
            .iter()
            .map(|s| code(s));
        head.chain(std::iter::once(format!(
            "… {} more …",
            states.len() - PATH_SHOWN
        )))
        .chain(tail)
        .collect()
    } else {
        states.iter().map(|s| code(s)).collect()
    };
    if shown.is_empty() {
        "none".to_string()
    } else {
        shown.join(" → ")
    }
}

/// Seconds: to a hundredth below one, a tenth below ten minutes, then minutes.
pub fn seconds(value: f64) -> String {
    if value < 1.0 {
        format!("{value:.2} s")
    } else if value < 600.0 {
        format!("{value:.1} s")
    } else {
        format!("{:.1} min", value / 60.0)
    }
}

fn seconds_delta(value: f64) -> String {
    if value.abs() < 0.005 {
        "±0 s".to_string()
    } else if value > 0.0 {
        format!("+{}", seconds(value))
    } else {
        format!("−{}", seconds(-value))
    }
}

/// Dollars to three significant digits (a run often costs a fraction of a cent).
pub fn usd(value: f64) -> String {
    if value <= 0.0 || !value.is_finite() {
        return "$0".to_string();
    }
    let decimals = (2 - value.log10().floor() as i32).clamp(2, 9) as usize;
    format!("${value:.decimals$}")
}

/// A change with its size relative to what it was: "+$0.00208 (+12 %)"; the percentage is
/// left out where nothing changed or nothing was there before.
fn with_percent(delta: String, before: f64, after: f64) -> String {
    if before <= 0.0 || !before.is_finite() || !after.is_finite() || delta.starts_with('±') {
        return delta;
    }
    let percent = (after - before) / before * 100.0;
    let shown = if percent.abs() < 10.0 {
        format!("{:.1}", percent.abs())
    } else {
        format!("{:.0}", percent.abs())
    };
    let sign = if percent < 0.0 { '−' } else { '+' };
    format!("{delta} ({sign}{shown} %)")
}

pub(crate) fn usd_delta(value: f64) -> String {
    if value.abs() < 5e-10 {
        "±$0".to_string()
    } else if value > 0.0 {
        format!("+{}", usd(value))
    } else {
        format!("−{}", usd(-value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_keeps_three_significant_digits() {
        assert_eq!(usd(0.000_427_3), "$0.000427");
        assert_eq!(usd(0.012_34), "$0.0123");
        assert_eq!(usd(3.456), "$3.46");
        assert_eq!(usd(0.0), "$0");
        assert_eq!(usd_delta(-0.000_004), "−$0.00000400");
        assert_eq!(usd_delta(0.0), "±$0");
        assert_eq!(
            with_percent(usd_delta(0.000_12), 0.001, 0.001_12),
            "+$0.000120 (+12 %)"
        );
        assert_eq!(
            with_percent(seconds_delta(-0.5), 10.0, 9.5),
            "−0.50 s (−5.0 %)"
        );
        assert_eq!(with_percent(usd_delta(0.0), 1.0, 1.0), "±$0");
        assert_eq!(with_percent(usd_delta(0.5), 0.0, 0.5), "+$0.500");
    }

    #[test]
    fn seconds_and_their_deltas() {
        assert_eq!(seconds(12.04), "12.0 s");
        assert_eq!(seconds(900.0), "15.0 min");
        assert_eq!(seconds(0.043), "0.04 s");
        assert_eq!(seconds_delta(2.0), "+2.0 s");
        assert_eq!(seconds_delta(-0.001), "±0 s");
    }

    #[test]
    fn long_paths_show_their_ends() {
        let states: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        let shown = path(&states);
        assert!(shown.starts_with("`t0` → `t1`"), "{shown}");
        assert!(shown.contains("… 12 more …"), "{shown}");
        assert!(shown.ends_with("`t19`"), "{shown}");
    }
}
