//! Kedro's `--params` syntax, as `kedro run` reads it: `key=value` items separated by
//! commas, dotted keys for nested parameters, each value typed as YAML types it (`2` an
//! integer, `0.3` a float, `true` a boolean, `text` a string, nothing at all null). What
//! `kedro-sfn execute --params` passes to every task's Kedro session as runtime params.

use serde_json::{Map, Value};

/// Why a `--params` text cannot be read; the words are Kedro's own.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParamsError {
    #[error("invalid --params: item `{0}` must contain a key and a value separated by `=` (e.g. `model_options.test_size=0.3`)")]
    NoEquals(String),
    #[error("invalid --params: a parameter key cannot be an empty string (in `{0}`)")]
    EmptyKey(String),
}

/// The params of `key=value,other.key=2`, keyed as written (the handler nests dotted keys).
pub fn parse_params(text: &str) -> Result<Map<String, Value>, ParamsError> {
    let mut params = Map::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| ParamsError::NoEquals(item.to_string()))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(ParamsError::EmptyKey(item.to_string()));
        }
        params.insert(key.to_string(), typed(value));
    }
    Ok(params)
}

/// A value as YAML types a scalar; anything YAML reads as more than a scalar stays text.
fn typed(value: &str) -> Value {
    match serde_yaml::from_str::<serde_yaml::Value>(value) {
        Ok(serde_yaml::Value::Null) => Value::Null,
        Ok(serde_yaml::Value::Bool(b)) => Value::Bool(b),
        Ok(serde_yaml::Value::Number(n)) => serde_json::to_value(&n)
            .ok()
            .filter(|v| v.is_number())
            .unwrap_or_else(|| Value::String(value.to_string())),
        Ok(serde_yaml::Value::String(s)) => Value::String(s),
        _ => Value::String(value.to_string()),
    }
}

/// Whether a runtime param `key` (dotted, as `--params` writes it) reaches a node: one that
/// reads `parameters` (all of them), `params:<key>`, a parameter it is part of
/// (`params:model_options` for `model_options.test_size`), or one of its parts.
pub fn read_by_any(key: &str, node_inputs: &[&str]) -> bool {
    node_inputs.iter().any(|input| {
        if *input == "parameters" {
            return true;
        }
        let Some(read) = input.strip_prefix("params:") else {
            return false;
        };
        let within = |outer: &str, inner: &str| {
            inner == outer
                || inner
                    .strip_prefix(outer)
                    .is_some_and(|rest| rest.starts_with('.'))
        };
        within(read, key) || within(key, read)
    })
}

/// The execution input with `params` added under `"params"` (over any given there).
pub fn input_with_params(input: &Value, params: Map<String, Value>) -> Value {
    let mut input = match input {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let mut merged = match input.remove("params") {
        Some(Value::Object(existing)) => existing,
        _ => Map::new(),
    };
    merged.extend(params);
    input.insert("params".into(), Value::Object(merged));
    Value::Object(input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_param_is_read_where_a_node_reads_it_or_what_holds_it() {
        let inputs = ["companies", "params:model_options", "params:a.b"];
        for key in [
            "model_options",
            "model_options.test_size",
            "a.b",
            "a.b.c",
            "a",
        ] {
            assert!(read_by_any(key, &inputs), "{key}");
        }
        for key in ["model", "model_options_x", "a.bc", "run_date"] {
            assert!(!read_by_any(key, &inputs), "{key}");
        }
        assert!(read_by_any("anything", &["parameters"]));
    }

    #[test]
    fn kedro_syntax_and_types() {
        let params =
            parse_params("model_options.test_size=0.3, epochs=10,flag=true,name=run one,empty=")
                .expect("valid");
        assert_eq!(
            Value::Object(params),
            json!({"model_options.test_size": 0.3, "epochs": 10, "flag": true,
                   "name": "run one", "empty": null})
        );
        assert_eq!(parse_params("").expect("none"), Map::new());
        assert_eq!(
            parse_params("a=1,oops"),
            Err(ParamsError::NoEquals("oops".into()))
        );
        assert_eq!(parse_params(" =1"), Err(ParamsError::EmptyKey("=1".into())));
        // A value with `=` keeps it; text that looks like YAML structure stays text.
        assert_eq!(
            Value::Object(parse_params("query=a=b,list=[1").expect("valid")),
            json!({"query": "a=b", "list": "[1"})
        );
    }

    #[test]
    fn params_join_the_input_and_win() {
        let input = json!({"params": {"a": 1, "b": 2}, "other": true});
        let params = parse_params("b=3,c.d=4").expect("valid");
        assert_eq!(
            input_with_params(&input, params),
            json!({"params": {"a": 1, "b": 3, "c.d": 4}, "other": true})
        );
    }
}
