//! Inputs that once panicked or hung the binary: a closed or full stdout, a config or a
//! pipeline document that is a FIFO or a device, an endpoint where nothing listens. Each
//! ends, quickly, with a message (issue 27, first deliverable).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{example_doc_path, kedro_sfn};

/// Runs the command to its end, failing the test if it takes longer than `limit` (a hang).
fn within(command: &mut Command, limit: Duration) -> std::process::Output {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kedro-sfn starts");
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("kedro-sfn still ran after {limit:?}: {command:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn offline_plan(out: &std::path::Path) -> Command {
    let mut command = kedro_sfn();
    command
        .arg("plan")
        .arg("--offline")
        .arg("--pipeline-json")
        .arg(example_doc_path())
        .arg("--out")
        .arg(out);
    command
}

#[test]
fn a_full_or_closed_stdout_ends_without_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = within(
        offline_plan(&dir.path().join("full"))
            .stdout(std::fs::File::create("/dev/full").expect("/dev/full opens")),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(full.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("could not be written to stdout") && stderr.contains("No space left"),
        "{stderr}"
    );
    // The plan itself was made.
    assert!(dir.path().join("full/plan.json").is_file());

    // A reader that closes the pipe at once: the rest is dropped quietly.
    let mut closed = offline_plan(&dir.path().join("closed"));
    let mut child = closed
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn a_fifo_or_a_device_is_refused_as_config_or_document_without_being_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("kedro-sfn.yml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs")
        .success());
    let output = within(
        offline_plan(&dir.path().join("a"))
            .arg("--config")
            .arg(&fifo)
            .stdout(Stdio::null()),
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot read the config file") && stderr.contains("not a regular file"),
        "{stderr}"
    );

    let mut document = kedro_sfn();
    document
        .args(["plan", "--offline", "--pipeline-json", "/dev/zero", "--out"])
        .arg(dir.path().join("b"))
        .stdout(Stdio::null());
    let output = within(&mut document, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/dev/zero") && stderr.contains("not a regular file"),
        "{stderr}"
    );
}

#[test]
fn an_endpoint_that_refuses_connections_ends_within_seconds_and_is_named() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = kedro_sfn();
    plan.current_dir(dir.path())
        .args([
            "plan",
            "--region",
            "eu-west-1",
            "--account-id",
            "123456789012",
        ])
        .arg("--pipeline-json")
        .arg(example_doc_path())
        .arg("--out")
        .arg(dir.path().join("out"))
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdout(Stdio::null());
    let started = Instant::now();
    let output = within(&mut plan, Duration::from_secs(60));
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("nothing accepts connections at {endpoint}")),
        "{stderr}"
    );
    // 15 attempts with backoff took about 20 s; refused is final, so one attempt per read.
    assert!(took < Duration::from_secs(10), "took {took:?}: {stderr}");
}

#[test]
fn a_failed_plan_leaves_no_stale_plan_in_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let good = within(
        offline_plan(&out).stdout(Stdio::null()),
        Duration::from_secs(60),
    );
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(out.join("plan.json").is_file() && out.join("state-machine.asl.json").is_file());
    std::fs::write(out.join("notes.txt"), "mine").expect("writes");

    // A config that does not load: the plan fails before the pipeline is read.
    let config = dir.path().join("kedro-sfn.yml");
    std::fs::write(&config, "lambda: [not, a, mapping]\n").expect("writes");
    let failed = within(
        offline_plan(&out)
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null()),
        Duration::from_secs(60),
    );
    assert_eq!(failed.status.code(), Some(1));
    for stale in ["plan.json", "state-machine.asl.json", "summary.md"] {
        assert!(
            !out.join(stale).exists(),
            "{stale} of the earlier plan is still in --out"
        );
    }
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).expect("kept"),
        "mine"
    );
}

#[test]
fn terminal_escapes_in_names_are_shown_not_obeyed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kedro-sfn.yml");
    // A node that does not exist, named with an escape that would clear the screen.
    std::fs::write(&config, "nodes:\n  \"train\\e[2J\":\n    memory_mb: 1024\n").expect("writes");
    let output = within(
        offline_plan(&dir.path().join("out"))
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null()),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("train\\u{1b}[2J"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "a raw escape reached the terminal: {stderr:?}"
    );
}

#[test]
fn nonsense_in_the_config_or_the_flags_is_refused_before_anything_is_planned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kedro-sfn.yml");
    let cases: [(&str, &[&str], &str, &str); 8] = [
        ("region: eu-west-99\n", &[], "region", "not an AWS region"),
        ("account_id: abc\n", &[], "account_id", "12 digits"),
        (
            "deploy: {concurrency: 0}\n",
            &[],
            "deploy.concurrency",
            "1 to 64",
        ),
        (
            "prices: {lambda_gb_second_x86_64: -1}\n",
            &[],
            "prices.lambda_gb_second_x86_64",
            "0 or more",
        ),
        (
            "lambda: {environment: {AWS_REGION: x}}\n",
            &[],
            "lambda.environment",
            "set by Lambda",
        ),
        (
            "state_machine: {role_arn: !Ref Role}\n",
            &[],
            "state_machine.role_arn",
            "`!Ref`",
        ),
        ("", &["--region", "../../x"], "region", "not an AWS region"),
        (
            "",
            &["--state-machine-name", "my machine!"],
            "state_machine.name",
            "letters, digits",
        ),
    ];
    for (yaml, flags, key, words) in cases {
        std::fs::write(&config, yaml).expect("config");
        let out = dir.path().join("out");
        let output = within(
            offline_plan(&out).arg("--config").arg(&config).args(flags),
            Duration::from_secs(60),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{yaml}{flags:?}: accepted");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains(&format!("at `{key}`")) && stderr.contains(words),
            "{yaml}{flags:?}: {stderr}"
        );
        assert!(
            !out.join("plan.json").exists(),
            "a refused config made a plan"
        );
    }
}

