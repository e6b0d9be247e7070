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

locals {
  approval_policy = try(jsondecode(var.policy_json).approvals, {})
  # Every `email:` approver of any risk class, normalised as the connectors write the `approver`
  # attribute of an approval e-mail (functions/connectors/src/identity.rs: lowercased, trimmed).
  approver_emails = toset(distinct([
    for identity in flatten([for class in ["low", "medium", "high"] : try(local.approval_policy[class], [])]) :
    trimspace(regex("^\\s*email\\s*:(.*)$", lower(identity))[0]) if can(regex("^\\s*email\\s*:", lower(identity)))
  ]))

  # Who may subscribe to the incidents topic: the principal running Terraform (its role, for an
  # assumed-role session) and the administrators named in var.subscription_administrators.
  subscription_administrators = distinct(concat([data.aws_iam_session_context.deployer.issuer_arn], var.subscription_administrators))
}

data "aws_iam_session_context" "deployer" {
  arn = data.aws_caller_identity.current.arn
}

# Each approver's signed links reach only that approver: the connectors publish one message per
# approver with the attribute `approver` = the address, and each approver's subscription takes
# only messages carrying its own address.
resource "aws_sns_topic_subscription" "approver" {
  for_each = local.approver_emails

  topic_arn           = aws_sns_topic.incidents.arn
  protocol            = "email"
  endpoint            = each.value
  filter_policy_scope = "MessageAttributes"
  filter_policy       = jsonencode({ approver = [each.value] })
}

# The incidents address gets notifications and outcomes, never anyone's approval links.
resource "aws_sns_topic_subscription" "incident_email" {
  count = var.incident_email == "" ? 0 : 1

  topic_arn           = aws_sns_topic.incidents.arn
  protocol            = "email"
  endpoint            = var.incident_email
  filter_policy_scope = "MessageAttributes"
  filter_policy       = jsonencode({ approver = [{ exists = false }] })

  lifecycle {
    precondition {
      condition     = !contains(local.approver_emails, lower(trimspace(var.incident_email)))
      error_message = "incident_email is also an approver's address; SNS keeps one subscription per address, so it would get either the notifications or that approver's links. Use another address."
    }
  }
}

# Only the connectors publish to the incidents topic, and only administrators (the deployer and
# var.subscription_administrators) may subscribe to it: anyone else with sns:Subscribe could
# otherwise add an address without a filter and receive every approver's links.
resource "aws_sns_topic_policy" "incidents" {
  arn    = aws_sns_topic.incidents.arn
  policy = data.aws_iam_policy_document.incidents_topic.json
}

data "aws_iam_policy_document" "incidents_topic" {
  statement {
    sid       = "OnlyConnectorsPublish"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.incidents.arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.function["connectors"].arn]
    }
  }

  statement {
    sid       = "OnlyAdministratorsSubscribe"
    effect    = "Deny"
    actions   = ["sns:Subscribe"]
    resources = [aws_sns_topic.incidents.arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.subscription_administrators
    }
  }
}
