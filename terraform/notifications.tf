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

# Declared without a value: secrets never pass through Terraform state. The connectors read it
# once at init: a JSON object of the names listed in the README ("Connectors"). Put it in with
# `aws secretsmanager put-secret-value --secret-id <connectors_secret_arn> --secret-string file://secrets.json`.
resource "aws_secretsmanager_secret" "connectors" {
  # checkov:skip=CKV2_AWS_57: the values are third-party webhook URLs, API tokens and signing secrets issued by Slack, PagerDuty, ServiceNow, Jira, GitHub, Datadog, Grafana and Alertmanager; they are rotated at their issuer, so there is no rotation Lambda to attach.
  name                    = "${var.name_prefix}/connectors"
  description             = "Argus connectors: webhook URLs, API tokens and signing keys (value set outside Terraform)"
  kms_key_id              = aws_kms_key.argus.arn
  recovery_window_in_days = 7
}

# The public endpoint's own secret: only what authenticates its senders (the webhook tokens and
# signing secrets, slack_signing_secret, approval_link_key), never a vendor token that would let
# a compromised endpoint post to Slack or open tickets. Also declared without a value.
resource "aws_secretsmanager_secret" "connectors_http" {
  # checkov:skip=CKV2_AWS_57: webhook tokens and signing secrets issued by the senders (Slack, PagerDuty, Datadog, Grafana, Alertmanager) and the link key; rotated at their issuer, so there is no rotation Lambda to attach.
  name                    = "${var.name_prefix}/connectors-http"
  description             = "Argus connectors endpoint: webhook tokens, signing secrets and the approval link key only (value set outside Terraform)"
  kms_key_id              = aws_kms_key.argus.arn
  recovery_window_in_days = 7
}

# Where people hear about incidents: notifications, approval requests (with signed links when
# connectors.approval_base_url is set) and outcomes, e-mailed to the topic's subscribers.
resource "aws_sns_topic" "incidents" {
  name              = "${var.name_prefix}-incidents"
  kms_master_key_id = aws_kms_key.argus.arn
}

resource "aws_sns_topic_subscription" "incident_email" {
  count = var.incident_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.incidents.arn
  protocol  = "email"
  endpoint  = var.incident_email
}
