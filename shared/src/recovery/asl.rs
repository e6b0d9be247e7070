//! The subset of the Amazon States Language that statemachines/recovery.asl.json uses, parsed
//! strictly: any state type, field, comparison or intrinsic outside the subset is refused, so
//! the file cannot grow past what the local engine (and its tests) can execute.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AslError {
    #[error("the state machine is not valid for the local engine: {0}")]
    Definition(String),
    #[error("path `{path}` does not exist in the state's input")]
    MissingPath { path: String },
    #[error("`{0}` is not a supported intrinsic function call")]
    Intrinsic(String),
    #[error("{0}")]
    Runtime(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StateMachine {
    #[serde(default)]
    pub comment: Option<String>,
    pub start_at: String,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    pub states: BTreeMap<String, State>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "Type")]
pub enum State {
    Task(TaskState),
    Choice(ChoiceState),
    Wait(WaitState),
    Pass(PassState),
    Succeed(SucceedState),
    Fail(FailState),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TaskState {
    #[serde(default)]
    pub comment: Option<String>,
    pub resource: String,
    #[serde(default)]
    pub parameters: Option<Value>,
    #[serde(default)]
    pub result_selector: Option<Value>,
    /// Required, and never `$`: a task must not overwrite its own input.
    pub result_path: String,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    #[serde(default)]
    pub timeout_seconds_path: Option<String>,
    #[serde(default)]
    pub heartbeat_seconds: Option<u64>,
    #[serde(default)]
    pub heartbeat_seconds_path: Option<String>,
    #[serde(default)]
    pub retry: Vec<Retrier>,
    #[serde(default)]
    pub catch: Vec<Catcher>,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub end: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    #[serde(default)]
    pub interval_seconds: Option<u64>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub backoff_rate: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    #[serde(default)]
    pub result_path: Option<String>,
    pub next: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ChoiceState {
    #[serde(default)]
    pub comment: Option<String>,
    pub choices: Vec<Value>,
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct WaitState {
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub seconds: Option<u64>,
    #[serde(default)]
    pub seconds_path: Option<String>,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub end: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PassState {
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub result_path: Option<String>,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub end: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SucceedState {
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FailState {
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

/// A Choice rule: comparisons combined with And / Or / Not.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Compare {
        variable: String,
        comparison: Comparison,
    },
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    StringEquals(String),
    BooleanEquals(bool),
    NumericEquals(f64),
    NumericLessThan(f64),
    NumericLessThanPath(String),
    NumericGreaterThanEquals(f64),
    IsPresent(bool),
    IsNull(bool),
}

impl StateMachine {
    pub fn parse(text: &str) -> Result<Self, AslError> {
        let machine: StateMachine =
            serde_json::from_str(text).map_err(|error| AslError::Definition(error.to_string()))?;
        machine.check()?;
        Ok(machine)
    }

    /// Structural checks beyond the schema: targets exist, tasks keep their input, every
    /// choice rule and intrinsic is in the supported subset.
    fn check(&self) -> Result<(), AslError> {
        let bad = |message: String| Err(AslError::Definition(message));
        if !self.states.contains_key(&self.start_at) {
            return bad(format!("StartAt `{}` is not a state", self.start_at));
        }
        let exists = |name: &str, from: &str| -> Result<(), AslError> {
            if self.states.contains_key(name) {
                Ok(())
            } else {
                Err(AslError::Definition(format!(
                    "state `{from}` goes to `{name}`, which does not exist"
                )))
            }
        };
        let next_or_end =
            |name: &str, next: &Option<String>, end: &Option<bool>| -> Result<(), AslError> {
                match (next, end) {
                    (Some(target), None | Some(false)) => exists(target, name),
                    (None, Some(true)) => Ok(()),
                    _ => Err(AslError::Definition(format!(
                        "state `{name}` needs exactly one of Next or End"
                    ))),
                }
            };
        for (name, state) in &self.states {
            match state {
                State::Task(task) => {
                    if task.result_path == "$" || !task.result_path.starts_with("$.") {
                        return bad(format!(
                            "task `{name}` must write its result under its own ResultPath, not `{}`",
                            task.result_path
                        ));
                    }
                    for catcher in &task.catch {
                        exists(&catcher.next, name)?;
                        if let Some(path) = &catcher.result_path
                            && !path.starts_with("$.")
                        {
                            return bad(format!(
                                "a Catch of `{name}` must keep the input (ResultPath `{path}`)"
                            ));
                        }
                    }
                    for parameters in [&task.parameters, &task.result_selector]
                        .into_iter()
                        .flatten()
                    {
                        check_template(parameters, name)?;
                    }
                    next_or_end(name, &task.next, &task.end)?;
                }
                State::Choice(choice) => {
                    for rule in &choice.choices {
                        let target = rule.get("Next").and_then(Value::as_str).ok_or_else(|| {
                            AslError::Definition(format!("a choice of `{name}` has no Next"))
                        })?;
                        exists(target, name)?;
                        parse_condition(rule, true)?;
                    }
                    if let Some(default) = &choice.default {
                        exists(default, name)?;
                    }
                }
                State::Wait(wait) => {
                    if wait.seconds.is_some() == wait.seconds_path.is_some() {
                        return bad(format!(
                            "wait `{name}` needs exactly one of Seconds or SecondsPath"
                        ));
                    }
                    next_or_end(name, &wait.next, &wait.end)?;
                }
                State::Pass(pass) => {
                    if let Some(parameters) = &pass.parameters {
                        check_template(parameters, name)?;
                    }
                    next_or_end(name, &pass.next, &pass.end)?;
                }
                State::Succeed(_) | State::Fail(_) => {}
            }
        }
        Ok(())
    }
}

fn check_template(template: &Value, state: &str) -> Result<(), AslError> {
    match template {
        Value::Object(map) => {
            for (key, value) in map {
                if key.ends_with(".$") {
                    let text = value.as_str().ok_or_else(|| {
                        AslError::Definition(format!(
                            "`{key}` in `{state}` must be a path or an intrinsic"
                        ))
                    })?;
                    if text.starts_with("States.") {
                        parse_intrinsic(text)?;
                    } else if !text.starts_with('$') {
                        return Err(AslError::Definition(format!(
                            "`{key}` in `{state}` is neither a path nor an intrinsic"
                        )));
                    } else if !is_supported_path(text) {
                        return Err(AslError::Definition(format!(
                            "`{key}` in `{state}` uses a path the local engine does not implement: `{text}`"
                        )));
                    }
                } else {
                    check_template(value, state)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| check_template(item, state)),
        _ => Ok(()),
    }
}

/// Reads a Choice rule; `top` rules carry `Next`, nested ones must not.
pub fn parse_condition(rule: &Value, top: bool) -> Result<Condition, AslError> {
    let bad = |message: &str| AslError::Definition(format!("{message}: {rule}"));
    let map = rule
        .as_object()
        .ok_or_else(|| bad("a choice rule must be an object"))?;
    let mut keys: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|key| *key != "Next")
        .collect();
    if top != map.contains_key("Next") {
        return Err(bad(if top {
            "a top-level choice rule needs Next"
        } else {
            "a nested choice rule must not have Next"
        }));
    }
    keys.sort_unstable();
    let list = |key: &str| -> Result<Vec<Condition>, AslError> {
        map.get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| bad("And/Or take a list"))?
            .iter()
            .map(|rule| parse_condition(rule, false))
            .collect()
    };
    match keys.as_slice() {
        ["And"] => return Ok(Condition::And(list("And")?)),
        ["Or"] => return Ok(Condition::Or(list("Or")?)),
        ["Not"] => {
            return Ok(Condition::Not(Box::new(parse_condition(
                map.get("Not").unwrap_or(&Value::Null),
                false,
            )?)));
        }
        _ => {}
    }
    let variable = map
        .get("Variable")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("a comparison needs Variable"))?
        .to_string();
    let others: Vec<&str> = keys.into_iter().filter(|key| *key != "Variable").collect();
    let [operator] = others.as_slice() else {
        return Err(bad("a comparison needs exactly one operator"));
    };
    let value = &map[*operator];
    let number = || value.as_f64().ok_or_else(|| bad("expected a number"));
    let boolean = || value.as_bool().ok_or_else(|| bad("expected a boolean"));
    let text = || {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| bad("expected a string"))
    };
    let comparison = match *operator {
        "StringEquals" => Comparison::StringEquals(text()?),
        "BooleanEquals" => Comparison::BooleanEquals(boolean()?),
        "NumericEquals" => Comparison::NumericEquals(number()?),
        "NumericLessThan" => Comparison::NumericLessThan(number()?),
        "NumericLessThanPath" => Comparison::NumericLessThanPath(text()?),
        "NumericGreaterThanEquals" => Comparison::NumericGreaterThanEquals(number()?),
        "IsPresent" => Comparison::IsPresent(boolean()?),
        "IsNull" => Comparison::IsNull(boolean()?),
        other => {
            return Err(AslError::Definition(format!(
                "comparison `{other}` is not supported by the local engine"
            )));
        }
    };
    Ok(Condition::Compare {
        variable,
        comparison,
    })
}

/// The paths Parameters and ResultSelector may use: `$`, `$$`, names, `[n]` indexes, and at
/// most one `[*]` (see `select_path`). Filters, slices, unions and `..` are refused.
fn is_supported_path(path: &str) -> bool {
    let rest = path
        .strip_prefix("$$")
        .or_else(|| path.strip_prefix('$'))
        .unwrap_or("");
    if path.matches("[*]").count() > 1 || rest.contains("..") {
        return false;
    }
    rest.replace("[*]", "[0]")
        .split('.')
        .filter(|segment| !segment.is_empty())
        .all(|segment| {
            let (name, indexes) = match segment.find('[') {
                Some(position) => (&segment[..position], &segment[position..]),
                None => (segment, ""),
            };
            let plain_name = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            plain_name
                && indexes
                    .split('[')
                    .filter(|part| !part.is_empty())
                    .all(|part| {
                        part.strip_suffix(']')
                            .is_some_and(|index| index.parse::<usize>().is_ok())
                    })
        })
}

/// Resolves a Parameters / ResultSelector path: `read_path`'s forms, plus one `[*]` that
/// projects over an array. `$.a[*].b` is the `b` of every element of `a` that has one, in
/// order (an element without it is skipped, as Step Functions' JsonPath does), and a wildcard
/// path that matches nothing is an empty list, where a plain path that matches nothing is an
/// error: Step Functions answers both that way.
pub fn select_path(value: &Value, context: &Value, path: &str) -> Option<Value> {
    let Some((array_path, rest)) = path.split_once("[*]") else {
        return read_path(value, context, path).cloned();
    };
    let Some(items) = read_path(value, context, array_path).and_then(Value::as_array) else {
        return Some(Value::Array(Vec::new()));
    };
    let relative = format!("${rest}");
    let empty = Value::Null;
    Some(Value::Array(
        items
            .iter()
            .filter_map(|item| read_path(item, &empty, &relative).cloned())
            .collect(),
    ))
}

/// Reads `$`, `$.a.b`, `$.a[0].b` from `value`; `$$.…` paths read from `context`.
pub fn read_path<'a>(value: &'a Value, context: &'a Value, path: &str) -> Option<&'a Value> {
    let (root, rest) = if let Some(rest) = path.strip_prefix("$$") {
        (context, rest)
    } else {
        (value, path.strip_prefix('$')?)
    };
    let mut current = root;
    for segment in rest.split('.').filter(|segment| !segment.is_empty()) {
        let (name, indexes) = match segment.find('[') {
            Some(position) => (&segment[..position], &segment[position..]),
            None => (segment, ""),
        };
        if !name.is_empty() {
            current = current.get(name)?;
        }
        for index in indexes.split('[').filter(|part| !part.is_empty()) {
            let index: usize = index.strip_suffix(']')?.parse().ok()?;
            current = current.get(index)?;
        }
    }
    Some(current)
}

/// Writes `result` into `input` at `path` (`$.a.b`), creating objects on the way.
pub fn write_path(input: &mut Value, path: &str, result: Value) -> Result<(), AslError> {
    let rest = path
        .strip_prefix("$.")
        .ok_or_else(|| AslError::Runtime(format!("ResultPath `{path}` must start with `$.`")))?;
    let mut current = input;
    let segments: Vec<&str> = rest.split('.').collect();
    for (position, segment) in segments.iter().enumerate() {
        if !current.is_object() {
            *current = Value::Object(Map::new());
        }
        let map = current
            .as_object_mut()
            .ok_or_else(|| AslError::Runtime("unreachable: not an object".to_string()))?;
        if position + 1 == segments.len() {
            map.insert((*segment).to_string(), result);
            return Ok(());
        }
        current = map
            .entry((*segment).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

/// An intrinsic call: `States.Array(arg, …)` or `States.MathAdd(a, b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Intrinsic {
    pub name: String,
    pub arguments: Vec<String>,
}

pub fn parse_intrinsic(text: &str) -> Result<Intrinsic, AslError> {
    let bad = || AslError::Intrinsic(text.to_string());
    let open = text.find('(').ok_or_else(bad)?;
    let name = &text[..open];
    let inner = text[open + 1..].strip_suffix(')').ok_or_else(bad)?;
    if !matches!(name, "States.Array" | "States.MathAdd") {
        return Err(bad());
    }
    let arguments: Vec<String> = inner
        .split(',')
        .map(|argument| argument.trim().to_string())
        .filter(|argument| !argument.is_empty())
        .collect();
    if arguments
        .iter()
        .any(|argument| argument.contains('(') || argument.starts_with('\''))
    {
        return Err(bad());
    }
    if name == "States.MathAdd" && arguments.len() != 2 {
        return Err(bad());
    }
    Ok(Intrinsic {
        name: name.to_string(),
        arguments,
    })
}

fn argument_value(argument: &str, input: &Value, context: &Value) -> Result<Value, AslError> {
    if argument.starts_with('$') {
        return read_path(input, context, argument)
            .cloned()
            .ok_or_else(|| AslError::MissingPath {
                path: argument.to_string(),
            });
    }
    serde_json::from_str(argument).map_err(|_| AslError::Intrinsic(argument.to_string()))
}

fn evaluate_intrinsic(text: &str, input: &Value, context: &Value) -> Result<Value, AslError> {
    let call = parse_intrinsic(text)?;
    let values = call
        .arguments
        .iter()
        .map(|argument| argument_value(argument, input, context))
        .collect::<Result<Vec<_>, _>>()?;
    match call.name.as_str() {
        "States.Array" => Ok(Value::Array(values)),
        _ => {
            let sum = values
                .iter()
                .map(|value| {
                    value.as_i64().ok_or_else(|| {
                        AslError::Runtime(format!("States.MathAdd takes integers: {text}"))
                    })
                })
                .sum::<Result<i64, _>>()?;
            Ok(Value::from(sum))
        }
    }
}

/// Builds a payload from a Parameters / ResultSelector template.
pub fn render(template: &Value, input: &Value, context: &Value) -> Result<Value, AslError> {
    match template {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                if let Some(name) = key.strip_suffix(".$") {
                    let text = value.as_str().unwrap_or_default();
                    let resolved = if text.starts_with("States.") {
                        evaluate_intrinsic(text, input, context)?
                    } else {
                        select_path(input, context, text).ok_or_else(|| AslError::MissingPath {
                            path: text.to_string(),
                        })?
                    };
                    out.insert(name.to_string(), resolved);
                } else {
                    out.insert(key.clone(), render(value, input, context)?);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|item| render(item, input, context))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

pub fn evaluate(condition: &Condition, input: &Value) -> Result<bool, AslError> {
    let empty = Value::Null;
    Ok(match condition {
        Condition::And(all) => all
            .iter()
            .map(|c| evaluate(c, input))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .all(|b| b),
        Condition::Or(any) => any
            .iter()
            .map(|c| evaluate(c, input))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .any(|b| b),
        Condition::Not(inner) => !evaluate(inner, input)?,
        Condition::Compare {
            variable,
            comparison,
        } => {
            let found = read_path(input, &empty, variable);
            match comparison {
                Comparison::IsPresent(expected) => found.is_some() == *expected,
                Comparison::IsNull(expected) => found.is_some_and(Value::is_null) == *expected,
                // Comparing a missing variable is a runtime error in Step Functions too.
                _ => {
                    let found = found.ok_or_else(|| AslError::MissingPath {
                        path: variable.clone(),
                    })?;
                    match comparison {
                        Comparison::StringEquals(expected) => {
                            found.as_str() == Some(expected.as_str())
                        }
                        Comparison::BooleanEquals(expected) => found.as_bool() == Some(*expected),
                        Comparison::NumericEquals(expected) => found.as_f64() == Some(*expected),
                        Comparison::NumericLessThan(bound) => {
                            found.as_f64().is_some_and(|n| n < *bound)
                        }
                        Comparison::NumericGreaterThanEquals(bound) => {
                            found.as_f64().is_some_and(|n| n >= *bound)
                        }
                        Comparison::NumericLessThanPath(path) => {
                            let bound = read_path(input, &empty, path)
                                .and_then(Value::as_f64)
                                .ok_or_else(|| AslError::MissingPath { path: path.clone() })?;
                            found.as_f64().is_some_and(|n| n < bound)
                        }
                        Comparison::IsPresent(_) | Comparison::IsNull(_) => false,
                    }
                }
            }
        }
    })
}