/// Flags a user might pass to `plan --offline`, sensible and not.
const FLAGS: [&[&str]; 20] = [
    &["--group-by", "none"],
    &["--group-by", "sideways"],
    &["--group-by", ""],
    &["--region", "eu-west-1"],
    &["--region", "eu-west-99"],
    &["--account-id", "123456789012"],
    &["--account-id", "12"],
    &["--state-machine-name", "flights"],
    &["--state-machine-name", "my machine!"],
    &["--state-machine-name", "\u{1b}[2J"],
    &["--env", "aws"],
    &["--env", "nosuch"],
    &["--pipeline", "__default__"],
    &["--pipeline", "nosuch"],
    &["--concurrency", "0"],
    &["--concurrency", "-3"],
    &["--history", "abc"],
    &["--lambda-role-arn", "not-an-arn"],
    &["--no-cache"],
    &["--unknown-flag"],
];

#[test]
fn generated_flag_combinations_end_with_a_plan_or_a_message_never_a_panic() {
    use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut runner = TestRunner::new_with_rng(
        RunnerConfig {
            cases: 48,
            failure_persistence: None,
            ..RunnerConfig::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let outcomes = std::cell::RefCell::new((0usize, 0usize));
    let picks = proptest::collection::vec(0..FLAGS.len(), 0..4);
    runner
        .run(&picks, |picks| {
            let out = dir.path().join("out");
            let _ = std::fs::remove_dir_all(&out);
            let mut command = offline_plan(&out);
            for &i in &picks {
                command.args(FLAGS[i]);
            }
            let output = within(command.stdout(Stdio::null()), Duration::from_secs(60));
            let stderr = String::from_utf8_lossy(&output.stderr);
            proptest::prop_assert!(!stderr.contains("panicked"), "{picks:?}: {stderr}");
            proptest::prop_assert!(
                !stderr.contains('\u{1b}'),
                "{picks:?}: a raw escape reached the terminal"
            );
            match output.status.code() {
                Some(0) => {
                    outcomes.borrow_mut().0 += 1;
                    proptest::prop_assert!(out.join("plan.json").is_file(), "{picks:?}");
                }
                // 2: the flags themselves (clap); 1: what they name.
                Some(1) | Some(2) => {
                    outcomes.borrow_mut().1 += 1;
                    proptest::prop_assert!(stderr.contains("error"), "{picks:?}: {stderr}");
                    proptest::prop_assert!(
                        !out.join("plan.json").exists(),
                        "{picks:?}: failed, yet a plan was left"
                    );
                }
                code => proptest::prop_assert!(false, "{picks:?}: exit {code:?}: {stderr}"),
            }
            Ok(())
        })
        .expect("every combination ends with a plan or a message");
    let (planned, refused) = *outcomes.borrow();
    println!("48 flag combinations: {planned} planned, {refused} refused");
    assert!(
        planned > 3 && refused > 20,
        "{planned} planned, {refused} refused"
    );
}

/// The campaign (`tests/fixtures/bad-input-campaign.json`): bad configs, flags and pipeline
/// documents, each with the exit code and the words its message must have (the key it names,
/// what is allowed, the fix). Every case runs the binary; none may panic, hang, leave a
/// plan, or be accepted.
#[test]
fn the_bad_input_campaign_is_refused_case_by_case_with_its_message() {
    let path = crate::support::repo_root().join("tests/fixtures/bad-input-campaign.json");
    let campaign: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the campaign")).expect("JSON");
    let cases = campaign["cases"].as_array().expect("cases");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("a name");
        let out = dir.path().join("out");
        let _ = std::fs::remove_dir_all(&out);
        let mut command = kedro_sfn();
        command
            .args(["plan", "--offline", "--out"])
            .arg(&out)
            .stdout(Stdio::null());
        match &case["document"] {
            serde_json::Value::Null => command.arg("--pipeline-json").arg(example_doc_path()),
            document => {
                let file = dir.path().join("document.json");
                let text = match document {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                std::fs::write(&file, text).expect("document");
                command.arg("--pipeline-json").arg(file)
            }
        };
        if let Some(yaml) = case["config"].as_str() {
            let file = dir.path().join("kedro-sfn.yml");
            std::fs::write(&file, yaml).expect("config");
            command.arg("--config").arg(file);
        }
        for flag in case["flags"].as_array().into_iter().flatten() {
            command.arg(flag.as_str().expect("a flag"));
        }
        let output = within(&mut command, Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut wanted: Vec<String> = case["stderr"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect();
        if let Some(key) = case["key"].as_str() {
            wanted.push(format!("at `{key}`"));
        }
        let exit = case["exit"].as_i64().unwrap_or(1) as i32;
        let mut wrong = Vec::new();
        if output.status.code() != Some(exit) {
            wrong.push(format!("exit {:?}, not {exit}", output.status.code()));
        }
        wrong.extend(
            wanted
                .iter()
                .filter(|w| !stderr.contains(w.as_str()))
                .map(|w| format!("no `{w}`")),
        );
        if stderr.contains("panicked") || stderr.contains('\u{1b}') {
            wrong.push("a panic or a raw escape".into());
        }
        if out.join("plan.json").exists() {
            wrong.push("a plan was left".into());
        }
        if !wrong.is_empty() {
            failures.push(format!("{name}: {}\n  {}", wrong.join("; "), stderr.trim()));
        }
    }
    println!("bad-input campaign: {} cases", cases.len());
    assert!(cases.len() >= 100, "the campaign shrank to {}", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
