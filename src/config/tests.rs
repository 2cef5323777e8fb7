use super::credentials::CREDENTIALS_ENV;
use super::*;

const FULL: &str = r#"
state_machine:
  name: spaceflights
  timeout_s: 7200
env: aws
pipeline: __default__
group_by: memory
region: eu-west-1
account_id: "123456789012"
lambda:
  memory_mb: 1024
  timeout_s: 900
  ephemeral_storage_mb: 512
  architecture: x86_64
  environment: {LOG_LEVEL: INFO}
tags:
  heavy: {memory_mb: 4096}
nodes:
  train_model_node: {memory_mb: 3008, duration_s: 120}
"#;

#[test]
fn credentials_map_keys_to_secrets_and_parameters_and_name_their_grants() {
    let file = parse_config(
        "region: eu-west-1\naccount_id: \"123456789012\"\ncredentials:\n  db: secretsmanager:team/db\n  api: ssm:/team/api\n",
        "kedro-sfn.yml",
    )
    .expect("valid");
    let config = Config { source: None, file };
    assert_eq!(
        config.credentials_mapping().as_deref(),
        Some(r#"{"api":"ssm:/team/api","db":"secretsmanager:team/db"}"#)
    );
    assert_eq!(
        config.credential_grants(),
        [
            "ssm:GetParameter on arn:aws:ssm:eu-west-1:123456789012:parameter/team/api (credentials key api)",
            "secretsmanager:GetSecretValue on arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/db-?????? (credentials key db)",
        ]
    );
    // Every function and task gets the mapping: names, never values.
    let settings = config.node_settings("n", &[] as &[&str]);
    assert!(settings.environment[CREDENTIALS_ENV].contains("secretsmanager:team/db"));
    assert_eq!(Config::default().credentials_mapping(), None);
    assert!(!Config::default()
        .node_settings("n", &[] as &[&str])
        .environment
        .contains_key(CREDENTIALS_ENV));
}

#[test]
fn a_credentials_source_that_is_not_secretsmanager_or_ssm_is_refused_with_both_forms() {
    for bad in ["vault:x", "secretsmanager:", "db-password", "ssm:a b"] {
        let error = parse_config(&format!("credentials:\n  db: \"{bad}\"\n"), "kedro-sfn.yml")
            .expect_err(bad)
            .to_string();
        assert!(
            error.contains("credentials.db") && error.contains("secretsmanager:NAME"),
            "{bad}: {error}"
        );
    }
}

#[test]
fn the_documented_example_parses() {
    let file = parse_config(FULL, "kedro-sfn.yml").expect("valid config");
    assert_eq!(file.state_machine.name.as_deref(), Some("spaceflights"));
    assert_eq!(file.group_by, Some(GroupBy::Memory));
    assert_eq!(file.nodes["train_model_node"].memory_mb, Some(3008));
}

#[test]
fn the_reference_in_the_docs_parses() {
    let page = include_str!("../../docs/configuration.md");
    let block = page
        .split_once("```yaml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("docs/configuration.md has a yaml block");
    let file = parse_config(block, "docs/configuration.md").expect("the reference parses");
    assert_eq!(file.prices.state_transitions_per_thousand, Some(0.025));
    assert_eq!(file.lambda.duration_s, Some(1.0));
}

#[test]
fn json_is_accepted_as_yaml() {
    let file = parse_config(r#"{"env": "aws", "lambda": {"memory_mb": 2048}}"#, "c.json")
        .expect("json config");
    assert_eq!(file.lambda.memory_mb, Some(2048));
}

#[test]
fn unknown_keys_name_their_path() {
    let error = parse_config("lambda:\n  memroy_mb: 1\n", "kedro-sfn.yml").unwrap_err();
    let text = error.to_string();
    assert!(text.contains("lambda.memroy_mb"), "{text}");
    assert!(text.contains("unknown field"), "{text}");
    let error = parse_config("nodes:\n  a: {cpus: 2}\n", "k.yml").unwrap_err();
    assert!(error.to_string().contains("nodes.a.cpus"), "{error}");
    let error = parse_config("ecs:\n  cluster: c\n  subnet: [s]\n", "k.yml").unwrap_err();
    assert!(error.to_string().contains("ecs.subnet"), "{error}");
}

#[test]
fn unquoted_account_ids_keep_their_twelve_digits() {
    let file = parse_config("account_id: 012345678901\n", "k.yml");
    // YAML 1.2 reads a leading zero as decimal; padding restores it.
    assert_eq!(
        file.expect("parses").account_id.as_deref(),
        Some("012345678901")
    );
}

#[test]
fn node_beats_tag_beats_default() {
    let config = Config {
        source: None,
        file: parse_config(FULL, "k.yml").expect("valid"),
    };
    let trained = config.node_settings("train_model_node", &["heavy"]);
    assert_eq!(trained.memory_mb.value, 3008);
    assert_eq!(
        trained.memory_mb.origin.to_string(),
        "nodes.train_model_node.memory_mb"
    );
    assert_eq!(trained.duration_s.value, 120.0);
    assert_eq!(
        trained.duration_s.origin.to_string(),
        "nodes.train_model_node.duration_s"
    );
    let heavy = config.node_settings("x", &["heavy"]);
    assert_eq!(heavy.memory_mb.value, 4096);
    let plain = config.node_settings("y", &[] as &[&str]);
    assert_eq!(plain.memory_mb.value, 1024);
    assert_eq!(plain.memory_mb.origin.to_string(), "lambda.memory_mb");
    assert_eq!(plain.environment["LOG_LEVEL"], "INFO");
    let empty = Config::default().node_settings("y", &[] as &[&str]);
    assert_eq!(empty.timeout_s.value, defaults::TIMEOUT_S);
    assert_eq!(empty.timeout_s.origin.to_string(), "default");
}

#[test]
fn flags_beat_the_file() {
    let mut config = Config {
        source: None,
        file: parse_config(FULL, "k.yml").expect("valid"),
    };
    config.apply(&FlagOverrides {
        env: Some("prod".into()),
        group_by: Some(GroupBy::None),
        ..Default::default()
    });
    assert_eq!(config.file.env.as_deref(), Some("prod"));
    assert_eq!(config.group_by(), GroupBy::None);
    assert_eq!(config.file.region.as_deref(), Some("eu-west-1"));
}

#[test]
fn type_errors_are_said_without_rust_type_names() {
    for (text, words) in [
        (
            "lambda:\n  memory_mb: 99999999999999\n",
            "a whole number from 0 to 4294967295",
        ),
        ("account_id: [1]\n", "an AWS account id: 12 digits"),
        ("lambda: [1]\n", "settings such as `memory_mb: 2048`"),
        ("deploy: {concurrency: -1}\n", "a whole number of 0 or more"),
        ("lambda: {duration_s: x}\n", "expected a number"),
    ] {
        let message = parse_config(text, "k.yml").unwrap_err().to_string();
        assert!(message.contains(words), "{text}: {message}");
        for rust in ["u32", "u64", "usize", "f64", "struct ", "enum Raw"] {
            assert!(!message.contains(rust), "{text}: {message}");
        }
    }
}

/// Values a user might write anywhere, sensible and not.
const VALUES: [&str; 24] = [
    "1",
    "0",
    "-1",
    "99999999999999",
    "3.5",
    ".inf",
    "''",
    "x",
    "eu-west-1",
    "eu-west-99",
    "'123456789012'",
    "abc",
    "[1]",
    "{a: 1}",
    "!Ref x",
    "true",
    "null",
    "'arn:aws:iam::123456789012:role/r'",
    "not-an-arn",
    "\"tab\\there\"",
    "é",
    "AWS_REGION",
    "'  '",
    "~",
];
/// Keys where they may appear, and some that may not.
const KEYS: [&str; 22] = [
    "region",
    "account_id",
    "env",
    "pipeline",
    "group_by",
    "state_machine.name",
    "state_machine.alias",
    "state_machine.role_arn",
    "state_machine.timeout_s",
    "state_machine.logging.level",
    "lambda.memory_mb",
    "lambda.environment.KEY",
    "lambda.role_arn",
    "nodes.train.timeout_s",
    "tags.heavy.runner",
    "image.repository",
    "deploy.concurrency",
    "prices.lambda_gb_second_x86_64",
    "ecs.ephemeral_storage_gb",
    "credentials.db",
    "unknown_key",
    "lambda.unknown",
];

/// The YAML for dotted keys set to values.
fn yaml_of(pairs: &[(usize, usize)]) -> String {
    let mut tree = serde_yaml::Mapping::new();
    for &(key, value) in pairs {
        let value: serde_yaml::Value =
            serde_yaml::from_str(VALUES[value]).unwrap_or(serde_yaml::Value::Null);
        let mut node = &mut tree;
        let parts: Vec<&str> = KEYS[key].split('.').collect();
        for part in &parts[..parts.len() - 1] {
            let entry = node
                .entry(serde_yaml::Value::from(*part))
                .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
            if !entry.is_mapping() {
                *entry = serde_yaml::Value::Mapping(Default::default());
            }
            node = entry.as_mapping_mut().expect("a mapping");
        }
        node.insert(serde_yaml::Value::from(parts[parts.len() - 1]), value);
    }
    let mut text = serde_yaml::to_string(&tree).unwrap_or_default();
    // A tag survives only as text: put the `!Ref` back where it was written.
    text = text.replace("'!Ref x'", "!Ref x");
    text
}

#[test]
fn generated_configs_are_read_or_refused_with_the_key_never_a_panic() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        RunnerConfig {
            cases: 512,
            failure_persistence: None,
            ..RunnerConfig::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let pairs = proptest::collection::vec((0..KEYS.len(), 0..VALUES.len()), 1..6);
    let counts = std::cell::RefCell::new((0usize, 0usize));
    runner
        .run(&pairs, |pairs| {
            let text = yaml_of(&pairs);
            let outcome = parse_config(&text, "k.yml")
                .and_then(|file| super::validate_file(&file, "k.yml").map(|()| file));
            match outcome {
                Ok(_) => counts.borrow_mut().0 += 1,
                Err(error) => {
                    counts.borrow_mut().1 += 1;
                    let message = error.to_string();
                    prop_assert!(message.starts_with("k.yml: at `"), "{text}\n{message}");
                    for rust in [
                        "u32", "u64", "usize", "f64", "struct ", "enum Raw", "untagged",
                    ] {
                        prop_assert!(!message.contains(rust), "{text}\n{message}");
                    }
                }
            }
            Ok(())
        })
        .expect("every config is read or refused with its key");
    let (read, refused) = *counts.borrow();
    println!("512 generated configs: {read} read, {refused} refused");
    assert!(read > 20 && refused > 200, "{read} read, {refused} refused");
}
