output "incidents_table" {
  description = "Name of the incidents DynamoDB table."
  value       = aws_dynamodb_table.incidents.name
}

output "patterns_table" {
  description = "Name of the patterns DynamoDB table."
  value       = aws_dynamodb_table.patterns.name
}

output "function_arns" {
  description = "ARN of each Argus Lambda, by function name."
  value       = { for name, f in aws_lambda_function.function : name => f.arn }
}

output "function_role_arns" {
  description = "Execution role of each Argus Lambda, by function name."
  value       = { for name, r in aws_iam_role.function : name => r.arn }
}

output "state_machine_arn" {
  description = "ARN of the recovery state machine."
  value       = aws_sfn_state_machine.recovery.arn
}

output "state_machine_role_arn" {
  description = "Role the recovery actions run as; it acts only on resources tagged managed_tag_key = managed_tag_value."
  value       = aws_iam_role.state_machine.arn
}

output "alerts_topic_arn" {
  description = "SNS topic Argus' own alarms publish to."
  value       = aws_sns_topic.alerts.arn
}

output "dead_letter_queues" {
  description = "URLs of the queues holding events and invocations that failed every retry."
  value = {
    function_failures = aws_sqs_queue.function_failures.url
    events            = aws_sqs_queue.events_dlq.url
  }
}

output "connectors_secret_arn" {
  description = "The connectors' secret (a JSON object of webhook URLs, tokens and signing keys); set its value outside Terraform."
  value       = aws_secretsmanager_secret.connectors.arn
}

output "connectors_http_secret_arn" {
  description = "The connectors endpoint's secret: put the webhook tokens, signing secrets and approval_link_key here (see the README)."
  value       = aws_secretsmanager_secret.connectors_http.arn
}

output "connectors_url" {
  description = "The connectors endpoint (Lambda Function URL): point vendor webhooks at <url>webhooks/<vendor>, Slack interactivity at <url>slack/interactions, and set connectors.approval_base_url to it for e-mailed approval links."
  value       = aws_lambda_function_url.connectors.function_url
}

output "connectors_front_url" {
  description = "With endpoint_waf.enabled: the CloudFront front of the connectors endpoint, behind AWS WAF; give it to the senders instead of connectors_url. Empty otherwise."
  value       = var.endpoint_waf.enabled ? "https://${aws_cloudfront_distribution.endpoint[0].domain_name}/" : ""
}

output "incidents_topic_arn" {
  description = "SNS topic the connectors send incident notifications and approval requests to."
  value       = aws_sns_topic.incidents.arn
}

output "postmortems_bucket" {
  description = "S3 bucket the connectors publish post-mortems to (postmortems/YYYY/MM/DD/<correlation id>.md)."
  value       = aws_s3_bucket.postmortems.bucket
}

output "managed_tag" {
  description = "The tag a resource needs before Argus may act on it."
  value       = { key = var.managed_tag_key, value = var.managed_tag_value }
}

output "kms_key_arn" {
  description = "The customer-managed key encrypting Argus' tables, logs, queues, topic and secrets."
  value       = aws_kms_key.argus.arn
}

output "public_endpoint_protection" {
  description = "What protects the public connectors endpoint: the function's own per-source limit always, and whether the AWS WAF front (variable endpoint_waf) is in front of it."
  value       = var.endpoint_waf.enabled ? "per-source limit in the function; AWS WAF (rate-based rule of ${var.endpoint_waf.rate_limit_per_5_minutes} requests per 5 minutes per address, AWS common and known-bad-inputs rules) on the CloudFront front, connectors_front_url" : "per-source limit in the function only (endpoint_waf.enabled = false)"
}
