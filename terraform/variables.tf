variable "region" {
  description = "AWS region Argus is deployed to; it watches resources in this region."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name. Argus' own calls are recognised by exact role ARNs Terraform writes into the orchestrator's policy (signals.self_role_arns), never by this prefix."
  type        = string
  default     = "argus"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name_prefix))
    error_message = "name_prefix must be 2 to 21 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource Argus deploys."
  type        = map(string)
  default     = {}
}

variable "artifact_dir" {
  description = "Folder holding <function>/bootstrap.zip as `cargo lambda build --release --arm64` writes them. Null means ../target/lambda relative to this folder."
  type        = string
  default     = null
}

variable "function_overrides" {
  description = "Per-function memory (MB), timeout (seconds) and reserved concurrency, overriding the defaults in locals.tf. Keys are function names."
  type = map(object({
    memory_size                    = optional(number)
    timeout                        = optional(number)
    reserved_concurrent_executions = optional(number)
  }))
  default = {}

  validation {
    condition = alltrue([
      for name, o in var.function_overrides :
      # Conditionals, not ||: HCL evaluates both sides of || and a null fails the comparison.
      (o.memory_size == null ? true : o.memory_size >= 128 && o.memory_size <= 10240) &&
      (o.timeout == null ? true : o.timeout >= 1 && o.timeout <= 900) &&
      (o.reserved_concurrent_executions == null ? true : o.reserved_concurrent_executions >= 1)
    ])
    error_message = "function_overrides: memory_size must be 128-10240 MB, timeout 1-900 s, reserved_concurrent_executions at least 1."
  }
}

variable "policy_json" {
  description = "The Argus policy document (ARGUS_POLICY), as JSON. \"{}\" is a complete policy: every field has a default (see `argus config defaults`)."
  type        = string
  default     = "{}"

  validation {
    condition     = can(jsondecode(var.policy_json)) && can(keys(jsondecode(var.policy_json)))
    error_message = "policy_json must be a JSON object, for example \"{}\"."
  }
}

variable "managed_tag_key" {
  description = "Tag key that marks a resource as one Argus may act on. The state machine's recovery actions are allowed only on resources carrying this tag with managed_tag_value."
  type        = string
  default     = "argus:managed"

  validation {
    condition     = length(var.managed_tag_key) > 0 && length(var.managed_tag_key) <= 128 && !startswith(var.managed_tag_key, "aws:")
    error_message = "managed_tag_key must be 1-128 characters and must not start with aws:."
  }
}

variable "quarantine_tag_keys" {
  description = "Tag keys that mark an instance as quarantined (any value). The recovery role is denied starting or rebooting an instance carrying any of them, so Argus never undoes a security stop."
  type        = list(string)
  default     = ["argus:quarantine", "Quarantine"]

  validation {
    condition     = alltrue([for key in var.quarantine_tag_keys : length(key) > 0 && length(key) <= 128 && !startswith(key, "aws:")])
    error_message = "quarantine_tag_keys must be tag keys of 1-128 characters, none starting with aws:."
  }
}

variable "managed_tag_value" {
  description = "Value of managed_tag_key on resources Argus may act on."
  type        = string
  default     = "true"

  validation {
    condition     = length(var.managed_tag_value) > 0 && length(var.managed_tag_value) <= 256
    error_message = "managed_tag_value must be 1-256 characters."
  }
}

variable "sensitive_calls" {
  description = "CloudTrail event names routed to the orchestrator. Keep in step with signals.sensitive_calls in the policy (the defaults are the library's defaults)."
  type        = list(string)
  default = [
    "TerminateInstances",
    "StopInstances",
    "DeleteTable",
    "PutParameter",
    "DeleteParameter",
    "DeleteFunction",
    "UpdateFunctionConfiguration",
    "PutBucketPolicy",
    "DeleteBucket",
    "DeleteDBInstance",
  ]

  validation {
    condition     = length(var.sensitive_calls) > 0 && alltrue([for c in var.sensitive_calls : can(regex("^[A-Z][A-Za-z0-9]+$", c))])
    error_message = "sensitive_calls must be a non-empty list of CloudTrail event names such as TerminateInstances."
  }
}

