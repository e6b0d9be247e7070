# Least privilege, one document per function: exactly the AWS calls its code makes (the
# wiring tests compare these actions with the API_CALLS lists kept beside the adapters), and
# the state machine's role: exactly what its Task states call, recovery writes limited to
# resources tagged for Argus, and explicit denies on destructive calls outside the catalogue.

locals {
  # Each function's own-calls policy. A function whose code calls no AWS API (the verifier:
  # the workflow passes it the evidence) has no entry, so its role holds only the runtime policy.
  function_policies = {
    orchestrator      = data.aws_iam_policy_document.orchestrator.json
    "log-analyzer"    = data.aws_iam_policy_document.log_analyzer.json
    connectors        = data.aws_iam_policy_document.connectors.json
    "connectors-http" = data.aws_iam_policy_document.connectors_http.json
  }

  table_arns = [
    aws_dynamodb_table.incidents.arn,
    "${aws_dynamodb_table.incidents.arn}/index/*",
    aws_dynamodb_table.patterns.arn,
    "${aws_dynamodb_table.patterns.arn}/index/*",
  ]

  arn_prefix = "arn:${data.aws_partition.current.partition}"
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
}

data "aws_iam_policy_document" "orchestrator" {
  statement {
    sid    = "IncidentAndPatternTables"
    effect = "Allow"
    # GetItem, Query: reads; PutItem, UpdateItem, DeleteItem, ConditionCheckItem: the conditional
    # writes and the items of TransactWriteItems, which IAM authorises per item action.
    actions = [
      "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = local.table_arns
  }

  statement {
    sid       = "StartRecovery"
    effect    = "Allow"
    actions   = ["states:StartExecution"]
    resources = [local.state_machine_arn]
  }

  # An incident that resolves while its approval waits ends that wait (SendTaskFailure with
  # Argus.IncidentResolved), so nothing runs and nobody is paged for it.
  statement {
    sid       = "EndApprovalWaits"
    effect    = "Allow"
    actions   = ["states:SendTaskFailure"]
    resources = [local.state_machine_arn]
  }

  # The reconciler reads where an overdue incident's execution stands before escalating it.
  statement {
    sid       = "ReadRecoveryExecutions"
    effect    = "Allow"
    actions   = ["states:DescribeExecution"]
    resources = ["${local.arn_prefix}:states:${local.region}:${local.account_id}:execution:${local.state_machine_name}:*"]
  }

  # The reconciler lists the alarms in ALARM to find the ones whose event was missed.
  statement {
    sid       = "ReadAlarms"
    effect    = "Allow"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = ["${local.arn_prefix}:cloudwatch:${local.region}:${local.account_id}:alarm:*"]
  }

  # Investigation reads before analysis: the service graph and its nodes' statistics (X-Ray),
  # recent write calls (CloudTrail) and the alarming resource's metrics (CloudWatch). None of
  # these actions supports resource-level permissions, hence "*"; all are reads.
  statement {
    sid    = "Investigate"
    effect = "Allow"
    actions = [
      "cloudtrail:LookupEvents",
      "cloudwatch:GetMetricData",
      "xray:GetServiceGraph",
      "xray:GetTimeSeriesServiceStatistics",
    ]
    resources = ["*"]
  }

  statement {
    sid     = "AnalyseWithBedrock"
    effect  = "Allow"
    actions = ["bedrock:InvokeModel"]
    # A system inference profile routes to the model in any of its regions, so the model is
    # allowed in every region; profiles only in this account.
    resources = [
      "${local.arn_prefix}:bedrock:*::foundation-model/*",
      "${local.arn_prefix}:bedrock:*:${local.account_id}:inference-profile/*",
      "${local.arn_prefix}:bedrock:*:${local.account_id}:application-inference-profile/*",
    ]
  }
}

data "aws_iam_policy_document" "log_analyzer" {
  statement {
    sid       = "ReadAnalysedLogGroups"
    effect    = "Allow"
    actions   = ["logs:FilterLogEvents"]
    resources = [for name in local.analysed_log_group_names : "${local.arn_prefix}:logs:${local.region}:${local.account_id}:log-group:${name}:*"]
  }

  # Anomalies go to the Argus bus only, and only as argus.log-analyzer.
  statement {
    sid       = "PublishAnomalies"
    effect    = "Allow"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.argus.arn]

    condition {
      test     = "StringEquals"
      variable = "events:source"
      values   = [local.argus_bus_publishers["log-analyzer"]]
    }
  }

  statement {
    sid    = "Baselines"
    effect = "Allow"
    # PutItem alone and as the items of TransactWriteItems, which IAM authorises per item.
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.patterns.arn]
  }
}

# ---------------------------------------------------------------- state machine

