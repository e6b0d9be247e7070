terraform {
  # 1.6 brought the variable validation and templatefile() behaviour this configuration relies on.
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.x includes every resource argument used here; 6.0 changes region handling, so it is
      # excluded until this configuration is checked against it.
      version = ">= 5.60.0, < 6.0.0"
    }
  }
}
