# The AWS WAF option for the public connectors endpoint (variable endpoint_waf, off by default).
#
# AWS WAF cannot be associated with a Lambda Function URL, so with endpoint_waf.enabled = true a
# CloudFront distribution fronts the URL and a CLOUDFRONT-scope web ACL (which AWS requires in
# us-east-1, hence the aws.us_east_1 provider) protects it: a rate-based rule per client address,
# AWS' common rule set and its known-bad-inputs set. Senders are then given the distribution's
# domain (output connectors_front_url).
#
# The origin keeps the Function URL's auth type NONE. CloudFront's origin access control for
# Lambda URLs needs auth type AWS_IAM and, for POST, a payload hash (x-amz-content-sha256) that
# the client computes; Slack and the alert vendors send neither, so OAC would refuse every
# webhook and every click. The Function URL therefore stays reachable directly, with the
# function's own per-source limit and reserved concurrency as before.

locals {
  endpoint_waf_count = var.endpoint_waf.enabled ? 1 : 0
  # https://<id>.lambda-url.<region>.on.aws/ → <id>.lambda-url.<region>.on.aws
  connectors_url_host = trimsuffix(trimprefix(aws_lambda_function_url.connectors.function_url, "https://"), "/")
  # AWS-managed CloudFront policies, by their documented ids: no caching (every request is a
  # webhook or a click), and every viewer header but Host (the Function URL routes by its own
  # host name; the signature headers, and CloudFront-Viewer-Address, reach the function).
  cloudfront_caching_disabled              = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  cloudfront_all_viewer_except_host_header = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
  endpoint_waf_metric_prefix               = replace(var.name_prefix, "-", "")
}

resource "aws_wafv2_web_acl" "endpoint" {
  # checkov:skip=CKV2_AWS_31: full request logging needs a us-east-1 log destination and costs per GB; the web ACL's CloudWatch metrics and sampled requests are on, which is what an operator watches for a flood.
  count       = local.endpoint_waf_count
  provider    = aws.us_east_1
  name        = "${var.name_prefix}-endpoint"
  description = "The connectors endpoint's CloudFront front: a rate limit per address and AWS managed rules."
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-per-address"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.endpoint_waf.rate_limit_per_5_minutes
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.endpoint_waf_metric_prefix}RatePerAddress"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-common"
    priority = 1

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesCommonRuleSet"
        vendor_name = "AWS"

        # Slack's interaction payloads carry the whole message and pass the rule set's 8 KB
        # body limit; the function refuses bodies over its own limit (413) itself.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.endpoint_waf_metric_prefix}AwsCommon"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 2

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
        vendor_name = "AWS"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.endpoint_waf_metric_prefix}AwsKnownBadInputs"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${local.endpoint_waf_metric_prefix}Endpoint"
    sampled_requests_enabled   = true
  }
}

resource "aws_cloudfront_distribution" "endpoint" {
  # checkov:skip=CKV_AWS_86: access logs need a log bucket the adopting team owns; the web ACL's metrics and the function's own logs cover the endpoint.
  # checkov:skip=CKV_AWS_174: the distribution's default *.cloudfront.net certificate accepts TLS 1.0 viewers; set a custom domain with an ACM certificate to require TLS 1.2 (the senders all speak it).
  # checkov:skip=CKV2_AWS_42: a custom certificate needs the team's own domain, which this module does not assume.
  # checkov:skip=CKV_AWS_310: there is one origin, the Function URL; a failover origin would be a second deployment.
  # checkov:skip=CKV_AWS_374: webhook vendors and Slack call from many countries; the per-address rate rule is the limit.
  # checkov:skip=CKV2_AWS_32: the function sets its own response headers and serves no browser content beyond the approval page.
  # checkov:skip=CKV2_AWS_47: the web ACL has the known-bad-inputs rule set (the Log4j rules); the check also wants the anonymous-IP list, whose hosting-provider rule would block alert vendors and Alertmanagers that run in clouds.
  # checkov:skip=CKV_AWS_305: there is no root object: every route is a webhook, a Slack callback or an approval link.
  count           = local.endpoint_waf_count
  enabled         = true
  comment         = "${var.name_prefix} connectors endpoint behind AWS WAF"
  price_class     = "PriceClass_100"
  http_version    = "http2and3"
  is_ipv6_enabled = true
  web_acl_id      = aws_wafv2_web_acl.endpoint[0].arn

  origin {
    origin_id   = "connectors-function-url"
    domain_name = local.connectors_url_host

    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  default_cache_behavior {
    target_origin_id         = "connectors-function-url"
    allowed_methods          = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods           = ["GET", "HEAD"]
    cache_policy_id          = local.cloudfront_caching_disabled
    origin_request_policy_id = local.cloudfront_all_viewer_except_host_header
    # A redirect would turn a webhook's POST into a GET: plain HTTP is refused instead.
    viewer_protocol_policy = "https-only"
    compress               = true
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}