locals {
  # Every ${…} placeholder of statemachines/recovery.asl.json and the Lambda it names; the
  # state machine may invoke exactly these.
  # The orchestrator is invoked only for its record operations, through its records alias.
  asl_functions = {
    orchestrator_function_arn = aws_lambda_alias.orchestrator_records.arn
    verifier_function_arn     = aws_lambda_function.function["verifier"].arn
    connectors_function_arn   = aws_lambda_function.function["connectors"].arn
  }

  # Recovery writes are allowed only on resources carrying the Argus tag.
  managed_condition_variable = "aws:ResourceTag/${var.managed_tag_key}"
}

# The workflow's record operations (record_start, record_outcome) mark incidents RECOVERED and
# feed the autonomy ladder, so the orchestrator takes them only through this alias (the handler
# reads the alias from the invoked ARN, functions/orchestrator/src/wiring.rs RECORDS_ALIAS);
# its resource policy names only the recovery state machine's role, and only that role's policy
# allows invoking it. EventBridge and alarm actions invoke the unqualified function, which
# refuses record operations.
resource "aws_lambda_alias" "orchestrator_records" {
  name             = "recovery"
  description      = "The recovery state machine's path to the orchestrator's record operations."
  function_name    = aws_lambda_function.function["orchestrator"].function_name
  function_version = "$LATEST"
}

resource "aws_lambda_permission" "orchestrator_records" {
  statement_id  = "RecoveryStateMachineRecords"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["orchestrator"].function_name
  qualifier     = aws_lambda_alias.orchestrator_records.name
  principal     = aws_iam_role.state_machine.arn
}

resource "aws_iam_role" "state_machine" {
  name               = "${var.name_prefix}-recovery"
  description        = "Role of the Argus recovery state machine: the allow-listed recovery actions on resources tagged for Argus."
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
}

