# The Lambda functions. Adding one is one entry in local.functions, its policy document in
# iam.tf, and its line in local.function_policies; everything else here (log group, role, zip,
# failure destination, alarms, dashboard) follows from the map.

locals {
  artifact_dir = coalesce(var.artifact_dir, "${path.module}/../target/lambda")

  # Every function Argus deploys, by binary name (= the folder of its zip under target/lambda/):
  # the package under functions/ that builds it, its sizing, and the environment it reads at
  # init (the wiring tests hold this to the code).
  functions = {
    orchestrator = {
      package                        = "orchestrator"
      description                    = "Argus orchestrator: turns alarms and events into incidents and starts the recovery workflow; records the workflow's start and outcome."
      memory_size                    = 256
      timeout                        = 90
      reserved_concurrent_executions = 20
      environment = {
        ARGUS_INCIDENTS_TABLE   = aws_dynamodb_table.incidents.name
        ARGUS_PATTERNS_TABLE    = aws_dynamodb_table.patterns.name
        ARGUS_STATE_MACHINE_ARN = local.state_machine_arn
        ARGUS_POLICY            = local.orchestrator_policy_json
        # The analyst, and the Bedrock call's settings (empty means the built-in default).
        ARGUS_ANALYST                   = var.analyst
        ARGUS_BEDROCK_MODEL_ID          = var.bedrock.model_id
        ARGUS_BEDROCK_INFERENCE_PROFILE = var.bedrock.inference_profile
        ARGUS_BEDROCK_MAX_TOKENS        = tostring(var.bedrock.max_tokens)
        ARGUS_BEDROCK_TIMEOUT_MS        = tostring(var.bedrock.timeout_ms)
        ARGUS_BEDROCK_MAX_ATTEMPTS      = tostring(var.bedrock.max_attempts)
        # What Argus looks at before it proposes (README, "Investigation").
        ARGUS_INVESTIGATION             = var.investigation.enabled ? "on" : "off"
        ARGUS_INVESTIGATION_DEADLINE_MS = tostring(var.investigation.deadline_ms)
        ARGUS_TLS_ROOTS                 = var.tls_roots
      }
    }
    verifier = {
      package                        = "verifier"
      description                    = "Argus verifier: judges from the evidence the recovery workflow gathered whether an incident recovered."
      memory_size                    = 128
      timeout                        = 10
      reserved_concurrent_executions = 10
      environment                    = {}
    }
    log-analyzer = {
      package                        = "log-analyzer"
      description                    = "Argus log analyzer: learns the templates of each log group and puts an Argus Log Anomaly event on the bus when one changes."
      memory_size                    = 512
      timeout                        = 300
      reserved_concurrent_executions = 1
      environment = {
        ARGUS_PATTERNS_TABLE = aws_dynamodb_table.patterns.name
        ARGUS_EVENT_BUS      = aws_cloudwatch_event_bus.argus.name
        ARGUS_LOG_GROUPS     = join(",", local.analysed_log_groups)
        ARGUS_LOG_ANALYZER   = var.log_analyzer_tuning_json
        ARGUS_TLS_ROOTS      = var.tls_roots
      }
    }
    connectors = {
      package                        = "connectors"
      description                    = "Argus connectors: notifications, approval requests, pages, tickets and post-mortems for the recovery workflow."
      memory_size                    = 256
      timeout                        = 60
      reserved_concurrent_executions = 10
      environment = {
        ARGUS_INCIDENTS_TABLE      = aws_dynamodb_table.incidents.name
        ARGUS_PATTERNS_TABLE       = aws_dynamodb_table.patterns.name
        ARGUS_POLICY               = var.policy_json
        ARGUS_CONNECTORS_SECRET_ID = aws_secretsmanager_secret.connectors.arn
        ARGUS_CONNECTORS_SSM_PATH  = "" # the loader's other source (Parameter Store); off while the secret is used
        ARGUS_SNS_TOPIC_ARN        = aws_sns_topic.incidents.arn
        ARGUS_POSTMORTEM_BUCKET    = aws_s3_bucket.postmortems.bucket
        ARGUS_SLACK_CHANNEL        = var.connectors.slack_channel
        ARGUS_SERVICENOW_URL       = var.connectors.servicenow_url
        ARGUS_JIRA_URL             = var.connectors.jira_url
        ARGUS_JIRA_PROJECT         = var.connectors.jira_project
        ARGUS_GITHUB_REPOSITORY    = var.connectors.github_repository
        ARGUS_CONFLUENCE_URL       = var.connectors.confluence_url
        ARGUS_CONFLUENCE_SPACE     = var.connectors.confluence_space
        ARGUS_APPROVAL_BASE_URL    = var.connectors.approval_base_url
        ARGUS_TLS_ROOTS            = var.tls_roots
      }
    }
    connectors-http = {
      package                        = "connectors"
      description                    = "Argus connectors endpoint (Function URL): vendor alert webhooks and approval answers from Slack and signed links."
      memory_size                    = 256
      timeout                        = 15
      reserved_concurrent_executions = 10
      environment = {
        ARGUS_INCIDENTS_TABLE      = aws_dynamodb_table.incidents.name
        ARGUS_POLICY               = var.policy_json
        ARGUS_CONNECTORS_SECRET_ID = aws_secretsmanager_secret.connectors_http.arn
        ARGUS_EVENT_BUS            = aws_cloudwatch_event_bus.argus.name
        ARGUS_TLS_ROOTS            = var.tls_roots
      }
    }
  }

  # Without configured log groups the analyzer watches the orchestrator's own log group, so a
  # fresh deployment runs end to end; the name is built from the prefix to avoid a cycle.
  analysed_log_groups      = length(var.log_groups) > 0 ? var.log_groups : ["/aws/lambda/${var.name_prefix}-orchestrator"]
  analysed_log_group_names = [for entry in local.analysed_log_groups : split("=", entry)[0]]

  function_settings = {
    for name, f in local.functions : name => merge(f, {
      for k, v in try(var.function_overrides[name], {}) : k => v if v != null
    })
  }

  function_names = { for name in keys(local.functions) : name => "${var.name_prefix}-${name}" }

  # The orchestrator's policy is the deployer's with Argus' own roles written in, by exact ARN:
  # a CloudTrail call is Argus' own only when one of these roles made it and it carries an id
  # Argus issued. Nothing here is a name pattern, so a role called argus-* elsewhere is nobody.
  deployer_policy = jsondecode(var.policy_json)
  orchestrator_policy_json = jsonencode(merge(local.deployer_policy, {
    signals = merge(try(local.deployer_policy.signals, {}), {
      self_role_arns = [aws_iam_role.state_machine.arn]
    })
  }))

  # Built from the name, not from aws_sfn_state_machine.recovery.arn: the state machine names
  # the orchestrator's ARN and the orchestrator names the state machine's, which would be a cycle.
  state_machine_name = "${var.name_prefix}-recovery"
  state_machine_arn  = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:stateMachine:${local.state_machine_name}"
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${local.function_names[each.key]}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.argus.arn
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name               = local.function_names[each.key]
  description        = "Execution role of the Argus ${each.key} Lambda: exactly the calls it makes."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume[each.key].json
}

