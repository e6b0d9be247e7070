# EventBridge rules that route signals to the orchestrator. Each detail-type is one the
# library's normalisers accept (the wiring tests check them against the constants).

locals {
  event_rules = {
    alarm-state-change = {
      description = "CloudWatch alarm state changes"
      pattern = {
        source        = ["aws.cloudwatch"]
        "detail-type" = ["CloudWatch Alarm State Change"]
      }
    }
    sensitive-api-calls = {
      description = "Sensitive API calls recorded by CloudTrail"
      pattern = {
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventName = var.sensitive_calls
        }
      }
    }
    ec2-state-change = {
      description = "EC2 instance state changes"
      pattern = {
        source        = ["aws.ec2"]
        "detail-type" = ["EC2 Instance State-change Notification"]
      }
    }
    aws-health = {
      description = "AWS Health events for this account"
      pattern = {
        source        = ["aws.health"]
        "detail-type" = ["AWS Health Event"]
      }
    }
    argus-events = {
      description = "Argus' own signals: log anomalies and external alerts"
      pattern = {
        source        = ["argus.log-analyzer", "argus.connectors"]
        "detail-type" = ["Argus Log Anomaly", "Argus External Alert"]
      }
    }
  }
}

resource "aws_cloudwatch_event_rule" "signal" {
  for_each = local.event_rules

  name          = "${var.name_prefix}-${each.key}"
  description   = "Argus: ${each.value.description}"
  event_pattern = jsonencode(each.value.pattern)
}

resource "aws_cloudwatch_event_target" "signal" {
  for_each = local.event_rules

  rule      = aws_cloudwatch_event_rule.signal[each.key].name
  target_id = "orchestrator"
  arn       = aws_lambda_function.function["orchestrator"].arn

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
