//! The one place that builds AWS names: state names and Lambda function names.
//!
//! Names are readable (taken from the node, namespace or group), legal, unique across the
//! whole definition, and stable: a name depends only on what it names, never on its
//! neighbours, except where two would otherwise be equal. A short hash of the full,
//! unshortened identity is added only when the readable name had to be changed (illegal
//! characters, too long) or would collide, so two different tasks never share a name (the
//! guide's truncation to 63 characters can give them one).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// Step Functions limits state names to 80 characters.
pub const STATE_NAME_MAX: usize = 80;
/// Lambda limits function names to 64 characters of `[A-Za-z0-9_-]`.
pub const FUNCTION_NAME_MAX: usize = 64;
/// State machine names: 1-80 characters.
pub const STATE_MACHINE_NAME_MAX: usize = 80;
/// The state machine name takes at most this much of each function name, leaving room for
/// the task.
const FUNCTION_PREFIX_MAX: usize = 32;
const SHORT_HASH: usize = 8;
const LONG_HASH: usize = 16;

/// The characters a name may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// State names: letters and digits of any script, space, `_ - . +`.
    State,
    /// Lambda function and state machine names: ASCII letters, digits, `_ -`.
    Function,
}

impl Alphabet {
    fn allows(self, c: char) -> bool {
        match self {
            Alphabet::State => c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.' | '+'),
            Alphabet::Function => c.is_ascii_alphanumeric() || matches!(c, '_' | '-'),
        }
    }
}

/// A name to make: the readable text, and the identity that tells it apart from others.
#[derive(Debug, Clone)]
pub struct NameRequest {
    pub readable: String,
    pub identity: String,
}

/// Makes one legal, unique name per request, in request order.
pub fn unique_names(
    requests: &[NameRequest],
    prefix: &str,
    alphabet: Alphabet,
    max_len: usize,
) -> Vec<String> {
    let mut names: Vec<String> = requests
        .iter()
        .map(|r| candidate(&r.readable, &r.identity, prefix, alphabet, max_len, None))
        .collect();
    // Ties: every holder of a shared name gets a hash of its identity, longer if needed,
    // and as a last resort its position (identities that hash alike are the same text).
    for hash_len in [SHORT_HASH, LONG_HASH, usize::MAX] {
        let tied = tied_positions(&names);
        if tied.is_empty() {
            break;
        }
        for position in tied {
            let request = &requests[position];
            let identity = if hash_len == usize::MAX {
                format!("{}\n#{position}", request.identity)
            } else {
                request.identity.clone()
            };
            names[position] = candidate(
                &request.readable,
                &identity,
                prefix,
                alphabet,
                max_len,
                Some(hash_len.min(LONG_HASH)),
            );
        }
    }
    names
}

/// The readable name, made legal; with `-<hash>` when it had to change or `force_hash` says.
fn candidate(
    readable: &str,
    identity: &str,
    prefix: &str,
    alphabet: Alphabet,
    max_len: usize,
    force_hash: Option<usize>,
) -> String {
    let cleaned: String = readable
        .chars()
        .map(|c| if alphabet.allows(c) { c } else { '_' })
        .collect();
    let full = format!("{prefix}{cleaned}");
    let changed = cleaned != readable || full.chars().count() > max_len || cleaned.is_empty();
    let hash_len = match (force_hash, changed) {
        (Some(len), _) => len,
        (None, true) => SHORT_HASH,
        (None, false) => return full,
    };
    let hash = short_hash(identity, hash_len);
    let room = max_len.saturating_sub(hash_len + 1);
    let head: String = full.chars().take(room).collect();
    let head = head.trim_end_matches([' ', '.', '-', '_']);
    format!("{head}-{hash}")
}

fn tied_positions(names: &[String]) -> Vec<usize> {
    let mut holders: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (position, name) in names.iter().enumerate() {
        holders.entry(name.as_str()).or_default().push(position);
    }
    let mut tied: Vec<usize> = holders
        .into_values()
        .filter(|positions| positions.len() > 1)
        .flatten()
        .collect();
    tied.sort_unstable();
    tied
}