variable "ssm_documents" {
  description = "SSM Automation documents the ssm.automation action may start. Keep in step with ssm_documents in the policy."
  type        = list(string)
  default     = ["AWS-RestartEC2Instance", "AWSSupport-TroubleshootECSTaskFailedToStart"]

  validation {
    condition     = alltrue([for d in var.ssm_documents : can(regex("^[A-Za-z0-9_.-]{3,128}$", d))])
    error_message = "ssm_documents must hold SSM document names (3-128 letters, digits, _ . -)."
  }
}

variable "terraform_apply_project" {
  description = "Name of the CodeBuild project the codebuild.terraform_apply action starts. Empty means the action is not deployable: the state machine role gets no CodeBuild permission and the action fails into escalation."
  type        = string
  default     = ""

  validation {
    condition     = var.terraform_apply_project == "" || can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{1,254}$", var.terraform_apply_project))
    error_message = "terraform_apply_project must be empty or a CodeBuild project name."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' and the state machine's log groups."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

variable "event_retry_attempts" {
  description = "How many times EventBridge retries delivering an event to the orchestrator before it goes to the events dead-letter queue."
  type        = number
  default     = 8

  validation {
    condition     = var.event_retry_attempts >= 0 && var.event_retry_attempts <= 185
    error_message = "event_retry_attempts must be between 0 and 185."
  }
}

variable "event_max_age_seconds" {
  description = "How long EventBridge keeps retrying one event (seconds)."
  type        = number
  default     = 3600

  validation {
    condition     = var.event_max_age_seconds >= 60 && var.event_max_age_seconds <= 86400
    error_message = "event_max_age_seconds must be between 60 and 86400."
  }
}

variable "connectors" {
  description = "Where the connectors deliver. An empty value switches that channel off; a channel also needs its credentials in the connectors secret (see the README). approval_base_url is the connectors endpoint's URL (the connectors_url output after the first apply, or a custom domain in front of it); without it approval e-mails carry no links and approvals go through Slack only."
  type = object({
    slack_channel     = optional(string, "")
    servicenow_url    = optional(string, "")
    jira_url          = optional(string, "")
    jira_project      = optional(string, "")
    github_repository = optional(string, "")
    confluence_url    = optional(string, "")
    confluence_space  = optional(string, "")
    approval_base_url = optional(string, "")
  })
  default = {}

  validation {
    condition = alltrue([
      for url in [var.connectors.servicenow_url, var.connectors.jira_url, var.connectors.confluence_url, var.connectors.approval_base_url] :
      url == "" || can(regex("^https://[^\\s/]+", url))
    ])
    error_message = "connectors: servicenow_url, jira_url, confluence_url and approval_base_url must be empty or https:// URLs."
  }

  validation {
    condition     = var.connectors.github_repository == "" || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.connectors.github_repository))
    error_message = "connectors.github_repository must be empty or OWNER/NAME."
  }

  validation {
    condition     = (var.connectors.jira_url == "") == (var.connectors.jira_project == "")
    error_message = "connectors.jira_url and connectors.jira_project go together: set both or neither."
  }

  validation {
    condition     = (var.connectors.confluence_url == "") == (var.connectors.confluence_space == "")
    error_message = "connectors.confluence_url and connectors.confluence_space go together: set both or neither."
  }
}

variable "incident_email" {
  description = "Optional e-mail address subscribed to the incidents topic: notifications and outcomes (never approval links: each e-mail approver of policy_json gets its own subscription, filtered to its own links). Must not be an approver's address. Empty subscribes nobody."
  type        = string
  default     = ""

  validation {
    condition     = var.incident_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.incident_email))
    error_message = "incident_email must be empty or an e-mail address."
  }
}

variable "subscription_administrators" {
  description = "IAM role or user ARNs, besides the principal running Terraform, that may subscribe to the incidents topic. Everyone else is denied sns:Subscribe on it, so nobody can add an address that receives approvers' signed links."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.subscription_administrators : can(regex("^arn:[^:]+:iam::[0-9]{12}:(role|user)/", arn))])
    error_message = "subscription_administrators must be IAM role or user ARNs."
  }
}

variable "alarm_email" {
  description = "Optional e-mail address subscribed to the alerts topic (confirm the subscription mail). Empty subscribes nobody."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an e-mail address."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the Argus KMS key is deleted after a destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "table_deletion_protection" {
  description = "Deletion protection on the incidents and patterns tables. Set to false and apply before `terraform destroy` when tearing Argus down for good."
  type        = bool
  default     = true
}

