//! Every check rule, through `kedro-sfn check` as a user runs it: each offender is named,
//! all at once, with what to do.

use crate::support;

use support::{doc, run_on_doc};

const CSV: &str = "pandas.CSVDataset";

#[test]
fn datasets_between_tasks_must_be_on_shared_storage() {
    let pipeline = doc(
        &[
            ("a", &["raw"], &["mem", "local", "missing"]),
            ("b", &["mem"], &["out_b"]),
            ("c", &["local", "missing"], &["out_c"]),
        ],
        &[
            ("raw", CSV, Some("s3://bucket/raw.csv")),
            ("mem", "kedro.io.MemoryDataset", None),
            ("local", CSV, Some("data/02_intermediate/local.csv")),
            ("out_b", CSV, Some("s3://bucket/b.csv")),
            ("out_c", CSV, Some("gs://bucket/c.csv")),
        ],
    );
    let (ok, _, stderr, _) = run_on_doc("check", &pipeline, None, &["--group-by", "none"]);
    assert!(!ok);
    for dataset in ["`mem`", "`local`", "`missing`"] {
        assert!(stderr.contains(dataset), "{dataset} not named:\n{stderr}");
    }
    assert_eq!(
        stderr.matches("error[dataset-not-shared]").count(),
        3,
        "{stderr}"
    );
    assert!(stderr.contains("--group-by memory"), "{stderr}");
    assert!(
        stderr.contains("data/02_intermediate/local.csv"),
        "{stderr}"
    );
    assert!(stderr.contains("not in the catalog"), "{stderr}");

    // Grouped by memory, the same pipeline runs: the three nodes share one task.
    let (ok, stdout, stderr, _) = run_on_doc("check", &pipeline, None, &["--group-by", "memory"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("3 nodes in 1 tasks"), "{stdout}");
}

#[test]
fn free_inputs_must_be_remote() {
    let pipeline = doc(
        &[(
            "a",
            &[
                "local_raw",
                "mem_raw",
                "absent_raw",
                "s3_raw",
                "params:x",
                "parameters",
            ],
            &["out"],
        )],
        &[
            ("local_raw", CSV, Some("/home/me/raw.csv")),
            ("mem_raw", "MemoryDataset", None),
            ("s3_raw", CSV, Some("s3://bucket/raw.csv")),
            ("out", CSV, Some("s3://bucket/out.csv")),
        ],
    );
    let (ok, _, stderr, _) = run_on_doc("check", &pipeline, None, &[]);
    assert!(!ok);
    assert_eq!(
        stderr.matches("error[free-input-not-remote]").count(),
        3,
        "{stderr}"
    );
    for dataset in ["`local_raw`", "`mem_raw`", "`absent_raw`"] {
        assert!(stderr.contains(dataset), "{dataset} not named:\n{stderr}");
    }
    assert!(!stderr.contains("`s3_raw`"), "{stderr}");
    assert!(
        !stderr.contains("params:x"),
        "parameters are not datasets:\n{stderr}"
    );
}

#[test]
fn resources_outside_lambdas_range_name_the_config_key() {
    let pipeline = doc(
        &[("a", &["raw"], &["out"]), ("b", &["out"], &["out2"])],
        &[
            ("raw", CSV, Some("s3://b/raw.csv")),
            ("out", CSV, Some("s3://b/out.csv")),
            ("out2", CSV, Some("s3://b/out2.csv")),
        ],
    );
    let config = "lambda:\n  memory_mb: 64\nnodes:\n  b:\n    timeout_s: 1200\n    ephemeral_storage_mb: 20000\n";
    let (ok, _, stderr, _) = run_on_doc("check", &pipeline, Some(config), &[]);
    assert!(!ok);
    assert_eq!(
        stderr.matches("error[resource-out-of-range]").count(),
        3,
        "{stderr}"
    );
    assert!(stderr.contains("lambda.memory_mb"), "{stderr}");
    assert!(stderr.contains("nodes.b.timeout_s"), "{stderr}");
    assert!(stderr.contains("nodes.b.ephemeral_storage_mb"), "{stderr}");
    assert!(stderr.contains("128-10240"), "{stderr}");
    assert!(stderr.contains("15 minutes"), "{stderr}");
}

#[test]
fn an_unknown_pipeline_lists_the_ones_the_project_has() {
    let mut pipeline = doc(&[], &[]);
    pipeline["pipeline"] = "trainig".into();
    pipeline["pipelines"] = serde_json::json!(["__default__", "training"]);
    let (ok, _, stderr, _) = run_on_doc("check", &pipeline, None, &[]);
    assert!(!ok);
    assert!(stderr.contains("no pipeline named `trainig`"), "{stderr}");
    assert!(stderr.contains("__default__, training"), "{stderr}");
}

#[test]
fn config_naming_a_node_that_does_not_exist_suggests_the_right_one() {
    let pipeline = doc(
        &[("ds.train_model_node", &["raw"], &["model"])],
        &[
            ("raw", CSV, Some("s3://b/raw.csv")),
            ("model", CSV, Some("s3://b/m.csv")),
        ],
    );
    let config = "nodes:\n  train_model_node: {memory_mb: 2048}\ntags:\n  gpu: {memory_mb: 4096}\n";
    let (ok, _, stderr, _) = run_on_doc("check", &pipeline, Some(config), &[]);
    assert!(!ok);
    assert!(stderr.contains("error[config-unknown-node]"), "{stderr}");
    assert!(
        stderr.contains("did you mean `ds.train_model_node`"),
        "{stderr}"
    );
    assert!(stderr.contains("warning[config-unknown-tag]"), "{stderr}");
}

#[test]
fn a_group_expected_to_outlast_lambdas_limit_is_refused() {
    let pipeline = doc(
        &[("a", &["raw"], &["mem"]), ("b", &["mem"], &["out"])],
        &[
            ("raw", CSV, Some("s3://b/raw.csv")),
            ("out", CSV, Some("s3://b/out.csv")),
        ],
    );
    let config = "nodes:\n  a: {duration_s: 600}\n  b: {duration_s: 600}\n";
    let (ok, _, stderr, _) = run_on_doc("check", &pipeline, Some(config), &[]);
    assert!(!ok);
    assert!(stderr.contains("error[task-too-long]"), "{stderr}");
    assert!(stderr.contains("1200 s"), "{stderr}");
}

#[test]
fn a_single_node_too_long_for_lambda_is_not_told_to_regroup() {
    let pipeline = doc(
        &[("a", &["raw"], &["out"])],
        &[
            ("raw", CSV, Some("s3://b/raw.csv")),
            ("out", CSV, Some("s3://b/out.csv")),
        ],
    );
    let config = "nodes:\n  a: {duration_s: 1200}\n";
    let (ok, _, stderr, _) = run_on_doc("check", &pipeline, Some(config), &["--group-by", "none"]);
    assert!(!ok);
    assert!(stderr.contains("error[task-too-long]"), "{stderr}");
    assert!(stderr.contains("split the node"), "{stderr}");
    assert!(
        !stderr.contains("--group-by none"),
        "regrouping cannot shorten one node:\n{stderr}"
    );
}

#[test]
fn mixed_architectures_are_refused() {
    let pipeline = doc(
        &[("a", &["raw"], &["out"]), ("b", &["out"], &["out2"])],
        &[
            ("raw", CSV, Some("s3://b/raw.csv")),
            ("out", CSV, Some("s3://b/out.csv")),
            ("out2", CSV, Some("s3://b/out2.csv")),
        ],
    );
    let config = "lambda: {architecture: x86_64}\nnodes:\n  a: {architecture: arm64}\n";
    let (ok, _, stderr, _) = run_on_doc("check", &pipeline, Some(config), &[]);
    assert!(!ok);
    assert!(stderr.contains("error[mixed-architectures]"), "{stderr}");
}

#[test]
fn a_bad_config_key_names_its_path() {
    let pipeline = doc(&[("a", &[], &[])], &[]);
    let (ok, _, stderr, _) = run_on_doc("check", &pipeline, Some("lambda:\n  memroy_mb: 2\n"), &[]);
    assert!(!ok);
    assert!(stderr.contains("lambda.memroy_mb"), "{stderr}");
    assert!(
        !stderr.contains("`: lambda"),
        "the key is named once: {stderr}"
    );
    assert!(stderr.contains("kedro-sfn.yml"), "{stderr}");
}

#[test]
fn plan_refuses_with_a_summary_that_says_why() {
    let pipeline = doc(
        &[("a", &["raw"], &["out"])],
        &[
            ("raw", CSV, Some("data/raw.csv")),
            ("out", CSV, Some("s3://b/out.csv")),
        ],
    );
    let (ok, _, stderr, dir) = run_on_doc("plan", &pipeline, None, &[]);
    assert!(!ok);
    assert!(stderr.contains("free-input-not-remote"), "{stderr}");
    let summary = std::fs::read_to_string(dir.path().join("out/summary.md")).expect("summary");
    assert!(summary.contains("refused"), "{summary}");
    assert!(summary.contains("free-input-not-remote"), "{summary}");
    assert!(!dir.path().join("out/state-machine.asl.json").exists());
}

#[test]
fn a_malformed_document_is_refused_with_where() {
    let mut pipeline = doc(&[("a", &[], &[])], &[]);
    pipeline["nodes"][0]["inputs"] = serde_json::json!("not a list");
    let (ok, _, stderr, _) = run_on_doc("check", &pipeline, None, &[]);
    assert!(!ok);
    assert!(stderr.contains("nodes[0].inputs"), "{stderr}");
    let mut pipeline = doc(&[], &[]);
    pipeline["format"] = "kedro-sfn/pipeline@9".into();
    let (ok, _, stderr, _) = run_on_doc("check", &pipeline, None, &[]);
    assert!(!ok);
    assert!(stderr.contains("kedro-sfn/pipeline@9"), "{stderr}");
}

#[test]
fn nonsense_numbers_in_the_config_are_refused() {
    let pipeline = doc(
        &[("a", &["raw"], &["out"])],
        &[
            ("raw", CSV, Some("s3://b/raw.csv")),
            ("out", CSV, Some("s3://b/out.csv")),
        ],
    );
    let config = "state_machine: {timeout_s: 0}\nnodes:\n  a: {duration_s: -5}\n";
    let (ok, _, stderr, _) = run_on_doc("check", &pipeline, Some(config), &[]);
    assert!(!ok);
    assert_eq!(
        stderr.matches("error[invalid-setting]").count(),
        2,
        "{stderr}"
    );
    assert!(stderr.contains("state_machine.timeout_s"), "{stderr}");
    assert!(stderr.contains("nodes.a.duration_s"), "{stderr}");
}
