//! The one place that builds and reads ARNs.

/// The partition a region belongs to (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The number at the end of a version ARN (`…:stateMachine:name:12`).
pub fn version_number(arn: &str) -> Option<u64> {
    arn.rsplit(':').next()?.parse().ok()
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`.
pub fn lambda_function(region: &str, account_id: &str, name: &str) -> String {
    format!(
        "arn:{}:lambda:{region}:{account_id}:function:{name}",
        partition(region)
    )
}

/// `arn:aws:states:REGION:ACCOUNT:stateMachine:NAME`.
pub fn state_machine(region: &str, account_id: &str, name: &str) -> String {
    format!(
        "arn:{}:states:{region}:{account_id}:stateMachine:{name}",
        partition(region)
    )
}

/// The state machine's name in a reference that is a name, an ARN or a version ARN
/// (`arn:…:stateMachine:NAME:7`).
pub fn state_machine_name_of(reference: &str) -> &str {
    match reference.split_once(":stateMachine:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => reference,
    }
}

/// `arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY` (deploy appends `:REVISION`).
pub fn ecs_task_definition(region: &str, account_id: &str, family: &str) -> String {
    format!(
        "arn:{}:ecs:{region}:{account_id}:task-definition/{family}",
        partition(region)
    )
}

/// The Step Functions service integration that runs an ECS task and waits for it to stop.
pub const ECS_RUN_TASK_SYNC: &str = "arn:aws:states:::ecs:runTask.sync";

/// The Step Functions service integration that starts a child state machine and waits for
/// it to end, its output as JSON (`:2`).
pub const START_EXECUTION_SYNC: &str = "arn:aws:states:::states:startExecution.sync:2";

/// The Step Functions service integration that invokes a Lambda function.
pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";

/// `value` without a trailing `:N` (a function version, a task definition revision).
pub fn without_number_suffix(value: &str) -> &str {
    match value.rsplit_once(':') {
        Some((rest, number))
            if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) =>
        {
            rest
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_come_from_the_arn() {
        assert_eq!(
            version_number("arn:aws:states:eu-west-1:1:stateMachine:m:12"),
            Some(12)
        );
        assert_eq!(
            version_number("arn:aws:states:eu-west-1:1:stateMachine:m"),
            None
        );
    }

    #[test]
    fn a_state_machine_reference_names_its_machine() {
        assert_eq!(state_machine_name_of("m--a"), "m--a");
        assert_eq!(
            state_machine_name_of("arn:aws:states:eu-west-1:1:stateMachine:m--a"),
            "m--a"
        );
        assert_eq!(
            state_machine_name_of("arn:aws:states:eu-west-1:1:stateMachine:m--a:3"),
            "m--a"
        );
    }

    #[test]
    fn china_and_govcloud_have_their_own_partitions() {
        assert_eq!(
            lambda_function("cn-north-1", "1", "f"),
            "arn:aws-cn:lambda:cn-north-1:1:function:f"
        );
        assert!(state_machine("us-gov-west-1", "1", "m").starts_with("arn:aws-us-gov:states:"));
        assert!(lambda_function("eu-west-1", "1", "f").starts_with("arn:aws:lambda:eu-west-1:"));
    }
}