/// The first `len` hex digits of the SHA-256 of `text`.
pub fn short_hash(text: &str, len: usize) -> String {
    // By hand: a `format!` per byte was a tenth of planning 10,000 tasks (three names each).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(text.as_bytes());
    digest
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
        .take(len)
        .map(char::from)
        .collect()
}

/// The state machine's name from config or the project's package; legal for AWS.
pub fn state_machine_name(wanted: &str) -> String {
    let request = NameRequest {
        readable: wanted.replace('.', "-"),
        identity: wanted.to_string(),
    };
    unique_names(&[request], "", Alphabet::Function, STATE_MACHINE_NAME_MAX)
        .pop()
        .unwrap_or_default()
}

/// What the name of every child machine of this (root) state machine starts with.
pub fn child_prefix(state_machine: &str) -> String {
    format!("{state_machine}--")
}

/// What every function name of this state machine starts with.
pub fn function_prefix(state_machine: &str) -> String {
    let short: String = state_machine.chars().take(FUNCTION_PREFIX_MAX).collect();
    format!("{}-", short.trim_end_matches(['-', '_']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(names: &[&str]) -> Vec<NameRequest> {
        names
            .iter()
            .map(|n| NameRequest {
                readable: n.to_string(),
                identity: n.to_string(),
            })
            .collect()
    }

    #[test]
    fn plain_names_are_kept_as_they_are() {
        let names = unique_names(
            &requests(&["split_data_node"]),
            "sm-",
            Alphabet::Function,
            64,
        );
        assert_eq!(names, vec!["sm-split_data_node"]);
    }

    #[test]
    fn names_that_differ_only_in_punctuation_stay_distinct() {
        let input = ["train.model", "train_model", "train-model", "train model"];
        for alphabet in [Alphabet::State, Alphabet::Function] {
            let names = unique_names(&requests(&input), "p-", alphabet, 64);
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 4, "{names:?}");
            assert!(names.iter().all(|n| n.chars().all(|c| alphabet.allows(c))));
        }
    }

    #[test]
    fn long_names_with_a_shared_prefix_stay_distinct_and_short() {
        let base = "a".repeat(90);
        let input = [format!("{base}_one"), format!("{base}_two")];
        let refs: Vec<&str> = input.iter().map(String::as_str).collect();
        let names = unique_names(&requests(&refs), "spaceflights-", Alphabet::Function, 64);
        assert_ne!(names[0], names[1]);
        assert!(names.iter().all(|n| n.len() <= 64), "{names:?}");
        let states = unique_names(&requests(&refs), "", Alphabet::State, 80);
        assert!(states.iter().all(|n| n.chars().count() <= 80));
        assert_ne!(states[0], states[1]);
    }

    #[test]
    fn a_name_does_not_depend_on_its_neighbours() {
        let alone = unique_names(&requests(&["x.y"]), "", Alphabet::Function, 64);
        let together = unique_names(&requests(&["a", "x.y", "b"]), "", Alphabet::Function, 64);
        assert_eq!(alone[0], together[1]);
    }

    #[test]
    fn equal_readable_names_with_different_identities_are_told_apart() {
        let input = vec![
            NameRequest {
                readable: "same".into(),
                identity: "one".into(),
            },
            NameRequest {
                readable: "same".into(),
                identity: "two".into(),
            },
        ];
        let names = unique_names(&input, "", Alphabet::State, 80);
        assert_ne!(names[0], names[1]);
    }

    #[test]
    fn unicode_letters_are_readable_in_states_and_replaced_in_functions() {
        let state = unique_names(&requests(&["modèle_données"]), "", Alphabet::State, 80);
        assert_eq!(state[0], "modèle_données");
        let function = unique_names(&requests(&["modèle_données"]), "", Alphabet::Function, 64);
        assert!(function[0].is_ascii(), "{function:?}");
        assert!(function[0].starts_with("mod_le_donn_es-"), "{function:?}");
    }
}
