# Where Argus tells people: the alerts topic (its own alarms) and the connectors' secrets.

resource "aws_sns_topic" "alerts" {
  name              = "${var.name_prefix}-alerts"
  kms_master_key_id = aws_kms_key.argus.arn
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alarm_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# Declared without values: secrets never pass through Terraform state. Put the value in with
# `aws secretsmanager put-secret-value --secret-id <arn> --secret-string …`.
resource "aws_secretsmanager_secret" "connector" {
  # checkov:skip=CKV2_AWS_57: these are third-party webhook tokens and routing keys issued by PagerDuty, Slack, Datadog, Grafana and Alertmanager; they are rotated at their issuer, so there is no rotation Lambda to attach.
  for_each = var.connector_secrets

  name                    = "${var.name_prefix}/${each.key}"
  description             = "Argus connectors: ${each.key} (value set outside Terraform)"
  kms_key_id              = aws_kms_key.argus.arn
  recovery_window_in_days = 7
}
