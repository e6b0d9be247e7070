# EventBridge rules that route signals to the orchestrator. Each detail-type is one the
# library's normalisers accept, and each rule matches on the only source that may send it
# (shared/src/signal/normalise.rs `trusted_source`; the wiring tests check both). AWS' own
# events arrive on the default bus, where their `aws.*` sources cannot be put by anyone else;
# Argus' own events (log anomalies, external alerts) travel on the Argus bus, whose policy
# admits only Argus' own roles, so `events:PutEvents` on the default bus cannot forge them.

resource "aws_cloudwatch_event_bus" "argus" {
  name = "${var.name_prefix}-signals"
}

# Only the log analyzer and the connectors endpoint may put events on the Argus bus, and each
# only with its own source (their role policies pin `events:source` too). The Deny covers every
# other principal of the account, whatever its identity policy grants.
resource "aws_cloudwatch_event_bus_policy" "argus" {
  event_bus_name = aws_cloudwatch_event_bus.argus.name
  policy         = data.aws_iam_policy_document.argus_bus.json
}

locals {
  # Who may put on the Argus bus, and the one source each may use.
  argus_bus_publishers = {
    "log-analyzer"    = "argus.log-analyzer"
    "connectors-http" = "argus.connectors"
  }
}

data "aws_iam_policy_document" "argus_bus" {
  dynamic "statement" {
    for_each = local.argus_bus_publishers
    content {
      sid       = "Publish${replace(title(replace(statement.key, "-", " ")), " ", "")}"
      effect    = "Allow"
      actions   = ["events:PutEvents"]
      resources = [aws_cloudwatch_event_bus.argus.arn]

      principals {
        type        = "AWS"
        identifiers = [aws_iam_role.function[statement.key].arn]
      }

      condition {
        test     = "StringEquals"
        variable = "events:source"
        values   = [statement.value]
      }
    }
  }

  statement {
    sid       = "OnlyArgusPublishes"
    effect    = "Deny"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.argus.arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [for name in keys(local.argus_bus_publishers) : aws_iam_role.function[name].arn]
    }
  }
}

locals {
  event_rules = {
    alarm-state-change = {
      description = "CloudWatch alarm state changes"
      bus         = "default"
      pattern = {
        source        = ["aws.cloudwatch"]
        "detail-type" = ["CloudWatch Alarm State Change"]
      }
    }
    sensitive-api-calls = {
      description = "Sensitive API calls recorded by CloudTrail"
      bus         = "default"
      pattern = {
        # CloudTrail's events come from aws.<service>, which only AWS can send.
        source        = [{ prefix = "aws." }]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventName = var.sensitive_calls
        }
      }
    }
    ec2-state-change = {
      description = "EC2 instance state changes"
      bus         = "default"
      pattern = {
        source        = ["aws.ec2"]
        "detail-type" = ["EC2 Instance State-change Notification"]
      }
    }
    aws-health = {
      description = "AWS Health events for this account"
      bus         = "default"
      pattern = {
        source        = ["aws.health"]
        "detail-type" = ["AWS Health Event"]
      }
    }
    ecs-deployments-and-services = {
      description = "ECS deployment state changes and service actions"
      bus         = "default"
      pattern = {
        source        = ["aws.ecs"]
        "detail-type" = ["ECS Deployment State Change", "ECS Service Action"]
      }
    }
    ecs-stopped-tasks = {
      description = "ECS tasks that stopped (running tasks are not sent)"
      bus         = "default"
      pattern = {
        source        = ["aws.ecs"]
        "detail-type" = ["ECS Task State Change"]
        detail = {
          lastStatus = ["STOPPED"]
        }
      }
    }
    rds-events = {
      description = "RDS DB instance and cluster events"
      bus         = "default"
      pattern = {
        source        = ["aws.rds"]
        "detail-type" = ["RDS DB Instance Event", "RDS DB Cluster Event"]
      }
    }
    spot-notices = {
      description = "EC2 Spot interruption warnings and rebalance recommendations"
      bus         = "default"
      pattern = {
        source        = ["aws.ec2"]
        "detail-type" = ["EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation"]
      }
    }
    autoscaling-launches = {
      description = "EC2 Auto Scaling launch results"
      bus         = "default"
      pattern = {
        source        = ["aws.autoscaling"]
        "detail-type" = ["EC2 Instance Launch Unsuccessful", "EC2 Instance Launch Successful"]
      }
    }
    parameter-store-changes = {
      description = "Systems Manager Parameter Store changes"
      bus         = "default"
      pattern = {
        source        = ["aws.ssm"]
        "detail-type" = ["Parameter Store Change"]
      }
    }
    log-anomalies = {
      description = "Argus' own signals: the log analyzer's anomalies"
      bus         = aws_cloudwatch_event_bus.argus.name
      pattern = {
        source        = ["argus.log-analyzer"]
        "detail-type" = ["Argus Log Anomaly"]
      }
    }
    external-alerts = {
      description = "Argus' own signals: external alerts from the connectors' webhooks"
      bus         = aws_cloudwatch_event_bus.argus.name
      pattern = {
        source        = ["argus.connectors"]
        "detail-type" = ["Argus External Alert"]
      }
    }
  }
}

resource "aws_cloudwatch_event_rule" "signal" {
  for_each = local.event_rules

  name           = "${var.name_prefix}-${each.key}"
  description    = "Argus: ${each.value.description}"
  event_bus_name = each.value.bus
  event_pattern  = jsonencode(each.value.pattern)
}

resource "aws_cloudwatch_event_target" "signal" {
  for_each = local.event_rules

  rule           = aws_cloudwatch_event_rule.signal[each.key].name
  event_bus_name = each.value.bus
  target_id      = "orchestrator"
  arn            = aws_lambda_function.function["orchestrator"].arn

  retry_policy {
    maximum_retry_attempts       = var.event_retry_attempts
    maximum_event_age_in_seconds = var.event_max_age_seconds
  }

  dead_letter_config {
    arn = aws_sqs_queue.events_dlq.arn
  }
}

resource "aws_lambda_permission" "events" {
  for_each = local.event_rules

  statement_id  = "events-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["orchestrator"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.signal[each.key].arn
}

# A CloudWatch alarm can name the orchestrator as its action directly (no EventBridge hop).
resource "aws_lambda_permission" "alarms" {
  statement_id   = "cloudwatch-alarms"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.function["orchestrator"].function_name
  principal      = "lambda.alarms.cloudwatch.amazonaws.com"
  source_account = local.account_id
  source_arn     = "${local.arn_prefix}:cloudwatch:${local.region}:${local.account_id}:alarm:*"
}

resource "aws_sqs_queue" "events_dlq" {
  name                      = "${var.name_prefix}-events-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.argus.arn
}

resource "aws_sqs_queue_policy" "events_dlq" {
  queue_url = aws_sqs_queue.events_dlq.id
  policy    = data.aws_iam_policy_document.events_dlq.json
}

data "aws_iam_policy_document" "events_dlq" {
  statement {
    sid       = "EventBridgeDeadLetters"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events_dlq.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for rule in aws_cloudwatch_event_rule.signal : rule.arn]
    }
  }
}