data "aws_iam_policy_document" "states_assume" {
  statement {
    sid     = "StepFunctionsAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    # Only on behalf of the recovery state machine, not any state machine of the account.
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.state_machine_arn]
    }
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "recovery"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid     = "InvokeArgusFunctions"
    effect  = "Allow"
    actions = ["lambda:InvokeFunction"]
    # The orchestrator only through its records alias; the others also by any qualifier.
    resources = concat(values(local.asl_functions), [for name, arn in local.asl_functions : "${arn}:*" if name != "orchestrator_function_arn"])
  }

  statement {
    sid    = "RecoverTaggedInstances"
    effect = "Allow"
    # ec2.reboot, ec2.start, and stopping an instance Argus started (the inverse of ec2.start).
    actions   = ["ec2:RebootInstances", "ec2:StartInstances", "ec2:StopInstances"]
    resources = ["${local.arn_prefix}:ec2:${local.region}:${local.account_id}:instance/*"]

    condition {
      test     = "StringEquals"
      variable = local.managed_condition_variable
      values   = [var.managed_tag_value]
    }
  }

  # A quarantined instance (security stopped or isolated it) is never started or rebooted by
  # Argus, whatever a signal or an approval says: one Deny per quarantine tag key, matching any
  # value. Argus reads no tags before proposing, so the role is where this holds.
  dynamic "statement" {
    for_each = { for index, key in var.quarantine_tag_keys : tostring(index) => key }
    content {
      sid       = "NeverStartQuarantinedInstances${statement.key}"
      effect    = "Deny"
      actions   = ["ec2:RebootInstances", "ec2:StartInstances"]
      resources = ["${local.arn_prefix}:ec2:${local.region}:${local.account_id}:instance/*"]

      condition {
        test     = "Null"
        variable = "aws:ResourceTag/${statement.value}"
        values   = ["false"]
      }
    }
  }

  statement {
    sid       = "RedeployTaggedServices"
    effect    = "Allow"
    actions   = ["ecs:UpdateService"]
    resources = ["${local.arn_prefix}:ecs:${local.region}:${local.account_id}:service/*/*"]

    condition {
      test     = "StringEquals"
      variable = local.managed_condition_variable
      values   = [var.managed_tag_value]
    }
  }

  statement {
    sid       = "RollBackTaggedAliases"
    effect    = "Allow"
    actions   = ["lambda:GetAlias", "lambda:UpdateAlias"]
    resources = ["${local.arn_prefix}:lambda:${local.region}:${local.account_id}:function:*"]

    condition {
      test     = "StringEquals"
      variable = local.managed_condition_variable
      values   = [var.managed_tag_value]
    }
  }

  statement {
    sid       = "RefreshTaggedGroups"
    effect    = "Allow"
    actions   = ["autoscaling:RollbackInstanceRefresh", "autoscaling:StartInstanceRefresh"]
    resources = ["${local.arn_prefix}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]

    condition {
      test     = "StringEquals"
      variable = local.managed_condition_variable
      values   = [var.managed_tag_value]
    }
  }

  statement {
    sid       = "RebootTaggedDatabases"
    effect    = "Allow"
    actions   = ["rds:RebootDBInstance"] # rds.reboot, with or without failover
    resources = ["${local.arn_prefix}:rds:${local.region}:${local.account_id}:db:*"]

    condition {
      test     = "StringEquals"
      variable = local.managed_condition_variable
      values   = [var.managed_tag_value]
    }
  }

  statement {
    sid       = "ReplaceInstancesOfTaggedGroups"
    effect    = "Allow"
    actions   = ["autoscaling:SetInstanceHealth"] # asg.replace_instance: the group replaces it
    resources = ["${local.arn_prefix}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]

    condition {
      test     = "StringEquals"
      variable = local.managed_condition_variable
      values   = [var.managed_tag_value]
    }
  }

  statement {
    sid     = "RunAllowListedAutomation"
    effect  = "Allow"
    actions = ["ssm:StartAutomationExecution"]
    # AWS-owned documents cannot carry tags; the allow-list of documents is the limit here.
    resources = [for d in var.ssm_documents : "${local.arn_prefix}:ssm:${local.region}:${local.account_id}:automation-definition/${d}:$DEFAULT"]
  }

  statement {
    sid       = "TagAutomationRuns"
    effect    = "Allow"
    actions   = ["ssm:AddTagsToResource"]
    resources = ["${local.arn_prefix}:ssm:${local.region}:${local.account_id}:automation-execution/*"]
    # The run is tagged with the correlation id so its own CloudTrail events attach to the incident.
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = ["argus:correlation-id"]
    }
  }

  dynamic "statement" {
    for_each = var.terraform_apply_project == "" ? [] : [var.terraform_apply_project]
    content {
      sid       = "ReapplyTerraform"
      effect    = "Allow"
      actions   = ["codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"]
      resources = ["${local.arn_prefix}:codebuild:${local.region}:${local.account_id}:project/${statement.value}"]
    }
  }

  dynamic "statement" {
    for_each = var.terraform_apply_project == "" ? [] : [var.terraform_apply_project]
    content {
      sid       = "WaitForBuilds"
      effect    = "Allow"
      actions   = ["events:DescribeRule", "events:PutRule", "events:PutTargets"]
      resources = ["${local.arn_prefix}:events:${local.region}:${local.account_id}:rule/StepFunctionsGetEventsForCodeBuildStartBuildRule"]
    }
  }

  # The execution's data (inputs, outputs, history) is encrypted with the Argus key.
  statement {
    sid       = "EncryptExecutionData"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.argus.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:states:stateMachineArn"
      values   = [local.state_machine_arn]
    }
  }

  statement {
    sid     = "ReadRecoveryEvidence"
    effect  = "Allow"
    actions = ["autoscaling:DescribeAutoScalingInstances", "cloudwatch:DescribeAlarms", "ec2:DescribeInstanceStatus", "ecs:DescribeServices", "rds:DescribeDBInstances"]
    # These reads have no resource-level permissions (DescribeAlarms, DescribeInstanceStatus,
    # DescribeAutoScalingInstances) or name the resource in the request body (DescribeServices,
    # DescribeDBInstances); they change nothing.
    resources = ["*"]
  }

  statement {
    sid    = "DeliverExecutionLogs"
    effect = "Allow"
    actions = [
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]
    resources = ["*"] # Vended log delivery has no resource-level permissions.
  }

  statement {
    sid    = "WriteTraces"
    effect = "Allow"
    actions = [
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
      "xray:PutTelemetryRecords",
      "xray:PutTraceSegments",
    ]
    resources = ["*"] # X-Ray has no resource-level permissions for these calls.
  }

  statement {
    sid    = "NeverDestroy"
    effect = "Deny"
    # Destructive or privilege-changing calls no catalogue action makes: denied even if a
    # broader policy is attached to this role later.
    actions = [
      "autoscaling:DeleteAutoScalingGroup",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
      "dynamodb:DeleteTable",
      "ec2:DeleteSnapshot",
      "ec2:DeleteVolume",
      "ec2:ModifyInstanceAttribute",
      "ec2:TerminateInstances",
      "ecs:DeleteCluster",
      "ecs:DeleteService",
      "iam:AttachRolePolicy",
      "iam:CreateAccessKey",
      "iam:CreateUser",
      "iam:PassRole",
      "iam:PutRolePolicy",
      "lambda:DeleteAlias",
      "lambda:DeleteFunction",
      "lambda:UpdateFunctionCode",
      "lambda:UpdateFunctionConfiguration",
      "rds:DeleteDBCluster",
      "rds:DeleteDBInstance",
      "s3:DeleteBucket",
      "s3:PutBucketPolicy",
      "ssm:DeleteParameter",
      "ssm:PutParameter",
    ]
    resources = ["*"]
  }
}
