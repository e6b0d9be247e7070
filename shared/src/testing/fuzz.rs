//! Fuzzing support for the parsers' property tests: strategies that mutate recorded seed
//! documents (or make arbitrary JSON and bytes) and a runner that either checks a few cases or,
//! with `ARGUS_FUZZ_SECONDS=N`, keeps generating cases for N seconds.
//!
//! cargo-fuzz needs a nightly toolchain; proptest over structured JSON reaches the same code
//! (serde's error paths, every optional field missing, strings of every shape) on stable.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Number, Value};
use std::fmt::Debug;
use std::path::Path;
use std::time::{Duration, Instant};

/// Cases per target in the normal test run: enough to catch a regression, cheap enough that
/// `cargo test` stays fast.
pub const DEFAULT_CASES: u32 = 96;
/// The variable that turns a target into a long run of that many seconds.
pub const SECONDS_VARIABLE: &str = "ARGUS_FUZZ_SECONDS";
/// Cases per runner in a long run; each batch gets a fresh random seed.
const BATCH_CASES: u32 = 256;

/// Field names that the parsers read, so that arbitrary objects sometimes hit real fields.
const KNOWN_KEYS: &[&str] = &[
    "id",
    "detail",
    "detail-type",
    "source",
    "time",
    "region",
    "account",
    "resources",
    "state",
    "value",
    "reason",
    "timestamp",
    "configuration",
    "metrics",
    "alarmName",
    "alarmData",
    "Records",
    "Sns",
    "Message",
    "EventSource",
    "eventName",
    "requestParameters",
    "instance-id",
    "alerts",
    "labels",
    "annotations",
    "status",
    "fingerprint",
    "startsAt",
    "endsAt",
    "event",
    "data",
    "event_type",
    "incident",
    "resource",
    "operation",
    "correlation_id",
    "progress",
    "verification",
    "result",
    "verdict",
    "alarm",
    "MetricAlarms",
    "StateValue",
    "check",
    "policy",
    "type",
    "user",
    "actions",
    "action_id",
    "params",
    "evidence",
    "hypotheses",
    "proposal",
];

/// Strings that have broken parsers before: empty, number-like, date-like, resource-like,
/// direction overrides, combining characters and multi-byte characters at every boundary.
const AWKWARD_STRINGS: &[&str] = &[
    "",
    " ",
    "null",
    "true",
    "NaN",
    "-Infinity",
    "-0",
    "1e309",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "0x10",
    "1970-01-01T00:00:00Z",
    "2026-11-22T04:51:45.123+00:00",
    "9999-12-31T23:59:59Z",
    "+275760-09-13T00:00:00Z",
    "-262144-01-01T00:00:00Z",
    "2026-02-30T25:61:61Z",
    "ec2:instance/i-0abc",
    "ec2:instance/",
    "a:b/ ",
    ":/",
    "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc",
    "arn:aws:ecs:us-east-1:123456789012:service/prod/checkout",
    "arn:",
    "arn:aws:::::",
    "i-",
    "ALARM",
    "OK",
    "firing",
    "resolved",
    "block_actions",
    "argus_approve",
    "record_outcome",
    "\u{202e}evil",
    "e\u{301}\u{301}\u{301}",
    "🦀",
    "é",
    "\u{0}",
    "\r\n",
    "%00%ff",
    "{\"incident\":\"x\",\"approval\":\"y\"}",
];

/// Any string a hostile or broken sender could put in a field.
pub fn awkward_string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => any::<String>(),
        2 => proptest::sample::select(AWKWARD_STRINGS).prop_map(str::to_string),
        1 => "[\\x00-\\x1f\\x7f]{0,16}",
        1 => "-?[0-9]{1,40}(\\.[0-9]{0,20})?([eE][+-]?[0-9]{1,4})?",
        1 => "[a-z0-9-]{1,12}:[a-z0-9-]{1,12}/[ -~]{0,24}",
        // Huge strings, also of multi-byte characters, so that every cap cuts on a boundary.
        1 => (1usize..150_000, proptest::sample::select(&["a", "é", "🦀", "e\u{301}", "\u{0}"][..]))
            .prop_map(|(count, unit)| unit.repeat(count)),
    ]
    .boxed()
}

