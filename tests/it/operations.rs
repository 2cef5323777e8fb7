//! Schedules and the failure alert against moto (EventBridge Scheduler, EventBridge, SNS,
//! SQS): created with the first deploy, a redeploy writes nothing (counted by the proxy in
//! front of moto, not by kedro-sfn), updated, pruned, what others own never touched; the
//! alert's message as moto's EventBridge renders it; bad expressions and zones refused
//! offline.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::fault_proxy::FaultProxy;
use support::moto::World;
use support::{example_doc_path, example_project, kedro_sfn};

const MACHINE: &str = "spaceflights";
const GROUP: &str = "kedro-sfn-spaceflights";
const RULE: &str = "kedro-sfn-spaceflights-alerts";
const SCHEDULER_ROLE: &str = "arn:aws:iam::123456789012:role/kedro-sfn-scheduler";

/// The example's kedro-sfn.yml with `extra` appended, written into `dir`.
fn config_with(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let base = std::fs::read_to_string(example_project().join("kedro-sfn.yml")).expect("config");
    let path = dir.join(name);
    std::fs::write(&path, format!("{base}\n{extra}")).expect("write config");
    path
}

fn operations_yaml(topic: &str, nightly: &str, weekly: bool, alert: bool) -> String {
    let mut yaml = format!(
        "schedules:\n  nightly:\n    expression: {nightly}\n    timezone: Europe/Paris\n    params: {{run_date: \"2026-01-01\", test_size: 0.3}}\n"
    );
    if weekly {
        yaml.push_str("  weekly:\n    expression: rate(7 days)\n    enabled: false\n");
    }
    yaml.push_str(&format!("schedule_role_arn: {SCHEDULER_ROLE}\n"));
    if alert {
        yaml.push_str(&format!("alerts:\n  sns_topic_arn: {topic}\n"));
    }
    yaml
}

fn deploy(world: &World, proxy: &FaultProxy, config: &Path) -> Output {
    world
        .deploy_example(&image(world))
        .arg("--config")
        .arg(config)
        .envs(proxy.aws_env(&world.moto))
        .output()
        .expect("kedro-sfn runs")
}

/// The example's image in moto's ECR, pushed once per world.
fn image(world: &World) -> String {
    let marker = world.dir.path().join("image-uri");
    if let Ok(uri) = std::fs::read_to_string(&marker) {
        return uri;
    }
    let uri = world.image_in(MACHINE, "v1");
    std::fs::write(&marker, &uri).expect("write");
    uri
}

