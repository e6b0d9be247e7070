# Alarms on Argus itself and its dashboard. Alarms publish to the alerts topic.

locals {
  queues = {
    function-failures = aws_sqs_queue.function_failures.name
    events-dlq        = aws_sqs_queue.events_dlq.name
  }

  function_alarms = merge([
    for name in keys(local.functions) : {
      "${name}-errors"    = { function = name, metric = "Errors" }
      "${name}-throttles" = { function = name, metric = "Throttles" }
    }
  ]...)
}

resource "aws_cloudwatch_metric_alarm" "function" {
  for_each = local.function_alarms

  alarm_name          = "${var.name_prefix}-${each.key}"
  alarm_description   = "Argus ${each.value.function} Lambda: ${each.value.metric} in the last 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = aws_lambda_function.function[each.value.function].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "queue_depth" {
  for_each = local.queues

  alarm_name          = "${var.name_prefix}-${each.key}-depth"
  alarm_description   = "Argus: events or invocations waiting in ${each.value}; they failed every retry and need a look (and a replay)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "recovery_failed" {
  alarm_name          = "${var.name_prefix}-recovery-executions-failed"
  alarm_description   = "Argus recovery workflow executions failed, timed out or were aborted."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.recovery.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_dashboard" "argus" {
  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Signals by outcome (opened = incidents opened)"
          region = local.region
          stat   = "Sum"
          period = 300
          metrics = [for outcome in ["opened", "attached", "resolved", "self-caused", "duplicate", "unattached"] :
            ["Argus", "Signals", "outcome", outcome]
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "Recoveries by outcome (workflow executions)"
          region  = local.region
          stat    = "Sum"
          period  = 300
          metrics = [for m in ["ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"] : ["AWS/States", m, "StateMachineArn", aws_sfn_state_machine.recovery.arn]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Time to recover (workflow execution time, p50 / p90)"
          region  = local.region
          period  = 3600
          metrics = [for p in ["p50", "p90"] : ["AWS/States", "ExecutionTime", "StateMachineArn", aws_sfn_state_machine.recovery.arn, { stat = p }]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "Function errors and throttles"
          region  = local.region
          stat    = "Sum"
          period  = 300
          metrics = flatten([for name, f in aws_lambda_function.function : [["AWS/Lambda", "Errors", "FunctionName", f.function_name], ["AWS/Lambda", "Throttles", "FunctionName", f.function_name]]])
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title   = "Dead letters (events and invocations that failed every retry)"
          region  = local.region
          stat    = "Maximum"
          period  = 300
          metrics = [for key, q in local.queues : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q]]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title  = "Bedrock tokens (cost) and fallbacks to the rules analyst"
          region = local.region
          stat   = "Sum"
          period = 3600
          metrics = [
            ["Argus", "AnalystInputTokens", "model", var.bedrock.model_id],
            ["Argus", "AnalystOutputTokens", "model", var.bedrock.model_id],
            ["Argus", "AnalystFallbacks"],
          ]
        }
      },
    ]
  })
}