# Each role is assumed by Lambda for its own function only. The function's ARN is built from its
# name (the function names the role, so its arn attribute would be a cycle). Lambda may assume an
# execution role without a source resource in the request (it then carries aws:SourceAccount
# only), so the ARN is bound where Lambda supplies it, exactly (no wildcard): ArnEqualsIfExists.
data "aws_iam_policy_document" "lambda_assume" {
  for_each = local.functions

  statement {
    sid     = "LambdaAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }

    condition {
      test     = "ArnEqualsIfExists"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:function:${local.function_names[each.key]}"]
    }
  }
}

# What the function's own code calls (one document per function, in iam.tf).
resource "aws_iam_role_policy" "function_calls" {
  for_each = local.function_policies

  name   = "calls"
  role   = aws_iam_role.function[each.key].id
  policy = each.value
}

# What the Lambda service does with the role on the function's behalf: logs, traces, the
# failure destination and the environment's encryption key.
resource "aws_iam_role_policy" "function_runtime" {
  for_each = local.functions

  name   = "runtime"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function_runtime[each.key].json
}

data "aws_iam_policy_document" "function_runtime" {
  for_each = local.functions

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid       = "WriteTraces"
    effect    = "Allow"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions for these calls.
  }

  statement {
    sid       = "SendFailedInvocations"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.function_failures.arn]
  }

  statement {
    sid       = "UseArgusKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.argus.arn]
  }
}

resource "aws_lambda_function" "function" {
  # checkov:skip=CKV_AWS_117: Argus calls only AWS APIs (DynamoDB, Step Functions) and has no VPC resources to reach; a VPC would add NAT or endpoints and cold-start latency for no isolation gain.
  # checkov:skip=CKV_AWS_272: the zips are built from this repository by `cargo lambda build`; code signing needs an AWS Signer profile the adopting team owns and is left to them.
  # checkov:skip=CKV_AWS_116: asynchronous failures go to the on-failure destination (aws_lambda_function_event_invoke_config below), which records the request and the error and supersedes a DLQ.

  for_each = local.function_settings

  function_name                  = local.function_names[each.key]
  description                    = each.value.description
  role                           = aws_iam_role.function[each.key].arn
  runtime                        = "provided.al2023"
  architectures                  = ["arm64"]
  handler                        = "bootstrap"
  filename                       = "${local.artifact_dir}/${each.key}/bootstrap.zip"
  source_code_hash               = filebase64sha256("${local.artifact_dir}/${each.key}/bootstrap.zip")
  memory_size                    = each.value.memory_size
  timeout                        = each.value.timeout
  reserved_concurrent_executions = each.value.reserved_concurrent_executions
  kms_key_arn                    = aws_kms_key.argus.arn

  dynamic "environment" {
    for_each = length(each.value.environment) > 0 ? [each.value.environment] : []
    content {
      variables = environment.value
    }
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function[each.key].name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_iam_role_policy.function_runtime, aws_iam_role_policy.function_calls]
}

# Asynchronous invocations (EventBridge, CloudWatch alarm actions) that still fail after the
# retries land in the failures queue with the request and the error, for replay.
resource "aws_lambda_function_event_invoke_config" "function" {
  for_each = local.functions

  function_name                = aws_lambda_function.function[each.key].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.function_failures.arn
    }
  }
}

resource "aws_sqs_queue" "function_failures" {
  name                      = "${var.name_prefix}-function-failures"
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.argus.arn
}