fn succeeded(output: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Deploys through the proxy; the writes the proxy saw (not what kedro-sfn says it did).
fn deploy_counting(
    world: &World,
    proxy: &FaultProxy,
    config: &Path,
    what: &str,
) -> (String, Value) {
    proxy.post("/__proxy/reset-stats", "{}");
    let stdout = succeeded(&deploy(world, proxy, config), what);
    (stdout, proxy.stats())
}

/// Each operation was called exactly so many times, as the proxy counted.
fn assert_writes(stats: &Value, expected: &[(&str, u64)]) {
    for (operation, times) in expected {
        assert_eq!(
            stats["by_operation"][*operation].as_u64().unwrap_or(0),
            *times,
            "{operation}: {stats:#}"
        );
    }
}

#[test]
fn schedules_and_alert_are_created_kept_updated_pruned_and_never_taken_from_others() {
    let world = World::new();
    let proxy = FaultProxy::start(&world.moto, &[]);
    let topic = world.moto.fixture(&["topic", "pipeline-alerts"])["arn"]
        .as_str()
        .expect("topic")
        .to_string();
    let dir = world.dir.path();
    let full = config_with(
        dir,
        "full.yml",
        &operations_yaml(&topic, "cron(0 6 * * ? *)", true, true),
    );

    // First deploy: the group, two schedules on the alias, the rule with its one target.
    let (stdout, stats) = deploy_counting(&world, &proxy, &full, "first deploy");
    assert_writes(
        &stats,
        &[
            ("scheduler:CreateScheduleGroup", 1),
            ("scheduler:CreateSchedule", 2),
            ("events:PutRule", 1),
            ("events:PutTargets", 1),
        ],
    );
    assert!(
        stdout.contains("schedules: 2 to create, 0 to update, 0 to delete; alert: create"),
        "{stdout}"
    );
    let deployed = world.moto.fixture(&["operations", GROUP, RULE]);
    let machine_arn = world.moto.fixture(&["describe", MACHINE, "live"])["arn"]
        .as_str()
        .expect("arn")
        .to_string();
    assert_eq!(
        deployed["group"]["tags"]["kedro-sfn:state-machine"], MACHINE,
        "{deployed:#}"
    );
    let nightly = &deployed["schedules"]["nightly"];
    assert_eq!(nightly["expression"], "cron(0 6 * * ? *)");
    assert_eq!(nightly["timezone"], "Europe/Paris");
    assert_eq!(nightly["state"], "ENABLED");
    assert_eq!(
        nightly["target"],
        format!("{machine_arn}:live"),
        "the alias, not the machine"
    );
    assert_eq!(nightly["role"], SCHEDULER_ROLE);
    assert_eq!(
        nightly["input"],
        serde_json::json!({"params": {"run_date": "2026-01-01", "test_size": 0.3}})
    );
    assert_eq!(deployed["schedules"]["weekly"]["state"], "DISABLED");
    let rule = &deployed["rule"];
    assert_eq!(rule["tags"]["kedro-sfn:state-machine"], MACHINE);
    assert_eq!(
        rule["pattern"]["detail"]["stateMachineArn"][0],
        machine_arn.as_str()
    );
    assert_eq!(
        rule["pattern"]["detail"]["status"],
        serde_json::json!(["ABORTED", "FAILED", "TIMED_OUT"])
    );
    assert_eq!(rule["targets"][0]["arn"], topic.as_str());
    // The plan says when the schedule runs next, in its zone, and what it costs a month.
    let summary = std::fs::read_to_string(world.out().join("summary.md")).expect("summary");
    assert!(summary.contains("### Schedules and alerts"), "{summary}");
    assert!(summary.contains("| Scheduled runs |"), "{summary}");
    assert!(
        summary.contains("06:00"),
        "next runs at 06:00 Paris time: {summary}"
    );

    // Nothing changed: the proxy sees reads only.
    let (stdout, stats) = deploy_counting(&world, &proxy, &full, "redeploy");
    assert!(stdout.contains("no changes"), "{stdout}");
    assert_eq!(stats["writes"], 0, "a no-op deploy wrote: {stats:#}");
    for read in [
        "scheduler:GetScheduleGroup",
        "scheduler:ListSchedules",
        "events:DescribeRule",
    ] {
        assert_eq!(stats["by_operation"][read], 1, "{read}: {stats:#}");
    }

    // A schedule made by hand in the group is neither updated nor deleted.
    world.moto.fixture(&[
        "schedule",
        GROUP,
        "handmade",
        &format!("{machine_arn}:live"),
        SCHEDULER_ROLE,
    ]);
    // Another time, no weekly schedule, no alert: one update, two deletions, the rule gone.
    let changed = config_with(
        dir,
        "changed.yml",
        &operations_yaml(&topic, "cron(30 7 ? * MON-FRI *)", false, false),
    );
    let (_, stats) = deploy_counting(&world, &proxy, &changed, "change");
    assert_writes(
        &stats,
        &[
            ("scheduler:UpdateSchedule", 1),
            ("scheduler:DeleteSchedule", 1),
            ("events:DeleteRule", 1),
            ("scheduler:DeleteScheduleGroup", 0),
        ],
    );
    let deployed = world.moto.fixture(&["operations", GROUP, RULE]);
    let names: Vec<&String> = deployed["schedules"]
        .as_object()
        .expect("schedules")
        .keys()
        .collect();
    assert_eq!(names, ["handmade", "nightly"], "{deployed:#}");
    assert_eq!(
        deployed["schedules"]["nightly"]["expression"],
        "cron(30 7 ? * MON-FRI *)"
    );
    assert!(deployed["rule"].is_null(), "{deployed:#}");

    // The config asks for a schedule of the hand-made one's name: refused, nothing written.
    let clash = config_with(
        dir,
        "clash.yml",
        &format!(
            "schedules:\n  handmade:\n    expression: rate(1 hour)\nschedule_role_arn: {SCHEDULER_ROLE}\n"
        ),
    );
    proxy.post("/__proxy/reset-stats", "{}");
    let refused = deploy(&world, &proxy, &clash);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("schedule kedro-sfn-spaceflights/handmade"),
        "{stderr}"
    );
    assert_eq!(proxy.stats()["writes"], 0, "{:#}", proxy.stats());
}