/// Pieces of markup, terminal sequences and secrets that the escapers and the redactor must
/// handle wherever they fall in a text.
const HOSTILE_PIECES: &[&str] = &[
    "[",
    "]",
    "](",
    "![",
    "<",
    ">",
    "&",
    "\\",
    "`",
    "|",
    "#",
    "-",
    "1.",
    "*",
    "_",
    "~",
    "\n",
    "\r",
    "\u{1b}",
    "\u{1b}[2J",
    "\u{1b}]0;",
    "\u{7}",
    "\u{9b}",
    "\u{202e}",
    "\u{2066}",
    "\u{e0041}",
    "<!channel>",
    "<https://evil.example|Re-approve>",
    "[Re-approve](https://evil.example)",
    "password=",
    "password: ",
    "\"password\": \"",
    "token",
    " = ",
    ":",
    "\"",
    "'",
    "://",
    "postgres://u:p@h",
    "Bearer ",
    "Authorization: ",
    "AKIAIOSFODNN7EXAMPLE",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "é",
    "🦀",
    "a",
    " ",
];

/// Text made of `HOSTILE_PIECES`, or any awkward string: the escapers' and redactor's input.
pub fn hostile_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => proptest::collection::vec(proptest::sample::select(HOSTILE_PIECES), 0..40)
            .prop_map(|pieces| pieces.concat()),
        1 => awkward_string(),
    ]
    .boxed()
}

fn awkward_key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => proptest::sample::select(KNOWN_KEYS).prop_map(str::to_string),
        1 => awkward_string(),
    ]
    .boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|float| Number::from_f64(float).map_or(Value::Null, Value::Number)),
        proptest::sample::select(&[0i64, -1, 1, 10, 11, 255, 256, i64::MIN, i64::MAX][..])
            .prop_map(Value::from),
    ]
    .boxed()
}

/// Arbitrary JSON of any type, nested a few levels.
pub fn arbitrary_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        awkward_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((awkward_key(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

/// One change to a document, at a place chosen by `at` among the document's nodes.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Removes the field or array element (the root becomes `null`).
    Delete,
    /// Puts arbitrary JSON of any type in its place.
    Replace(Value),
    /// Replaces one of the document's strings by an awkward one.
    ReplaceString(String),
    /// Empties an array or object (or puts an empty array in place of a scalar).
    Empty,
    /// Appends copies of the container's first element, then one arbitrary value.
    Grow(usize, Value),
    /// Adds a field (to an object) with arbitrary content.
    AddField(String, Value),
}

/// Where a mutation applies and what it does.
#[derive(Clone, Debug)]
pub struct Edit {
    pub at: Index,
    pub mutation: Mutation,
}

fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        3 => Just(Mutation::Delete),
        3 => arbitrary_json().prop_map(Mutation::Replace),
        4 => awkward_string().prop_map(Mutation::ReplaceString),
        1 => Just(Mutation::Empty),
        1 => (1usize..64, arbitrary_json()).prop_map(|(copies, extra)| Mutation::Grow(copies, extra)),
        1 => (awkward_key(), arbitrary_json()).prop_map(|(key, value)| Mutation::AddField(key, value)),
    ]
    .boxed()
}

fn edit() -> BoxedStrategy<Edit> {
    (any::<Index>(), mutation())
        .prop_map(|(at, mutation)| Edit { at, mutation })
        .boxed()
}