variable "analyst" {
  description = "The orchestrator's analyst: bedrock (with the rules analyst as fallback) or rules (no model, no Bedrock permission used)."
  type        = string
  default     = "bedrock"

  validation {
    condition     = contains(["bedrock", "rules"], var.analyst)
    error_message = "analyst must be bedrock or rules."
  }
}

variable "investigation" {
  description = "The orchestrator's investigation before analysis: on or off, and its deadline in milliseconds (what has not answered by then is recorded as missing)."
  type = object({
    enabled     = optional(bool, true)
    deadline_ms = optional(number, 5000)
  })
  default = {}

  validation {
    condition     = var.investigation.deadline_ms >= 100 && var.investigation.deadline_ms <= 20000
    error_message = "investigation.deadline_ms must be from 100 to 20000."
  }
}

variable "bedrock" {
  description = "Bedrock settings of the orchestrator's analyst: the model (or system inference profile) id, an optional application inference profile, max output tokens, the per-call timeout and attempts."
  type = object({
    model_id          = optional(string, "global.anthropic.claude-haiku-4-5-20251001-v1:0")
    inference_profile = optional(string, "")
    max_tokens        = optional(number, 1024)
    timeout_ms        = optional(number, 25000)
    max_attempts      = optional(number, 3)
  })
  default = {}

  validation {
    condition     = var.bedrock.timeout_ms * var.bedrock.max_attempts < 85000
    error_message = "bedrock.timeout_ms × max_attempts must stay under the orchestrator's 90 s timeout."
  }
}

variable "log_groups" {
  description = "Log groups the log analyzer reads, each optionally name=resource (e.g. /aws/lambda/checkout=lambda:function/checkout). Empty: the orchestrator's own log group."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for entry in var.log_groups : can(regex("^[\\.\\-_/#A-Za-z0-9]+(=.+)?$", entry))])
    error_message = "Each log group must be a CloudWatch Logs group name, optionally followed by =<resource>."
  }
}

variable "log_analyzer_tuning_json" {
  description = "The log analyzer's tuning (JSON, ARGUS_LOG_ANALYZER); empty uses every default (README: The log analyzer)."
  type        = string
  default     = ""
}

variable "log_analyzer_schedule" {
  description = "How often EventBridge Scheduler runs the log analyzer."
  type        = string
  default     = "rate(5 minutes)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.log_analyzer_schedule))
    error_message = "log_analyzer_schedule must be a rate(...) or cron(...) expression."
  }
}

variable "reconciler_schedule" {
  description = "How often the orchestrator's reconciler runs (an EventBridge schedule rule)."
  type        = string
  default     = "rate(5 minutes)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.reconciler_schedule))
    error_message = "reconciler_schedule must be a rate(...) or cron(...) expression."
  }
}

variable "tls_roots" {
  description = "Which certificate authorities the functions trust on their AWS calls: amazon (the five Amazon Trust Services roots embedded in the functions, which every AWS endpoint chains to) or system (the platform's CA bundle, for networks that re-sign TLS through their own CA)."
  type        = string
  default     = "amazon"

  validation {
    condition     = contains(["amazon", "system"], var.tls_roots)
    error_message = "tls_roots must be amazon or system."
  }
}

variable "endpoint_waf" {
  description = <<-EOT
    The AWS WAF option for the public connectors endpoint, off by default. The function already
    limits each source address (60 requests at once, refilled at one a second, per instance) and
    authenticates every route before any store access; what it cannot stop is a flood from many
    addresses taking the endpoint's reserved concurrency. AWS WAF does not attach to a Lambda
    Function URL: enabled = true creates a CloudFront distribution in front of the URL and a
    CLOUDFRONT-scope web ACL (in us-east-1) with a rate-based rule of rate_limit_per_5_minutes
    per address, AWS' common rule set and its known-bad-inputs set (waf.tf). Give the
    connectors_front_url output to the senders and as connectors.approval_base_url. The
    Function URL keeps auth type NONE and stays reachable directly (CloudFront's origin access
    control for Lambda needs signed POST bodies, which no sender sends). The
    public_endpoint_protection output says which is in force.
  EOT
  type = object({
    enabled                  = optional(bool, false)
    rate_limit_per_5_minutes = optional(number, 300)
  })
  default = {}

  validation {
    condition     = var.endpoint_waf.rate_limit_per_5_minutes >= 100
    error_message = "endpoint_waf.rate_limit_per_5_minutes must be at least 100, the smallest limit a WAF rate-based rule takes."
  }
}
