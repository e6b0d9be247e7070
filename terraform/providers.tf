provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "argus:component" = var.name_prefix
    })
  }
}

# A CLOUDFRONT-scope WAF web ACL exists only in us-east-1 (waf.tf, used when endpoint_waf is on).
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = merge(var.tags, {
      "argus:component" = var.name_prefix
    })
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}
