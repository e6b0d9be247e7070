# The connectors: their endpoint (a Function URL for vendor webhooks and approval answers), the
# bucket post-mortems are published to, and what each of the two functions may call.

# Webhook senders (Alertmanager, Datadog, PagerDuty, Grafana) and Slack cannot sign requests
# with SigV4, so the URL itself is public and the function authenticates every route the way its
# sender signs: bearer tokens or HMAC signatures checked in constant time, Slack's v0 signature
# with its 5-minute window, and HMAC-signed single-use approval links. Anything else gets 401
# before any work is done; reserved concurrency bounds what a flood can cost. Each source address
# has its own budget in the function (429 past it, before anything is parsed); a flood from many
# addresses is for AWS WAF, which needs a CloudFront front (variable endpoint_waf, off by default;
# waf.tf).
resource "aws_lambda_function_url" "connectors" {
  # checkov:skip=CKV_AWS_258: the senders cannot sign with SigV4 (see above); every route authenticates its sender in the function and refuses unauthenticated requests with 401.
  function_name      = aws_lambda_function.function["connectors-http"].function_name
  authorization_type = "NONE"
}

resource "aws_lambda_permission" "connectors_url" {
  # checkov:skip=CKV_AWS_301: a public Function URL needs this grant to principal "*"; it is limited to the URL with auth type NONE, whose routes authenticate each sender (see above).
  statement_id           = "PublicFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.function["connectors-http"].function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_s3_bucket" "postmortems" {
  # checkov:skip=CKV_AWS_18: access logging needs a second, log-receiving bucket the adopting team owns; the bucket holds only post-mortems that the connectors role writes and readers are controlled by IAM.
  # checkov:skip=CKV_AWS_144: cross-region replication doubles storage for documents that are also regenerable from the incidents table (`argus postmortem`); left to teams that need it.
  # checkov:skip=CKV2_AWS_62: nothing consumes post-mortem uploads as events; notifications can be added by the team that wants them.
  bucket_prefix = "${var.name_prefix}-postmortems-"
}

resource "aws_s3_bucket_versioning" "postmortems" {
  bucket = aws_s3_bucket.postmortems.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "postmortems" {
  bucket = aws_s3_bucket.postmortems.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.argus.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "postmortems" {
  bucket                  = aws_s3_bucket.postmortems.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "postmortems" {
  bucket = aws_s3_bucket.postmortems.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "postmortems" {
  bucket = aws_s3_bucket.postmortems.id

  rule {
    id     = "tidy"
    status = "Enabled"
    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    # A re-published post-mortem replaces the object; older versions are kept for a year.
    noncurrent_version_expiration {
      noncurrent_days = 365
    }
  }
}

data "aws_iam_policy_document" "connectors" {
  statement {
    sid    = "IncidentAndPatternTables"
    effect = "Allow"
    # Reads, and the conditional writes (and transaction items) that record approvals requested
    # and deliveries in the audit trail.
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
    sid       = "ReadOwnSecret"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.connectors.arn]
  }

  # The loader's other source: SecureString parameters under /<name_prefix>/connectors, for teams
  # that keep credentials in Parameter Store (ARGUS_CONNECTORS_SSM_PATH).
  statement {
    sid       = "ReadOwnParameters"
    effect    = "Allow"
    actions   = ["ssm:GetParametersByPath"]
    resources = ["${local.arn_prefix}:ssm:${local.region}:${local.account_id}:parameter/${var.name_prefix}/connectors"]
  }

  statement {
    sid       = "NotifyByEmail"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.incidents.arn]
  }

  statement {
    sid       = "PublishPostmortems"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.postmortems.arn}/postmortems/*"]
  }
}

# The public endpoint's role: the incidents table only (never the patterns table the autonomy
# ladder learns from), its own secret of signing secrets only (never the vendor tokens the
# outbound function holds), the Argus bus as argus.connectors, and the task callbacks.
data "aws_iam_policy_document" "connectors_http" {
  statement {
    sid    = "IncidentsTable"
    effect = "Allow"
    # Reads the pending approval; records the decision (single use) and refusals in the audit trail.
    actions = [
      "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [aws_dynamodb_table.incidents.arn, "${aws_dynamodb_table.incidents.arn}/index/*"]
  }

  statement {
    sid       = "ReadOwnSecret"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.connectors_http.arn]
  }

  # External alerts go to the Argus bus only, and only as argus.connectors.
  statement {
    sid       = "PublishExternalAlerts"
    effect    = "Allow"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.argus.arn]

    condition {
      test     = "StringEquals"
      variable = "events:source"
      values   = [local.argus_bus_publishers["connectors-http"]]
    }
  }

  statement {
    sid       = "AnswerApprovals"
    effect    = "Allow"
    actions   = ["states:SendTaskFailure", "states:SendTaskSuccess"]
    resources = [local.state_machine_arn]
  }
}
