//! Wiring checks between terraform/, statemachines/recovery.asl.json and the code: functions,
//! environment, tables, template placeholders, the state machine's permissions, error names and
//! each function's IAM actions. Every failure names both sides (file and item).

// The helpers below are test code too: a missing file or block is a failed check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::store::dynamodb::schema;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

// The function crates cannot be dependencies (no crate depends on a function crate), so their
// deployment contracts are compiled here from source.
#[allow(dead_code)]
#[path = "../../functions/connectors/src/inbound/wiring.rs"]
mod connectors_http_wiring;
#[allow(dead_code)]
#[path = "../../functions/connectors/src/wiring.rs"]
mod connectors_wiring;
#[allow(dead_code)]
#[path = "../../functions/log-analyzer/src/wiring.rs"]
mod log_analyzer_wiring;
#[allow(dead_code)]
#[path = "../../functions/orchestrator/src/wiring.rs"]
mod orchestrator_wiring;
#[allow(dead_code)]
#[path = "../../functions/verifier/src/wiring.rs"]
mod verifier_wiring;

/// One function's contract, as its `functions/<name>/src/wiring.rs` states it.
struct Contract {
    name: &'static str,
    environment: &'static [&'static str],
    api_calls: Vec<&'static str>,
    error_types: Vec<&'static str>,
}

fn contracts() -> Vec<Contract> {
    vec![
        Contract {
            name: "orchestrator",
            environment: orchestrator_wiring::ENVIRONMENT,
            api_calls: orchestrator_wiring::api_calls(),
            error_types: orchestrator_wiring::error_types(),
        },
        Contract {
            name: "verifier",
            environment: verifier_wiring::ENVIRONMENT,
            api_calls: verifier_wiring::api_calls(),
            error_types: verifier_wiring::error_types(),
        },
        Contract {
            name: "connectors",
            environment: connectors_wiring::ENVIRONMENT,
            api_calls: connectors_wiring::api_calls(),
            error_types: connectors_wiring::error_types(),
        },
        Contract {
            name: "connectors-http",
            environment: connectors_http_wiring::ENVIRONMENT,
            api_calls: connectors_http_wiring::api_calls(),
            error_types: connectors_http_wiring::error_types(),
        },
        Contract {
            name: "log-analyzer",
            environment: log_analyzer_wiring::ENVIRONMENT,
            api_calls: log_analyzer_wiring::api_calls(),
            error_types: log_analyzer_wiring::error_types(),
        },
    ]
}

/// What the Lambda service does with a function's role on its behalf (logs, traces, the
/// failure destination, the environment's key): granted by terraform/functions.tf's runtime
/// policy to every function, and nothing more.
const LAMBDA_RUNTIME_ACTIONS: &[&str] = &[
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "sqs:SendMessage",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
];

/// What Step Functions does with the state machine's role besides the Task states: vended log
/// delivery (logging level ALL) and X-Ray tracing.
const STATES_RUNTIME_ACTIONS: &[&str] = &[
    // The execution's data is encrypted with the Argus key (terraform/statemachine.tf).
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
];

const ASL_FILE: &str = "statemachines/recovery.asl.json";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ---------------------------------------------------------------- Terraform, parsed

struct Terraform {
    files: Vec<(String, hcl::Body)>,
}

fn terraform() -> Terraform {
    let dir = root().join("terraform");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("terraform/ cannot be read: {error}"))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "tf"))
        .collect();
    names.sort();
    let files = names
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = format!("terraform/{}", path.file_name().unwrap().to_string_lossy());
            let body = hcl::parse(&text).unwrap_or_else(|error| panic!("{name}: {error}"));
            (name, body)
        })
        .collect();
    Terraform { files }
}

fn label(block: &hcl::Block, index: usize) -> Option<&str> {
    block.labels.get(index).map(|label| match label {
        hcl::BlockLabel::String(text) => text.as_str(),
        hcl::BlockLabel::Identifier(ident) => ident.as_str(),
    })
}

fn attribute<'a>(body: &'a hcl::Body, key: &str) -> Option<&'a hcl::Expression> {
    body.attributes()
        .find(|attribute| attribute.key.as_str() == key)
        .map(|attribute| &attribute.expr)
}

fn blocks<'a>(body: &'a hcl::Body, identifier: &'a str) -> impl Iterator<Item = &'a hcl::Block> {
    body.blocks()
        .filter(move |block| block.identifier.as_str() == identifier)
}

/// An expression as HCL text, for "does it refer to X" checks.
fn text(expr: &hcl::Expression) -> String {
    hcl::format::to_string(expr).unwrap_or_default()
}

fn literal(expr: &hcl::Expression) -> Option<String> {
    match expr {
        hcl::Expression::String(text) => Some(text.clone()),
        _ => None,
    }
}

fn strings(expr: &hcl::Expression) -> Vec<String> {
    match expr {
        hcl::Expression::Array(items) => items.iter().filter_map(literal).collect(),
        _ => Vec::new(),
    }
}

