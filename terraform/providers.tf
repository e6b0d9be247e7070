provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "argus:component" = var.name_prefix
    })
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}