/// JSON pointers of every node of `value`, the root (`""`) first.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>, strings_only: bool) {
    if !strings_only || value.is_string() {
        out.push(prefix.clone());
    }
    match value {
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                pointers(item, format!("{prefix}/{index}"), out, strings_only);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                pointers(item, format!("{prefix}/{escaped}"), out, strings_only);
            }
        }
        _ => {}
    }
}

fn split_parent(pointer: &str) -> Option<(&str, String)> {
    let (parent, last) = pointer.rsplit_once('/')?;
    Some((parent, last.replace("~1", "/").replace("~0", "~")))
}

/// Applies one edit to `document`.
pub fn apply(document: &mut Value, edit: &Edit) {
    let mut places = Vec::new();
    let strings_only = matches!(edit.mutation, Mutation::ReplaceString(_));
    pointers(document, String::new(), &mut places, strings_only);
    if places.is_empty() {
        pointers(document, String::new(), &mut places, false);
    }
    let pointer = edit.at.get(&places).clone();
    match &edit.mutation {
        Mutation::Delete => match split_parent(&pointer) {
            None => *document = Value::Null,
            Some((parent, last)) => match document.pointer_mut(parent) {
                Some(Value::Object(fields)) => {
                    fields.remove(&last);
                }
                Some(Value::Array(items)) => {
                    if let Ok(index) = last.parse::<usize>()
                        && index < items.len()
                    {
                        items.remove(index);
                    }
                }
                _ => {}
            },
        },
        Mutation::Replace(value) => {
            if let Some(node) = document.pointer_mut(&pointer) {
                *node = value.clone();
            }
        }
        Mutation::ReplaceString(text) => {
            if let Some(node) = document.pointer_mut(&pointer) {
                *node = Value::String(text.clone());
            }
        }
        Mutation::Empty => match document.pointer_mut(&pointer) {
            Some(Value::Array(items)) => items.clear(),
            Some(Value::Object(fields)) => fields.clear(),
            Some(node) => *node = Value::Array(Vec::new()),
            None => {}
        },
        Mutation::Grow(copies, extra) => match document.pointer_mut(&pointer) {
            Some(Value::Array(items)) => {
                if let Some(first) = items.first().cloned() {
                    items.extend(std::iter::repeat_n(first, *copies));
                }
                items.push(extra.clone());
            }
            Some(Value::Object(fields)) => {
                for copy in 0..*copies {
                    fields.insert(format!("grown-{copy}"), extra.clone());
                }
            }
            _ => {}
        },
        Mutation::AddField(key, value) => {
            if let Some(Value::Object(fields)) = document.pointer_mut(&pointer) {
                fields.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Documents made from `seeds`: mostly a seed with one to five edits, sometimes a seed as it
/// is, sometimes arbitrary JSON with no seed at all.
pub fn mutated(seeds: Vec<Value>) -> BoxedStrategy<Value> {
    assert!(!seeds.is_empty(), "a fuzz target needs at least one seed");
    let seeds = std::sync::Arc::new(seeds);
    let edited = {
        let seeds = seeds.clone();
        (any::<Index>(), proptest::collection::vec(edit(), 1..6)).prop_map(move |(pick, edits)| {
            let mut document = pick.get(&seeds).clone();
            for edit in &edits {
                apply(&mut document, edit);
            }
            document
        })
    };
    let plain = any::<Index>().prop_map(move |pick| pick.get(&seeds).clone());
    prop_oneof![
        8 => edited,
        1 => plain,
        2 => arbitrary_json(),
    ]
    .boxed()
}

/// One change to a byte string.
#[derive(Clone, Debug)]
pub enum ByteEdit {
    Set(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
}

fn byte_edit() -> BoxedStrategy<ByteEdit> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| ByteEdit::Set(at, byte)),
        any::<Index>().prop_map(ByteEdit::Truncate),
        (
            any::<Index>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(at, bytes)| ByteEdit::Insert(at, bytes)),
        (any::<Index>(), 1usize..64).prop_map(|(at, length)| ByteEdit::Remove(at, length)),
    ]
    .boxed()
}

fn apply_bytes(bytes: &mut Vec<u8>, edit: &ByteEdit) {
    // Positions run over len + 1 places so that an edit can also land at the end.
    let position = |at: &Index, length: usize| at.index(length + 1);
    match edit {
        ByteEdit::Set(at, byte) => {
            if !bytes.is_empty() {
                let index = at.index(bytes.len());
                bytes[index] = *byte;
            }
        }
        ByteEdit::Truncate(at) => {
            let length = position(at, bytes.len());
            bytes.truncate(length);
        }
        ByteEdit::Insert(at, inserted) => {
            let index = position(at, bytes.len());
            bytes.splice(index..index, inserted.iter().copied());
        }
        ByteEdit::Remove(at, length) => {
            let start = position(at, bytes.len());
            let end = (start + length).min(bytes.len());
            bytes.drain(start..end);
        }
    }
}

/// Bodies for byte-level parsers: mutated JSON serialised, seeds with bytes flipped, cut or
/// inserted, and raw arbitrary bytes.
pub fn mutated_bytes(seeds: Vec<Value>) -> BoxedStrategy<Vec<u8>> {
    let raw_seeds: Vec<Vec<u8>> = seeds
        .iter()
        .map(|seed| serde_json::to_vec(seed).unwrap_or_default())
        .collect();
    let flipped = (any::<Index>(), proptest::collection::vec(byte_edit(), 1..8)).prop_map(
        move |(pick, edits)| {
            let mut bytes = pick.get(&raw_seeds).clone();
            for edit in &edits {
                apply_bytes(&mut bytes, edit);
            }
            bytes
        },
    );
    prop_oneof![
        4 => mutated(seeds).prop_map(|document| serde_json::to_vec(&document).unwrap_or_default()),
        3 => flipped,
        1 => proptest::collection::vec(any::<u8>(), 0..1024),
    ]
    .boxed()
}

/// Every JSON document under `directory` (recursively), for seeding. Files that are not JSON
/// are skipped: the byte-level strategies make broken documents anyway.
pub fn seeds_in(directory: &Path) -> Vec<Value> {
    let mut found = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() {
                pending.push(entry);
            } else if entry
                .extension()
                .is_some_and(|extension| extension == "json")
                && let Ok(text) = std::fs::read_to_string(&entry)
                && let Ok(value) = serde_json::from_str::<Value>(&text)
            {
                found.push(value);
            }
        }
    }
    found
}