fn object(expr: &hcl::Expression) -> BTreeMap<String, &hcl::Expression> {
    match expr {
        hcl::Expression::Object(object) => object
            .iter()
            .map(|(key, value)| {
                let key = match key {
                    hcl::ObjectKey::Identifier(ident) => ident.to_string(),
                    hcl::ObjectKey::Expression(expr) => literal(expr).unwrap_or_else(|| text(expr)),
                    _ => String::new(),
                };
                (key, value)
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

impl Terraform {
    /// `(file, block)` of `<kind> "<type>" "<name>"`.
    fn block<'a>(
        &'a self,
        kind: &'a str,
        kind_type: &str,
        name: &str,
    ) -> (&'a str, &'a hcl::Block) {
        self.files
            .iter()
            .flat_map(|(file, body)| blocks(body, kind).map(move |block| (file.as_str(), block)))
            .find(|(_, block)| label(block, 0) == Some(kind_type) && label(block, 1) == Some(name))
            .unwrap_or_else(|| panic!("terraform/ declares no {kind} \"{kind_type}\" \"{name}\""))
    }

    /// `(file, expression)` of `local.<name>`.
    fn local(&self, name: &str) -> (&str, &hcl::Expression) {
        self.files
            .iter()
            .flat_map(|(file, body)| {
                blocks(body, "locals").filter_map(move |block| {
                    attribute(&block.body, name).map(|expr| (file.as_str(), expr))
                })
            })
            .next()
            .unwrap_or_else(|| panic!("terraform/ defines no local.{name}"))
    }

    fn variable_default(&self, name: &str) -> (&str, &hcl::Expression) {
        let (file, block) = self
            .files
            .iter()
            .flat_map(|(file, body)| blocks(body, "variable").map(move |b| (file.as_str(), b)))
            .find(|(_, block)| label(block, 0) == Some(name))
            .unwrap_or_else(|| panic!("terraform/ declares no variable \"{name}\""));
        let default = attribute(&block.body, "default")
            .unwrap_or_else(|| panic!("{file}: variable \"{name}\" has no default"));
        (file, default)
    }

    /// Actions by effect of `data "aws_iam_policy_document" "<name>"`, dynamic statements included.
    fn policy_actions(&self, name: &str) -> (&str, BTreeMap<String, BTreeSet<String>>) {
        let (file, block) = self.block("data", "aws_iam_policy_document", name);
        let mut statements: Vec<&hcl::Body> =
            blocks(&block.body, "statement").map(|b| &b.body).collect();
        for dynamic in blocks(&block.body, "dynamic") {
            if label(dynamic, 0) == Some("statement") {
                statements.extend(blocks(&dynamic.body, "content").map(|b| &b.body));
            }
        }
        let mut by_effect: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for statement in statements {
            let effect = attribute(statement, "effect")
                .and_then(literal)
                .unwrap_or_else(|| "Allow".to_string());
            let actions = attribute(statement, "actions")
                .map(strings)
                .unwrap_or_default();
            for action in &actions {
                assert!(
                    !action.contains('*'),
                    "{file}: data.aws_iam_policy_document.{name} grants wildcard action `{action}`"
                );
            }
            by_effect.entry(effect).or_default().extend(actions);
        }
        (file, by_effect)
    }
}

fn deployed_functions(tf: &Terraform) -> (&str, BTreeMap<String, &hcl::Expression>) {
    let (file, functions) = tf.local("functions");
    (file, object(functions))
}

// ---------------------------------------------------------------- the ASL, parsed

fn asl_text() -> String {
    std::fs::read_to_string(root().join(ASL_FILE)).unwrap()
}

fn asl_states() -> Vec<(String, Value)> {
    let asl: Value = serde_json::from_str(&asl_text()).unwrap();
    asl["States"]
        .as_object()
        .map(|states| states.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn placeholders(text: &str) -> BTreeSet<String> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

// ---------------------------------------------------------------- checks

#[test]
fn every_deployed_function_is_a_package_and_every_package_is_deployed() {
    let tf = terraform();
    let (file, deployed) = deployed_functions(&tf);
    let packages: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    let contracts: BTreeSet<String> = contracts().iter().map(|c| c.name.to_string()).collect();
    let mut problems = Vec::new();
    let mut deployed_packages = BTreeSet::new();
    for (name, function) in &deployed {
        let Some(package) = object(function).get("package").and_then(|e| literal(e)) else {
            problems.push(format!(
                "{file}: local.functions.{name} has no literal `package` (the functions/ folder that builds it)"
            ));
            continue;
        };
        let binary_source = if *name == package {
            root().join("functions").join(&package).join("src/main.rs")
        } else {
            root()
                .join("functions")
                .join(&package)
                .join(format!("src/bin/{name}.rs"))
        };
        if !packages.contains(&package) {
            problems.push(format!("{file}: local.functions.{name} is built by package `{package}`, but functions/{package}/Cargo.toml does not exist"));
        } else if !binary_source.is_file() {
            problems.push(format!("{file}: local.functions deploys `{name}` (target/lambda/{name}/bootstrap.zip), but {} does not exist, so `cargo lambda build` makes no such binary", binary_source.strip_prefix(root()).unwrap_or(&binary_source).display()));
        }
        if !contracts.contains(name.as_str()) {
            problems.push(format!("{file}: local.functions deploys `{name}`, but tests/tests/wiring.rs has no contract for it (add its wiring.rs to contracts())"));
        }
        deployed_packages.insert(package);
    }
    for name in &packages {
        if !deployed_packages.contains(name) {
            problems.push(format!(
                "functions/{name} is a package, but no entry of {file}: local.functions is built by it"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_variable_a_function_reads_at_init_is_set_by_terraform() {
    let tf = terraform();
    let (file, deployed) = deployed_functions(&tf);
    let mut problems = Vec::new();
    for contract in contracts() {
        let Some(function) = deployed.get(contract.name) else {
            problems.push(format!(
                "{file}: local.functions has no `{}`",
                contract.name
            ));
            continue;
        };
        let set: BTreeSet<String> = object(function)
            .get("environment")
            .map(|env| object(env).into_keys().collect())
            .unwrap_or_default();
        for name in contract.environment {
            if !set.contains(*name) {
                problems.push(format!(
                    "functions/{0}/src/wiring.rs: {0} reads {name} at init, but {file}: local.functions.{0}.environment does not set it (it sets {set:?})",
                    contract.name
                ));
            }
        }
        for name in &set {
            if !contract.environment.contains(&name.as_str()) {
                problems.push(format!(
                    "{file}: local.functions.{0}.environment sets {name}, but functions/{0}/src/wiring.rs does not list it as read",
                    contract.name
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn expect(
    problems: &mut Vec<String>,
    file: &str,
    item: String,
    found: Option<String>,
    wanted: &str,
) {
    if found.as_deref() != Some(wanted) {
        problems.push(format!(
            "{file}: {item} is {found:?}, but shared/src/store/dynamodb/mod.rs (schema) uses `{wanted}`"
        ));
    }
}

#[test]
fn tables_match_the_dynamodb_adapter_schema() {
    let tf = terraform();
    let adapter = "shared/src/store/dynamodb.rs (schema)";
    let mut problems = Vec::new();
    for (table, indexes) in [
        (
            "incidents",
            vec![
                (
                    schema::BY_RESOURCE_INDEX,
                    schema::BY_RESOURCE_PK,
                    schema::BY_RESOURCE_SK,
                ),
                (
                    schema::BY_STATUS_INDEX,
                    schema::BY_STATUS_PK,
                    schema::BY_STATUS_SK,
                ),
                (schema::BY_DUE_INDEX, schema::BY_DUE_PK, schema::BY_DUE_SK),
            ],
        ),
        ("patterns", vec![]),
    ] {
        let (file, block) = tf.block("resource", "aws_dynamodb_table", table);
        let body = &block.body;
        let item = |what: &str| format!("aws_dynamodb_table.{table} {what}");
        expect(
            &mut problems,
            file,
            item("hash_key"),
            attribute(body, "hash_key").and_then(literal),
            schema::PARTITION_KEY,
        );
        expect(
            &mut problems,
            file,
            item("range_key"),
            attribute(body, "range_key").and_then(literal),
            schema::SORT_KEY,
        );
        let ttl = blocks(body, "ttl").next().map(|b| &b.body);
        expect(
            &mut problems,
            file,
            item("ttl.attribute_name"),
            ttl.and_then(|b| attribute(b, "attribute_name"))
                .and_then(literal),
            schema::TTL_ATTRIBUTE,
        );
        for (name, pk, sk) in indexes {
            let index = blocks(body, "global_secondary_index")
                .map(|b| &b.body)
                .find(|b| attribute(b, "name").and_then(literal).as_deref() == Some(name));
            let Some(index) = index else {
                problems.push(format!("{file}: aws_dynamodb_table.{table} has no global_secondary_index `{name}`, which {adapter} queries"));
                continue;
            };
            let item = |what: &str| format!("aws_dynamodb_table.{table} index {name} {what}");
            expect(
                &mut problems,
                file,
                item("hash_key"),
                attribute(index, "hash_key").and_then(literal),
                pk,
            );
            expect(
                &mut problems,
                file,
                item("range_key"),
                attribute(index, "range_key").and_then(literal),
                sk,
            );
            expect(
                &mut problems,
                file,
                item("projection_type"),
                attribute(index, "projection_type").and_then(literal),
                "ALL",
            );
        }
        for setting in ["point_in_time_recovery", "server_side_encryption"] {
            let enabled = blocks(body, setting)
                .next()
                .and_then(|b| attribute(&b.body, "enabled"))
                .map(text);
            if enabled.as_deref() != Some("true") {
                problems.push(format!(
                    "{file}: aws_dynamodb_table.{table} does not enable {setting}"
                ));
            }
        }
    }
    // The table names the orchestrator reads are the tables declared above.
    let (file, deployed) = deployed_functions(&tf);
    let environment = deployed
        .get("orchestrator")
        .and_then(|f| {
            object(f).get("environment").map(|e| {
                object(e)
                    .into_iter()
                    .map(|(k, v)| (k, text(v)))
                    .collect::<BTreeMap<_, _>>()
            })
        })
        .unwrap_or_default();
    for (name, table) in [
        (schema::INCIDENTS_TABLE_ENV, "incidents"),
        (schema::PATTERNS_TABLE_ENV, "patterns"),
    ] {
        let value = environment.get(name).cloned().unwrap_or_default();
        if !value.contains(&format!("aws_dynamodb_table.{table}.name")) {
            problems.push(format!("{file}: local.functions.orchestrator.environment.{name} is `{value}`, but {adapter} reads the {table} table from it"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_asl_placeholder_is_supplied_by_templatefile() {
    let tf = terraform();
    let (file, machine) = tf.block("resource", "aws_sfn_state_machine", "recovery");
    let definition = attribute(&machine.body, "definition")
        .map(text)
        .unwrap_or_default();
    assert!(
        definition.contains("templatefile(") && definition.contains(ASL_FILE),
        "{file}: aws_sfn_state_machine.recovery definition is `{definition}`, not templatefile() of {ASL_FILE}"
    );
    assert!(
        definition.contains("local.asl_functions"),
        "{file}: aws_sfn_state_machine.recovery passes `{definition}` to templatefile(), not local.asl_functions"
    );
    let (vars_file, vars) = tf.local("asl_functions");
    let supplied: BTreeSet<String> = object(vars).into_keys().collect();
    let wanted = placeholders(&asl_text());
    let missing: Vec<_> = wanted.difference(&supplied).collect();
    let unused: Vec<_> = supplied.difference(&wanted).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "{ASL_FILE} uses placeholders {missing:?} that {vars_file}: local.asl_functions does not supply; it supplies {unused:?} that the ASL does not use"
    );
}

/// The IAM actions a Task resource needs, and the Lambda placeholder it invokes.
fn task_needs(resource: &str, state: &Value) -> (Vec<String>, Option<String>) {
    if resource.starts_with("arn:aws:states:::lambda:invoke") {
        let function = state["Parameters"]["FunctionName"]
            .as_str()
            .map(|name| placeholders(name).into_iter().collect::<String>());
        return (vec!["lambda:InvokeFunction".to_string()], function);
    }
    if let Some(call) = resource.strip_prefix("arn:aws:states:::aws-sdk:") {
        let (service, operation) = call.split_once(':').unwrap_or((call, ""));
        let mut chars = operation.chars();
        let operation: String = chars
            .next()
            .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default();
        let mut needs = vec![format!("{service}:{operation}")];
        // A tagged automation run needs the right to tag it.
        if service == "ssm" && state["Parameters"].get("Tags").is_some() {
            needs.push("ssm:AddTagsToResource".to_string());
        }
        return (needs, None);
    }
    if resource == "arn:aws:states:::codebuild:startBuild.sync" {
        // .sync polls the build and waits on the managed EventBridge rule.
        let needs = [
            "codebuild:StartBuild",
            "codebuild:StopBuild",
            "codebuild:BatchGetBuilds",
            "events:PutTargets",
            "events:PutRule",
            "events:DescribeRule",
        ];
        return (needs.map(str::to_string).to_vec(), None);
    }
    (vec![format!("(unknown integration {resource})")], None)
}

#[test]
fn every_task_is_allowed_by_the_state_machine_role_and_nothing_else() {
    let tf = terraform();
    let (file, actions) = tf.policy_actions("state_machine");
    let allowed = actions.get("Allow").cloned().unwrap_or_default();
    let (_, invoke) = tf.block("data", "aws_iam_policy_document", "state_machine");
    let invoke_resources: String = blocks(&invoke.body, "statement")
        .filter(|s| {
            attribute(&s.body, "actions")
                .map(strings)
                .unwrap_or_default()
                .contains(&"lambda:InvokeFunction".to_string())
        })
        .filter_map(|s| attribute(&s.body, "resources").map(text))
        .collect();
    let (_, vars) = tf.local("asl_functions");
    let invokable: BTreeSet<String> = object(vars).into_keys().collect();
    let mut needed: BTreeSet<String> = STATES_RUNTIME_ACTIONS
        .iter()
        .map(|a| a.to_string())
        .collect();
    let mut problems = Vec::new();
    for (name, state) in asl_states() {
        let Some(resource) = state["Resource"].as_str() else {
            continue;
        };
        let (needs, function) = task_needs(resource, &state);
        for action in needs {
            if !allowed.contains(&action) {
                problems.push(format!("{ASL_FILE}: state `{name}` ({resource}) needs {action}, but {file}: data.aws_iam_policy_document.state_machine does not allow it"));
            }
            needed.insert(action);
        }
        if let Some(function) = function
            && (!invokable.contains(&function) || !invoke_resources.contains("local.asl_functions"))
        {
            problems.push(format!("{ASL_FILE}: state `{name}` invokes ${{{function}}}, but {file}: the lambda:InvokeFunction statement does not cover it through local.asl_functions"));
        }
    }
    for action in allowed.difference(&needed) {
        problems.push(format!("{file}: data.aws_iam_policy_document.state_machine allows {action}, which no Task state of {ASL_FILE} needs"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The function (local.functions key) each ASL placeholder names, from local.asl_functions; a
/// placeholder naming an alias (`aws_lambda_alias.<name>.arn`) names the alias's function.
fn placeholder_functions(tf: &Terraform) -> BTreeMap<String, String> {
    let (_, asl_functions) = tf.local("asl_functions");
    object(asl_functions)
        .into_iter()
        .filter_map(|(placeholder, expr)| {
            let mut reference = text(expr);
            if let Some(alias) = reference
                .strip_prefix("aws_lambda_alias.")
                .and_then(|rest| rest.strip_suffix(".arn"))
            {
                let (_, block) = tf.block("resource", "aws_lambda_alias", alias);
                reference = attribute(&block.body, "function_name")
                    .map(text)
                    .unwrap_or_default();
            }
            let function = reference
                .split_once("function[\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(name, _)| name.to_string())?;
            Some((placeholder, function))
        })
        .collect()
}

#[test]
fn every_error_the_asl_names_is_one_its_function_emits() {
    let tf = terraform();
    let by_placeholder = placeholder_functions(&tf);
    let contracts: BTreeMap<&str, Contract> =
        contracts().into_iter().map(|c| (c.name, c)).collect();
    let mut problems = Vec::new();
    for (state_name, state) in asl_states() {
        let resource = state["Resource"].as_str().unwrap_or_default();
        // An SDK integration's errors are named after its service: `Ec2.…`, `AutoScaling.…`.
        let service = resource
            .strip_prefix("arn:aws:states:::aws-sdk:")
            .or_else(|| resource.strip_prefix("arn:aws:states:::"))
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_default()
            .to_ascii_lowercase();
        // A Lambda task may also fail with the errors its function emits.
        let function = state["Parameters"]["FunctionName"]
            .as_str()
            .map(|name| placeholders(name).into_iter().collect::<Vec<_>>())
            .and_then(|names| names.into_iter().next())
            .and_then(|placeholder| by_placeholder.get(&placeholder).cloned());
        let mut emitted: Vec<&str> = function
            .as_deref()
            .and_then(|name| contracts.get(name))
            .map(|contract| contract.error_types.clone())
            .unwrap_or_default();
        // A task that waits for its token fails with whatever SendTaskFailure names, and that
        // call comes from another function (the approval callback): accept what any emits.
        if resource.ends_with(".waitForTaskToken") {
            emitted.extend(
                contracts
                    .values()
                    .flat_map(|c| c.error_types.iter().copied()),
            );
        }
        for (kind, rules) in [("Retry", &state["Retry"]), ("Catch", &state["Catch"])] {
            for rule in rules.as_array().into_iter().flatten() {
                for error in rule["ErrorEquals"].as_array().into_iter().flatten() {
                    let error = error.as_str().unwrap_or_default();
                    let prefix = error.split_once('.').map(|(p, _)| p.to_ascii_lowercase());
                    let known = error.starts_with("States.")
                        || emitted.contains(&error)
                        || prefix.as_deref() == Some(service.as_str());
                    if !known {
                        let source = match &function {
                            Some(name) => format!(
                                "functions' {name} (its wiring.rs error_types: {emitted:?})"
                            ),
                            None => "no function (not a Lambda task)".to_string(),
                        };
                        problems.push(format!("{ASL_FILE}: state `{state_name}` {kind} names `{error}`, which {source} does not emit, and which is not a States.* or {service} error"));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn each_function_role_allows_exactly_the_calls_its_code_makes() {
    let tf = terraform();
    let (policies_file, policies) = tf.local("function_policies");
    let policies = object(policies);
    let mut problems = Vec::new();
    for contract in contracts() {
        let calls: BTreeSet<String> = contract.api_calls.iter().map(|c| c.to_string()).collect();
        let source = format!("functions/{}/src/wiring.rs", contract.name);
        let (file, allowed) = match policies.get(contract.name) {
            None => (policies_file, BTreeSet::new()),
            Some(expr) => {
                let reference = text(expr);
                let Some(document) = reference
                    .strip_prefix("data.aws_iam_policy_document.")
                    .and_then(|rest| rest.strip_suffix(".json"))
                else {
                    problems.push(format!("{policies_file}: local.function_policies.{} is `{reference}`, not a policy document", contract.name));
                    continue;
                };
                let (file, actions) = tf.policy_actions(document);
                (file, actions.get("Allow").cloned().unwrap_or_default())
            }
        };
        for call in calls.difference(&allowed) {
            problems.push(format!("{source}: {} calls {call}, but {file}: its role policy (local.function_policies.{}) does not allow it", contract.name, contract.name));
        }
        for action in allowed.difference(&calls) {
            problems.push(format!("{file}: the {} role policy allows {action}, but {source} api_calls() does not make that call", contract.name));
        }
    }
    let (file, runtime) = tf.policy_actions("function_runtime");
    let runtime = runtime.get("Allow").cloned().unwrap_or_default();
    let expected: BTreeSet<String> = LAMBDA_RUNTIME_ACTIONS
        .iter()
        .map(|a| a.to_string())
        .collect();
    if runtime != expected {
        problems.push(format!("{file}: data.aws_iam_policy_document.function_runtime allows {runtime:?}, but tests/tests/wiring.rs LAMBDA_RUNTIME_ACTIONS is {expected:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn event_rules_route_what_the_normalisers_accept() {
    let tf = terraform();
    let (file, defaults) = tf.variable_default("sensitive_calls");
    let library = argus::config::SignalConfig::default().sensitive_calls;
    assert_eq!(
        strings(defaults),
        library,
        "{file}: variable sensitive_calls' default differs from shared/src/config.rs SignalConfig::default().sensitive_calls"
    );
    let accepted = argus::signal::DETAIL_TYPES;
    let (file, rules) = tf.local("event_rules");
    let mut routed = BTreeSet::new();
    for (rule, body) in object(rules) {
        let pattern = object(body)
            .get("pattern")
            .map(|p| object(p))
            .unwrap_or_default();
        for detail_type in pattern
            .get("detail-type")
            .map(|d| strings(d))
            .unwrap_or_default()
        {
            assert!(
                accepted.contains(&detail_type.as_str()),
                "{file}: local.event_rules.{rule} routes detail-type `{detail_type}`, which no normaliser in shared/src/signal/ accepts"
            );
            routed.insert(detail_type);
        }
    }
    for detail_type in accepted.iter().copied() {
        assert!(
            routed.contains(detail_type),
            "shared/src/signal/ accepts detail-type `{detail_type}`, but {file}: local.event_rules routes none"
        );
    }
}

// ---------------------------------------------------------------- trust boundaries (issue 16)

/// An expression as HCL text without whitespace, for comparing short lists.
fn compact(expr: &hcl::Expression) -> String {
    text(expr).split_whitespace().collect()
}

/// Every statement body of `data "aws_iam_policy_document" "<name>"`, dynamic ones included.
fn policy_statements<'a>(tf: &'a Terraform, name: &str) -> (&'a str, Vec<&'a hcl::Body>) {
    let (file, block) = tf.block("data", "aws_iam_policy_document", name);
    let mut statements: Vec<&hcl::Body> =
        blocks(&block.body, "statement").map(|b| &b.body).collect();
    for dynamic in blocks(&block.body, "dynamic") {
        if label(dynamic, 0) == Some("statement") {
            statements.extend(blocks(&dynamic.body, "content").map(|b| &b.body));
        }
    }
    (file, statements)
}

fn actions_of(statement: &hcl::Body) -> Vec<String> {
    attribute(statement, "actions")
        .map(strings)
        .unwrap_or_default()
}

/// `(test, variable, values as text)` of each condition block of a statement.
fn conditions_of(statement: &hcl::Body) -> Vec<(String, String, String)> {
    blocks(statement, "condition")
        .map(|condition| {
            let get = |key: &str| {
                attribute(&condition.body, key)
                    .map(|expr| literal(expr).unwrap_or_else(|| text(expr)))
                    .unwrap_or_default()
            };
            (get("test"), get("variable"), get("values"))
        })
        .collect()
}

/// Every policy document of terraform/, by name.
fn policy_documents(tf: &Terraform) -> Vec<String> {
    tf.files
        .iter()
        .flat_map(|(_, body)| blocks(body, "data"))
        .filter(|block| label(block, 0) == Some("aws_iam_policy_document"))
        .filter_map(|block| label(block, 1).map(str::to_string))
        .collect()
}

#[test]
fn signal_rules_match_on_the_only_source_that_may_send_them() {
    use argus::signal::{TrustedSource, trusted_source};
    let tf = terraform();
    let (file, rules) = tf.local("event_rules");
    let mut problems = Vec::new();
    for (rule, body) in object(rules) {
        let entry = object(body);
        let pattern = entry.get("pattern").map(|p| object(p)).unwrap_or_default();
        let bus = entry
            .get("bus")
            .map(|b| literal(b).unwrap_or_else(|| text(b)));
        let sources = pattern.get("source").copied();
        for detail_type in pattern
            .get("detail-type")
            .map(|d| strings(d))
            .unwrap_or_default()
        {
            let Some(trusted) = trusted_source(&detail_type) else {
                problems.push(format!("{file}: local.event_rules.{rule} routes `{detail_type}`, which has no trusted source in shared/src/signal/normalise.rs"));
                continue;
            };
            let (matches, aws_sent) = match (trusted, sources) {
                (TrustedSource::Exactly(source), Some(expr)) => (
                    strings(expr) == vec![source.to_string()],
                    source.starts_with("aws."),
                ),
                (TrustedSource::AnyUnder(prefix), Some(hcl::Expression::Array(items))) => (
                    items.len() == 1
                        && object(&items[0])
                            .get("prefix")
                            .and_then(|p| literal(p))
                            .as_deref()
                            == Some(prefix),
                    prefix.starts_with("aws."),
                ),
                _ => (false, false),
            };
            if !matches {
                problems.push(format!("{file}: local.event_rules.{rule} routes `{detail_type}` without matching `source` on {trusted:?}, the only sender the normaliser accepts it from"));
            }
            // AWS' sources cannot be forged on the default bus; Argus' own only on Argus' bus.
            let wanted_bus = if aws_sent {
                "default"
            } else {
                "aws_cloudwatch_event_bus.argus.name"
            };
            if bus.as_deref() != Some(wanted_bus) {
                problems.push(format!("{file}: local.event_rules.{rule} (`{detail_type}`) is on bus {bus:?}, but must be on `{wanted_bus}`"));
            }
        }
    }
    for kind in ["aws_cloudwatch_event_rule", "aws_cloudwatch_event_target"] {
        let (file, block) = tf.block("resource", kind, "signal");
        let bus = attribute(&block.body, "event_bus_name").map(text);
        if bus.as_deref() != Some("each.value.bus") {
            problems.push(format!(
                "{file}: {kind}.signal's event_bus_name is {bus:?}, not each.value.bus"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_argus_bus_admits_only_argus_roles_each_with_its_own_source() {
    use argus::signal::{EXTERNAL_ALERT_SOURCE, LOG_ANOMALY_SOURCE};
    let tf = terraform();
    let mut problems = Vec::new();
    let (file, publishers) = tf.local("argus_bus_publishers");
    let publishers: BTreeMap<String, String> = object(publishers)
        .into_iter()
        .map(|(function, source)| (function, literal(source).unwrap_or_default()))
        .collect();
    let wanted = BTreeMap::from([
        (
            "connectors-http".to_string(),
            EXTERNAL_ALERT_SOURCE.to_string(),
        ),
        ("log-analyzer".to_string(), LOG_ANOMALY_SOURCE.to_string()),
    ]);
    if publishers != wanted {
        problems.push(format!(
            "{file}: local.argus_bus_publishers is {publishers:?}, but only {wanted:?} may put on the Argus bus"
        ));
    }
    let (file, policy) = tf.block("resource", "aws_cloudwatch_event_bus_policy", "argus");
    if attribute(&policy.body, "policy").map(text).as_deref()
        != Some("data.aws_iam_policy_document.argus_bus.json")
    {
        problems.push(format!(
            "{file}: aws_cloudwatch_event_bus_policy.argus is not data.aws_iam_policy_document.argus_bus"
        ));
    }
    let (file, statements) = policy_statements(&tf, "argus_bus");
    let denies_others = statements.iter().any(|statement| {
        attribute(statement, "effect").and_then(literal).as_deref() == Some("Deny")
            && actions_of(statement) == vec!["events:PutEvents".to_string()]
            && blocks(statement, "principals").any(|p| {
                attribute(&p.body, "identifiers").map(strings) == Some(vec!["*".to_string()])
            })
            && conditions_of(statement)
                .iter()
                .any(|(test, variable, values)| {
                    test == "ArnNotEquals"
                        && variable == "aws:PrincipalArn"
                        && values.contains("local.argus_bus_publishers")
                })
    });
    if !denies_others {
        problems.push(format!("{file}: data.aws_iam_policy_document.argus_bus does not deny events:PutEvents to every principal but the publishers' roles"));
    }
    // Each publisher reads the Argus bus from its environment, and its own role may put there
    // only with its own source.
    let (functions_file, deployed) = deployed_functions(&tf);
    for (function, document) in [
        ("log-analyzer", "log_analyzer"),
        ("connectors-http", "connectors_http"),
    ] {
        let bus = deployed
            .get(function)
            .and_then(|f| object(f).get("environment").map(|e| object(e)))
            .and_then(|env| env.get("ARGUS_EVENT_BUS").map(|v| text(v)));
        if bus.as_deref() != Some("aws_cloudwatch_event_bus.argus.name") {
            problems.push(format!("{functions_file}: local.functions.{function}.environment.ARGUS_EVENT_BUS is {bus:?}, not the Argus bus"));
        }
        let (file, statements) = policy_statements(&tf, document);
        for statement in statements
            .iter()
            .filter(|s| actions_of(s).contains(&"events:PutEvents".to_string()))
        {
            let resources = attribute(statement, "resources")
                .map(compact)
                .unwrap_or_default();
            let pinned = conditions_of(statement)
                .iter()
                .any(|(test, variable, values)| {
                    test == "StringEquals"
                        && variable == "events:source"
                        && values.contains(&format!("local.argus_bus_publishers[\"{function}\"]"))
                });
            if resources != "[aws_cloudwatch_event_bus.argus.arn]" || !pinned {
                problems.push(format!("{file}: data.aws_iam_policy_document.{document} allows events:PutEvents on {resources} without pinning events:source to local.argus_bus_publishers[\"{function}\"] on the Argus bus"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn only_the_recovery_state_machine_may_invoke_the_record_path() {
    let tf = terraform();
    let mut problems = Vec::new();
    let (file, alias) = tf.block("resource", "aws_lambda_alias", "orchestrator_records");
    let name = attribute(&alias.body, "name").and_then(literal);
    if name.as_deref() != Some(orchestrator_wiring::RECORDS_ALIAS) {
        problems.push(format!("{file}: aws_lambda_alias.orchestrator_records is named {name:?}, but the orchestrator takes record operations only through `{}`", orchestrator_wiring::RECORDS_ALIAS));
    }
    let (vars_file, vars) = tf.local("asl_functions");
    let records = object(vars)
        .get("orchestrator_function_arn")
        .map(|e| text(e));
    if records.as_deref() != Some("aws_lambda_alias.orchestrator_records.arn") {
        problems.push(format!("{vars_file}: local.asl_functions.orchestrator_function_arn is {records:?}, not the records alias"));
    }
    // Resource policies: on the orchestrator, only the state machine's role is granted the
    // alias; every other grant is on the unqualified function, which refuses record operations.
    for (file, body) in &tf.files {
        for block in
            blocks(body, "resource").filter(|b| label(b, 0) == Some("aws_lambda_permission"))
        {
            let function = attribute(&block.body, "function_name")
                .map(text)
                .unwrap_or_default();
            if !function.contains("function[\"orchestrator\"]") {
                continue;
            }
            let name = label(block, 1).unwrap_or_default();
            let qualifier = attribute(&block.body, "qualifier").map(text);
            let principal = attribute(&block.body, "principal")
                .map(text)
                .unwrap_or_default();
            let records_alias = "aws_lambda_alias.orchestrator_records.name";
            match qualifier {
                None => {}
                Some(q) if q == records_alias && principal == "aws_iam_role.state_machine.arn" => {}
                Some(q) if q == records_alias => problems.push(format!("{file}: aws_lambda_permission.{name} grants the records alias to {principal}, not only the recovery state machine's role")),
                Some(q) => problems.push(format!(
                    "{file}: aws_lambda_permission.{name} grants the orchestrator qualifier {q}"
                )),
            }
        }
    }
    // Identity policies: only the state machine's role may invoke the orchestrator, and only
    // through the alias (its ${arn}:* wildcard leaves the orchestrator out).
    for document in policy_documents(&tf) {
        let (file, statements) = policy_statements(&tf, &document);
        for statement in statements
            .iter()
            .filter(|s| actions_of(s).contains(&"lambda:InvokeFunction".to_string()))
        {
            let resources = attribute(statement, "resources")
                .map(text)
                .unwrap_or_default();
            let names_orchestrator =
                resources.contains("orchestrator") || resources.contains("local.asl_functions");
            if document != "state_machine" && names_orchestrator {
                problems.push(format!("{file}: data.aws_iam_policy_document.{document} allows invoking the orchestrator ({resources})"));
            }
            if document == "state_machine"
                && !resources.contains("if name != \"orchestrator_function_arn\"")
            {
                problems.push(format!("{file}: the state machine's lambda:InvokeFunction statement ({resources}) grants the orchestrator more than its records alias"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_public_endpoint_reads_only_its_own_secret_and_the_incidents_table() {
    let tf = terraform();
    let mut problems = Vec::new();
    let (file, statements) = policy_statements(&tf, "connectors_http");
    for statement in &statements {
        let actions = actions_of(statement);
        let resources = attribute(statement, "resources")
            .map(compact)
            .unwrap_or_default();
        if actions.iter().any(|a| a.starts_with("dynamodb:"))
            && (resources.contains("patterns") || resources.contains("table_arns"))
        {
            problems.push(format!("{file}: the connectors-http role reaches {resources}; the public endpoint may touch the incidents table only"));
        }
        if actions.contains(&"secretsmanager:GetSecretValue".to_string())
            && resources != "[aws_secretsmanager_secret.connectors_http.arn]"
        {
            problems.push(format!("{file}: the connectors-http role reads secret {resources}, not its own (signing secrets only)"));
        }
    }
    let (functions_file, deployed) = deployed_functions(&tf);
    let secret = deployed
        .get("connectors-http")
        .and_then(|f| object(f).get("environment").map(|e| object(e)))
        .and_then(|env| env.get("ARGUS_CONNECTORS_SECRET_ID").map(|v| text(v)));
    if secret.as_deref() != Some("aws_secretsmanager_secret.connectors_http.arn") {
        problems.push(format!(
            "{functions_file}: connectors-http reads secret {secret:?}, not its own"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_role_trust_policy_binds_the_source_arn() {
    let tf = terraform();
    let mut problems = Vec::new();
    let mut trust_policies = 0;
    for document in policy_documents(&tf) {
        let (file, statements) = policy_statements(&tf, &document);
        for statement in statements
            .iter()
            .filter(|s| actions_of(s).contains(&"sts:AssumeRole".to_string()))
        {
            trust_policies += 1;
            let conditions = conditions_of(statement);
            let account = conditions
                .iter()
                .any(|(_, variable, _)| variable == "aws:SourceAccount");
            let arn = conditions.iter().any(|(test, variable, values)| {
                variable == "aws:SourceArn" && test.starts_with("Arn") && !values.contains("*\"")
            });
            if !account || !arn {
                problems.push(format!("{file}: data.aws_iam_policy_document.{document} lets a service assume the role without binding aws:SourceAccount and aws:SourceArn to Argus' own resource"));
            }
        }
    }
    assert!(
        trust_policies >= 3,
        "found only {trust_policies} trust policies"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_task_token_reaches_logs_or_any_state_but_the_approval_request() {
    let tf = terraform();
    let (file, machine) = tf.block("resource", "aws_sfn_state_machine", "recovery");
    let logging = blocks(&machine.body, "logging_configuration")
        .next()
        .map(|b| &b.body)
        .unwrap_or_else(|| panic!("{file}: the state machine has no logging_configuration"));
    let level = attribute(logging, "level").and_then(literal);
    assert!(
        matches!(level.as_deref(), Some("ERROR" | "FATAL" | "OFF")),
        "{file}: the state machine logs at {level:?}; ALL puts every state's input, the task token included, in CloudWatch Logs"
    );
    assert_eq!(
        attribute(logging, "include_execution_data")
            .map(text)
            .as_deref(),
        Some("false"),
        "{file}: the state machine's logs include execution data"
    );
    let encryption = blocks(&machine.body, "encryption_configuration")
        .next()
        .map(|b| &b.body)
        .unwrap_or_else(|| {
            panic!("{file}: the execution history is not encrypted with the Argus key")
        });
    assert_eq!(
        attribute(encryption, "kms_key_id").map(text).as_deref(),
        Some("aws_kms_key.argus.arn"),
        "{file}: the execution history is not encrypted with the Argus key"
    );
    // The token is handed to the connectors in the approval request's payload, and nowhere else.
    let mut carriers = Vec::new();
    for (name, state) in asl_states() {
        let text = state.to_string();
        if text.contains("Task.Token") || text.contains("task_token") {
            carriers.push(name.clone());
            let resource = state["Resource"].as_str().unwrap_or_default();
            assert!(
                resource.ends_with(".waitForTaskToken"),
                "{ASL_FILE}: state `{name}` carries a task token but does not wait for it"
            );
            let payload = &state["Parameters"]["Payload"];
            assert_eq!(
                payload["task_token.$"], "$$.Task.Token",
                "{ASL_FILE}: `{name}` passes the token outside its payload's task_token"
            );
            let elsewhere = state.as_object().into_iter().flatten().any(|(key, value)| {
                key != "Parameters" && value.to_string().contains("Task.Token")
            });
            assert!(
                !elsewhere,
                "{ASL_FILE}: `{name}` puts the token in its result or output"
            );
        }
    }
    assert_eq!(carriers.len(), 1, "{ASL_FILE}: task tokens in {carriers:?}");
}

#[test]
fn each_approver_gets_only_their_own_links_and_only_administrators_subscribe() {
    let tf = terraform();
    let attribute_name = connectors_wiring::APPROVER_ATTRIBUTE;
    let mut problems = Vec::new();
    let (file, approver) = tf.block("resource", "aws_sns_topic_subscription", "approver");
    let get = |block: &hcl::Block, key: &str| attribute(&block.body, key).map(compact);
    if get(approver, "for_each").as_deref() != Some("local.approver_emails") {
        problems.push(format!("{file}: aws_sns_topic_subscription.approver is not one subscription per approver (for_each = local.approver_emails)"));
    }
    if get(approver, "endpoint").as_deref() != Some("each.value")
        || get(approver, "filter_policy").as_deref()
            != Some(&format!("jsonencode({{{attribute_name}=[each.value]}})") as &str)
        || get(approver, "filter_policy_scope").as_deref() != Some("\"MessageAttributes\"")
    {
        problems.push(format!("{file}: an approver's subscription must take only messages whose `{attribute_name}` attribute is its own address"));
    }
    let (file, general) = tf.block("resource", "aws_sns_topic_subscription", "incident_email");
    if get(general, "filter_policy").as_deref()
        != Some(&format!("jsonencode({{{attribute_name}=[{{exists=false}}]}})") as &str)
    {
        problems.push(format!("{file}: the incidents address must take only messages without an `{attribute_name}` attribute (no approval links)"));
    }
    // Every subscription of the incidents topic filters on the approver.
    for (file, body) in &tf.files {
        for block in
            blocks(body, "resource").filter(|b| label(b, 0) == Some("aws_sns_topic_subscription"))
        {
            let topic = get(block, "topic_arn").unwrap_or_default();
            if topic.contains("aws_sns_topic.incidents")
                && !get(block, "filter_policy")
                    .unwrap_or_default()
                    .contains(attribute_name)
            {
                problems.push(format!("{file}: aws_sns_topic_subscription.{} takes every message of the incidents topic, approvers' links included", label(block, 1).unwrap_or_default()));
            }
        }
    }
    let (file, policy) = tf.block("resource", "aws_sns_topic_policy", "incidents");
    if get(policy, "policy").as_deref() != Some("data.aws_iam_policy_document.incidents_topic.json")
    {
        problems.push(format!(
            "{file}: the incidents topic has no policy restricting who subscribes"
        ));
    }
    let (file, statements) = policy_statements(&tf, "incidents_topic");
    let denied = |action: &str, allowed: &str| {
        statements.iter().any(|statement| {
            attribute(statement, "effect").and_then(literal).as_deref() == Some("Deny")
                && actions_of(statement) == vec![action.to_string()]
                && blocks(statement, "principals").any(|p| {
                    attribute(&p.body, "identifiers").map(strings) == Some(vec!["*".to_string()])
                })
                && conditions_of(statement)
                    .iter()
                    .any(|(test, variable, values)| {
                        test == "ArnNotEquals"
                            && variable == "aws:PrincipalArn"
                            && values.contains(allowed)
                    })
        })
    };
    if !denied("sns:Subscribe", "local.subscription_administrators") {
        problems.push(format!("{file}: sns:Subscribe on the incidents topic is not denied to everyone but the administrators"));
    }
    if !denied("sns:Publish", "aws_iam_role.function[\"connectors\"].arn") {
        problems.push(format!("{file}: sns:Publish on the incidents topic is not denied to everyone but the connectors"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_service_allowed_to_invoke_a_function_is_bound_to_its_source() {
    let tf = terraform();
    let mut problems = Vec::new();
    for (file, body) in &tf.files {
        for block in
            blocks(body, "resource").filter(|b| label(b, 0) == Some("aws_lambda_permission"))
        {
            let name = label(block, 1).unwrap_or_default();
            let principal = attribute(&block.body, "principal")
                .and_then(literal)
                .unwrap_or_default();
            // A service principal acts for a resource (a rule, an alarm): the grant names it.
            if principal.ends_with(".amazonaws.com")
                && attribute(&block.body, "source_arn").is_none()
            {
                problems.push(format!(
                    "{file}: aws_lambda_permission.{name} lets {principal} invoke without a source_arn"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_orchestrator_knows_argus_own_roles_by_exact_arn_only() {
    let tf = terraform();
    let (file, deployed) = deployed_functions(&tf);
    let orchestrator = object(deployed["orchestrator"]);
    let policy = object(orchestrator["environment"])
        .get("ARGUS_POLICY")
        .map(|expr| compact(expr))
        .unwrap_or_default();
    assert_eq!(
        policy, "local.orchestrator_policy_json",
        "{file}: the orchestrator's ARGUS_POLICY must be the policy with Argus' own roles written in"
    );
    let (file, merged) = tf.local("orchestrator_policy_json");
    let merged = compact(merged);
    assert!(
        merged.contains("self_role_arns=[aws_iam_role.state_machine.arn]"),
        "{file}: local.orchestrator_policy_json must set signals.self_role_arns to the recovery role's exact ARN: {merged}"
    );
    // The prefix never names Argus' principals: nothing in Terraform writes a pattern there.
    assert!(!merged.contains('*'), "{file}: {merged}");
}

#[test]
fn the_recovery_role_never_starts_a_quarantined_instance() {
    let tf = terraform();
    let (file, statements) = policy_statements(&tf, "state_machine");
    let denies: Vec<_> = statements
        .iter()
        .filter(|s| attribute(s, "effect").and_then(literal).as_deref() == Some("Deny"))
        .filter(|s| actions_of(s).contains(&"ec2:StartInstances".to_string()))
        .collect();
    assert!(
        !denies.is_empty(),
        "{file}: data.aws_iam_policy_document.state_machine has no Deny of ec2:StartInstances on quarantined instances"
    );
    let conditions: Vec<_> = denies.iter().flat_map(|s| conditions_of(s)).collect();
    assert!(
        conditions
            .iter()
            .any(|(test, variable, values)| test == "Null"
                && variable.contains("aws:ResourceTag/")
                && values.contains("false")),
        "{file}: the Deny must match any instance that carries a quarantine tag (Null … = false): {conditions:?}"
    );
    let (_, default) = tf.variable_default("quarantine_tag_keys");
    let keys = strings(default);
    for key in ["argus:quarantine", "Quarantine"] {
        assert!(
            keys.contains(&key.to_string()),
            "quarantine_tag_keys defaults to {keys:?}"
        );
    }
}

#[test]
fn a_trust_policy_names_its_source_arn_exactly() {
    // A SourceArn bound to one resource is compared exactly (ArnEquals…), so no later edit can
    // widen it with a wildcard while the test still reads "Arn…".
    let tf = terraform();
    let mut problems = Vec::new();
    for document in policy_documents(&tf) {
        let (file, statements) = policy_statements(&tf, &document);
        for statement in statements
            .iter()
            .filter(|s| actions_of(s).contains(&"sts:AssumeRole".to_string()))
        {
            for (test, variable, values) in conditions_of(statement) {
                if variable == "aws:SourceArn" && !test.starts_with("ArnEquals") {
                    problems.push(format!(
                        "{file}: data.aws_iam_policy_document.{document} binds aws:SourceArn with {test} ({values}); use ArnEquals or ArnEqualsIfExists"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ------------------------------------------------ ECS, RDS, Spot, Auto Scaling and SSM (issue 18)

#[test]
fn every_signal_rule_reaches_the_orchestrator() {
    // Each rule of local.event_rules has a target, on its own bus, that is the orchestrator,
    // and a permission for EventBridge to invoke it from that rule.
    let tf = terraform();
    let (file, rules) = tf.local("event_rules");
    assert!(
        object(rules).len() >= 11,
        "{file}: local.event_rules has {} rules",
        object(rules).len()
    );
    let mut problems = Vec::new();
    let (target_file, target) = tf.block("resource", "aws_cloudwatch_event_target", "signal");
    let (permission_file, permission) = tf.block("resource", "aws_lambda_permission", "events");
    for (body, what, file) in [
        (
            &target.body,
            "aws_cloudwatch_event_target.signal",
            target_file,
        ),
        (
            &permission.body,
            "aws_lambda_permission.events",
            permission_file,
        ),
    ] {
        let for_each = attribute(body, "for_each").map(text);
        if for_each.as_deref() != Some("local.event_rules") {
            problems.push(format!(
                "{file}: {what} is for_each {for_each:?}, not local.event_rules: some rule would reach nothing"
            ));
        }
    }
    let arn = attribute(&target.body, "arn").map(text).unwrap_or_default();
    if !arn.contains("aws_lambda_function.function[\"orchestrator\"]") {
        problems.push(format!(
            "{target_file}: aws_cloudwatch_event_target.signal targets {arn}, not the orchestrator"
        ));
    }
    let function = attribute(&permission.body, "function_name")
        .map(text)
        .unwrap_or_default();
    if !function.contains("aws_lambda_function.function[\"orchestrator\"]") {
        problems.push(format!(
            "{permission_file}: aws_lambda_permission.events lets EventBridge invoke {function}, not the orchestrator"
        ));
    }
    for detail_type in [
        "ECS Deployment State Change",
        "ECS Service Action",
        "ECS Task State Change",
        "RDS DB Instance Event",
        "RDS DB Cluster Event",
        "EC2 Spot Instance Interruption Warning",
        "EC2 Instance Rebalance Recommendation",
        "EC2 Instance Launch Unsuccessful",
        "Parameter Store Change",
    ] {
        let routed = object(rules).into_iter().any(|(_, body)| {
            object(body)
                .get("pattern")
                .map(|pattern| object(pattern))
                .and_then(|pattern| pattern.get("detail-type").map(|d| strings(d)))
                .is_some_and(|types| types.iter().any(|t| t == detail_type))
        });
        if !routed {
            problems.push(format!(
                "{file}: no rule of local.event_rules routes `{detail_type}`"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_new_recovery_actions_act_only_on_resources_tagged_for_argus() {
    // The calls of ecs.rollback_task_definition, ecs.force_new_deployment, rds.reboot and
    // asg.replace_instance are allowed only by statements conditioned on the managed tag, and
    // only on their own kind of resource.
    let tf = terraform();
    let (file, statements) = policy_statements(&tf, "state_machine");
    let mut problems = Vec::new();
    for (action, resource_kind) in [
        ("ecs:UpdateService", ":ecs:"),
        ("rds:RebootDBInstance", ":rds:"),
        ("autoscaling:SetInstanceHealth", ":autoscaling:"),
    ] {
        let allowing: Vec<&&hcl::Body> = statements
            .iter()
            .filter(|statement| {
                attribute(statement, "effect").and_then(literal).as_deref() == Some("Allow")
                    && actions_of(statement).contains(&action.to_string())
            })
            .collect();
        if allowing.is_empty() {
            problems.push(format!(
                "{file}: data.aws_iam_policy_document.state_machine does not allow {action}"
            ));
        }
        for statement in allowing {
            let tagged = conditions_of(statement).iter().any(|(test, variable, _)| {
                test == "StringEquals" && variable == "local.managed_condition_variable"
            });
            if !tagged {
                problems.push(format!(
                    "{file}: {action} is allowed without the managed-tag condition"
                ));
            }
            let resources = attribute(statement, "resources")
                .map(text)
                .unwrap_or_default();
            if !resources.contains(resource_kind) || resources.contains("\"*\"") {
                problems.push(format!(
                    "{file}: {action} is allowed on {resources}, not only on {resource_kind} resources"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
