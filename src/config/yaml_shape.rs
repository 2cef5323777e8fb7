//! What YAML allows and a config must not use, found before the config is read as
//! settings: syntax errors (with their line and column), tags (`!Ref x` would be read as
//! `x` and the tag lost), and anchors whose aliases expand a small file into a huge one.

/// A config expanded by its aliases past this is refused: the file itself is capped at
/// 1 MiB, and every byte of it ends up in plan.json.
const EXPANDED_MAX_BYTES: usize = crate::user_file::CONFIG_MAX_BYTES as usize;

/// `Err((key, message))` for the first thing `text` must not have.
pub fn check(text: &str) -> Result<(), (String, String)> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|error| {
        let message = error.to_string();
        // The library places a duplicate key at its mapping: name the key's own lines.
        if let Some(key) = message
            .strip_prefix("duplicate entry with key ")
            .map(|k| k.trim_matches('"'))
        {
            return (key.to_string(), duplicate(text, key));
        }
        let place = error
            .location()
            .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
            .unwrap_or_default();
        (
            "<top level>".to_string(),
            format!("not valid YAML{place}: {message}"),
        )
    })?;
    let mut size = 0usize;
    walk(&value, "", &mut size)
}

/// A key given twice: the lines that give it (YAML keeps neither silently here).
fn duplicate(text: &str, key: &str) -> String {
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let trimmed = line.trim_start().trim_start_matches("- ");
            [
                format!("{key}:"),
                format!("\"{key}\":"),
                format!("'{key}':"),
            ]
            .iter()
            .any(|form| trimmed.starts_with(form.as_str()))
        })
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    let place = match lines.as_slice() {
        [] => String::new(),
        [one] => format!(" (line {one})"),
        [init @ .., last] => format!(" (lines {} and {last})", init.join(", ")),
    };
    format!("the key `{key}` is given twice{place}: keep one")
}

/// Finds tags and counts the expanded size (aliases are already expanded in `value`).
fn walk(value: &serde_yaml::Value, path: &str, size: &mut usize) -> Result<(), (String, String)> {
    use serde_yaml::Value;
    let key = || {
        if path.is_empty() {
            "<top level>".to_string()
        } else {
            path.to_string()
        }
    };
    *size += match value {
        Value::String(s) => s.len(),
        _ => 8,
    };
    if *size > EXPANDED_MAX_BYTES {
        return Err((
            key(),
            format!(
                "anchors and aliases expand the config past {} MiB; write the values out, or keep them in fewer places",
                EXPANDED_MAX_BYTES / (1024 * 1024)
            ),
        ));
    }
    match value {
        Value::Tagged(tagged) => Err((
            key(),
            format!(
                "the YAML tag `{}` is not supported: kedro-sfn.yml takes plain values (no `!Ref`, `!Sub`, ...)",
                tagged.tag
            ),
        )),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| walk(item, &format!("{path}[{i}]"), size)),
        Value::Mapping(map) => map.iter().try_for_each(|(k, v)| {
            let name = match k {
                Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            let child = if path.is_empty() {
                name
            } else {
                format!("{path}.{name}")
            };
            walk(k, &child, size)?;
            walk(v, &child, size)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_refused_at_their_key() {
        let (key, message) = check("state_machine:\n  role_arn: !Ref Role\n").unwrap_err();
        assert_eq!(key, "state_machine.role_arn");
        assert!(message.contains("`!Ref`"), "{message}");
    }

    #[test]
    fn syntax_errors_say_where() {
        let (_, message) = check("lambda:\n  memory_mb: [1\n  timeout_s: 2\n").unwrap_err();
        assert!(message.contains("not valid YAML (line"), "{message}");
    }

    #[test]
    fn a_duplicate_key_is_named_with_its_lines() {
        let (key, message) =
            check("region: eu-west-1\nlambda: {memory_mb: 1}\nregion: us-east-1\n").unwrap_err();
        assert_eq!(key, "region");
        assert_eq!(
            message,
            "the key `region` is given twice (lines 1 and 3): keep one"
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = format!("x: &a '{}'\nnodes:\n", "v".repeat(10_000));
        for i in 0..1_000 {
            text.push_str(&format!("  n{i}: {{environment: {{V: *a}}}}\n"));
        }
        assert!(text.len() < 60_000);
        let (_, message) = check(&text).unwrap_err();
        assert!(
            message.contains("expand the config past 1 MiB"),
            "{message}"
        );
        check("a: &x 1\nb: *x\n").expect("a few aliases are fine");
    }
}