#[test]
fn the_alert_names_the_run_the_failed_task_and_the_console_and_ignores_successes() {
    let world = World::new();
    let proxy = FaultProxy::start(&world.moto, &[]);
    let topic = world.moto.fixture(&["topic", "pipeline-alerts"])["arn"]
        .as_str()
        .expect("topic")
        .to_string();
    let config = config_with(
        world.dir.path(),
        "alert.yml",
        &format!("alerts:\n  sns_topic_arn: {topic}\n  statuses: [FAILED]\n"),
    );
    succeeded(&deploy(&world, &proxy, &config), "deploy");
    let machine_arn = world.moto.fixture(&["describe", MACHINE, "live"])["arn"]
        .as_str()
        .expect("arn")
        .to_string();
    let delivered = world.moto.fixture(&["alert-message", RULE, &machine_arn]);
    let messages = delivered["messages"].as_array().expect("messages");
    assert_eq!(
        messages.len(),
        1,
        "only the FAILED run alerts: {delivered:#}"
    );
    let message: String = serde_json::from_str(messages[0].as_str().expect("text"))
        .expect("the template is a JSON string: SNS delivers it as plain text");
    for expected in [
        "run-failed",
        machine_arn.as_str(),
        "FAILED",
        "split_data_node.Failed",
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:spaceflights:run-failed",
    ] {
        assert!(message.contains(expected), "{expected} not in {message}");
    }
}

#[test]
fn bad_expressions_and_zones_are_refused_offline_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (schedule, expected) in [
        (
            "expression: cron(0 6 * * *)",
            "has 5 fields; Scheduler's cron has 6",
        ),
        (
            "expression: cron(0 6 * * ? *)\n    timezone: Europe/Pariss",
            "use an IANA time zone name",
        ),
        ("expression: rate(5 minute)", "write rate(5 minutes)"),
    ] {
        let config = config_with(
            dir.path(),
            "bad.yml",
            &format!(
                "schedules:\n  nightly:\n    {schedule}\nschedule_role_arn: {SCHEDULER_ROLE}\n"
            ),
        );
        let output = kedro_sfn()
            .arg("plan")
            .arg("--offline")
            .arg("--project")
            .arg(example_project())
            .arg("--config")
            .arg(&config)
            .arg("--pipeline-json")
            .arg(example_doc_path())
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .expect("kedro-sfn runs");
        assert_eq!(output.status.code(), Some(1), "{schedule}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("schedules.nightly"), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    // Schedules without the role Scheduler assumes.
    let config = config_with(
        dir.path(),
        "norole.yml",
        "schedules:\n  nightly:\n    expression: rate(1 day)\n",
    );
    let output = kedro_sfn()
        .args(["plan", "--offline", "--project"])
        .arg(example_project())
        .arg("--config")
        .arg(&config)
        .arg("--pipeline-json")
        .arg(example_doc_path())
        .output()
        .expect("kedro-sfn runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("schedule_role_arn"), "{stderr}");
}