/// How long each target runs, when a long run was asked for.
pub fn requested_duration() -> Option<Duration> {
    std::env::var(SECONDS_VARIABLE)
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Crashes become named regression tests, not files proptest writes on its own.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Runs one fuzz target: `DEFAULT_CASES` cases, or for `ARGUS_FUZZ_SECONDS` seconds when set,
/// printing how many cases ran. A failing case is shrunk and reported with the target's name.
pub fn run<S>(target: &str, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let started = Instant::now();
    let Some(duration) = requested_duration() else {
        // The short run is the same on every machine, so the test command never flakes; long
        // runs take fresh random seeds.
        let mut runner = TestRunner::new_with_rng(
            config(DEFAULT_CASES),
            proptest::test_runner::TestRng::deterministic_rng(
                proptest::test_runner::RngAlgorithm::ChaCha,
            ),
        );
        if let Err(failure) = runner.run(&strategy, &property) {
            panic!("fuzz target {target} failed: {failure}");
        }
        return;
    };
    let mut cases: u64 = 0;
    while started.elapsed() < duration {
        let mut runner = TestRunner::new(config(BATCH_CASES));
        if let Err(failure) = runner.run(&strategy, &property) {
            panic!("fuzz target {target} failed after about {cases} cases: {failure}");
        }
        cases += u64::from(BATCH_CASES);
    }
    eprintln!(
        "fuzz target {target}: {cases} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
