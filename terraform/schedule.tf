# The log analyzer's schedule (EventBridge Scheduler) and the dead-man alarm that says when it
# stops running.

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    # Only for schedules in Argus' own schedule group, not any schedule of the account.
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_scheduler_schedule_group.argus.arn]
    }
  }
}

resource "aws_scheduler_schedule_group" "argus" {
  name = var.name_prefix
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name_prefix}-scheduler"
  description        = "Lets EventBridge Scheduler run the Argus log analyzer, and nothing else."
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "RunLogAnalyzer"
    effect    = "Allow"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.function["log-analyzer"].arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "run-log-analyzer"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "log_analyzer" {
  name                = "${var.name_prefix}-log-analyzer"
  group_name          = aws_scheduler_schedule_group.argus.name
  description         = "Runs the Argus log analyzer over the configured log groups."
  schedule_expression = var.log_analyzer_schedule
  kms_key_arn         = aws_kms_key.argus.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.function["log-analyzer"].arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ source = "argus.schedule" })

    retry_policy {
      maximum_retry_attempts       = 0
      maximum_event_age_in_seconds = 300
    }
  }
}

# The analyzer stopped running (schedule deleted, permission lost, function broken at init):
# no invocations for three schedule periods of five minutes is silence, and silence breaches.
resource "aws_cloudwatch_metric_alarm" "log_analyzer_silent" {
  alarm_name          = "${var.name_prefix}-log-analyzer-silent"
  alarm_description   = "The Argus log analyzer has not run for 15 minutes: log anomalies are not being detected."
  namespace           = "AWS/Lambda"
  metric_name         = "Invocations"
  dimensions          = { FunctionName = aws_lambda_function.function["log-analyzer"].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}

# ---------------------------------------------------------------- reconciler

# The orchestrator's reconciler: an EventBridge schedule rule sends it a "Scheduled Event",
# on which it takes in alarms in ALARM whose event was missed, re-drives stalled incidents and
# escalates incidents whose workflow outlived its worst case.
resource "aws_cloudwatch_event_rule" "reconciler" {
  name                = "${var.name_prefix}-reconciler"
  description         = "Argus: runs the orchestrator's reconciler."
  schedule_expression = var.reconciler_schedule
}

resource "aws_cloudwatch_event_target" "reconciler" {
  rule      = aws_cloudwatch_event_rule.reconciler.name
  target_id = "orchestrator"
  arn       = aws_lambda_function.function["orchestrator"].arn

  # A missed run is made up by the next one; retrying an old run only overlaps it.
  retry_policy {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = 300
  }
}

resource "aws_lambda_permission" "reconciler" {
  statement_id  = "events-reconciler"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["orchestrator"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.reconciler.arn
}

# Each escalation by the reconciler is an incident whose workflow's outcome was lost: people
# must look at the resource, so every one of them pages.
resource "aws_cloudwatch_metric_alarm" "reconciler_escalated" {
  alarm_name          = "${var.name_prefix}-reconciler-escalated"
  alarm_description   = "The Argus reconciler escalated an incident whose recovery workflow outlived its worst case or lost its outcome; check the incident's audit trail and its resource."
  namespace           = "Argus"
  metric_name         = "ReconcilerEscalated"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}
