#!/usr/bin/env bash
# Offline checks of terraform/: `terraform fmt -check`, `init -backend=false` + `validate`,
# `plan` against moto (ARGUS_TEST_MOTO_ENDPOINT, so run it under tests/peers.sh), and checkov.
# The Terraform registry is unreachable, so the hashicorp/aws provider comes from a filesystem
# mirror found on this machine. Where terraform or the mirror is absent the Terraform checks
# are skipped with a message; where terraform exists, a failing check fails the script.
# Checkov installs from PyPI into .peers/venv-checkov; if that install is impossible it is
# skipped with a message, except under CI=true.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
peers="$root/.peers"
readonly CHECKOV_SPEC='checkov>=3.2,<4'

say() { printf 'terraform-checks: %s\n' "$*" >&2; }
is_ci() { case "${CI:-}" in true | TRUE | True | 1 | yes) return 0 ;; *) return 1 ;; esac; }
step() { printf '\n--> %s\n' "$*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_terraform_checks() {
  if ! command -v terraform >/dev/null 2>&1; then
    say "SKIPPED fmt/validate/plan: terraform is not installed"
    return 0
  fi
  local mirror
  mirror=$(find / -xdev -maxdepth 4 -type d -name registry.terraform.io -path '*' 2>/dev/null |
    while read -r d; do [[ -d "$d/hashicorp/aws" ]] && dirname "$d"; done | head -n 1 || true)
  if [[ -z "$mirror" ]]; then
    say "SKIPPED fmt/validate/plan: no provider mirror (a folder holding registry.terraform.io/hashicorp/aws) on this machine"
    return 0
  fi
  say "provider mirror: $mirror"

  cat >"$work/terraformrc" <<CFG
provider_installation {
  filesystem_mirror {
    path = "$mirror"
  }
}
CFG
  export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
  export TF_DATA_DIR="$work/terraform/.terraform"
  step "terraform fmt -check -recursive terraform/"
  terraform -chdir="$root/terraform" fmt -check -recursive -diff || return 1

  # A scratch copy keeps .terraform/ and the lock file out of the work tree; statemachines/
  # comes along because templatefile() reads ../statemachines/recovery.asl.json.
  cp -R "$root/terraform" "$work/terraform"
  cp -R "$root/statemachines" "$work/statemachines"
  rm -rf "$work/terraform/.terraform" "$work/terraform/.terraform.lock.hcl"
  local tf=(terraform -chdir="$work/terraform")

  step "terraform init -backend=false"
  "${tf[@]}" init -backend=false -input=false -no-color >"$work/init.log" 2>&1 || {
    cat "$work/init.log" >&2
    return 1
  }

  step "terraform validate"
  "${tf[@]}" validate -no-color || return 1

  step "terraform plan against moto"
  if [[ -z "${ARGUS_TEST_MOTO_ENDPOINT:-}" ]]; then
    if is_ci; then
      say "ERROR: ARGUS_TEST_MOTO_ENDPOINT is unset (run under tests/peers.sh); fatal because CI=true"
      return 1
    fi
    say "SKIPPED plan: ARGUS_TEST_MOTO_ENDPOINT is unset (run this script under bash tests/peers.sh)"
    return 0
  fi
  local endpoint=$ARGUS_TEST_MOTO_ENDPOINT services="cloudfront cloudwatch cloudwatchlogs dynamodb events iam kms lambda s3 secretsmanager sfn sns sqs sts wafv2" s alias
  # Nothing leaves loopback: every service the configuration touches, through either provider
  # (the default one and aws.us_east_1 of the WAF option), points at moto.
  for alias in "" us_east_1; do
    echo 'provider "aws" {'
    [[ -z "$alias" ]] || echo "  alias                       = \"$alias\""
    echo '  access_key                  = "test"'
    echo '  secret_key                  = "test"'
    echo '  skip_credentials_validation = true'
    echo '  skip_requesting_account_id  = true'
    echo '  skip_metadata_api_check     = true'
    echo '  skip_region_validation      = true'
    echo '  max_retries                 = 1'
    echo '  s3_use_path_style           = true'
    echo '  endpoints {'
    for s in $services; do echo "    $s = \"$endpoint\""; done
    echo '  }'
    echo '}'
  done >"$work/terraform/emulator_override.tf"
  # Placeholder artifacts, one per binary (a package's main and its src/bin/*.rs), named as
  # `cargo lambda build` names them, so no release build is needed.
  local fn bin
  for fn in "$root"/functions/*/; do
    for bin in "$(basename "$fn")" "$fn"src/bin/*.rs; do
      [[ -e "$bin" || "$bin" != *.rs ]] || continue
      bin=$(basename "$bin" .rs)
      mkdir -p "$work/artifacts/$bin"
      python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1], "w").writestr("bootstrap", "")' \
        "$work/artifacts/$bin/bootstrap.zip" || return 1
    done
  done
  env -u AWS_PROFILE AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true \
    "${tf[@]}" plan -input=false -lock=false -no-color \
    -var-file="$work/terraform/terraform.tfvars.example" \
    -var region=us-east-1 \
    -var "artifact_dir=$work/artifacts" \
    -var terraform_apply_project=argus-terraform-apply \
    -out="$work/plan.out" >"$work/plan.log" 2>&1 || {
    cat "$work/plan.log" >&2
    return 1
  }
  grep -E '^Plan:' "$work/plan.log" >&2 || true
  # The rendered definition must be the ASL file with every placeholder filled.
  "${tf[@]}" show -json "$work/plan.out" >"$work/plan.json" || return 1
  python3 - "$work/plan.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
machines = [r for r in plan["planned_values"]["root_module"]["resources"] if r["type"] == "aws_sfn_state_machine"]
assert machines, "the plan has no aws_sfn_state_machine"
for m in machines:
    definition = m["values"].get("definition")
    if definition is None:
        continue  # known after apply: it names functions the plan creates
    assert "${" not in definition, f"{m['address']}: an ASL placeholder was left unfilled"
    json.loads(definition)
print("terraform-checks: plan rendered the state machine", file=sys.stderr)
waf = [r for r in plan["planned_values"]["root_module"]["resources"] if r["type"] in ("aws_wafv2_web_acl", "aws_cloudfront_distribution")]
assert not waf, f"the WAF option is off by default, yet the plan has {[r['address'] for r in waf]}"
PY

  step "terraform plan against moto, with the WAF option on (endpoint_waf.enabled = true)"
  env -u AWS_PROFILE AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true \
    "${tf[@]}" plan -input=false -lock=false -no-color \
    -var-file="$work/terraform/terraform.tfvars.example" \
    -var region=us-east-1 \
    -var "artifact_dir=$work/artifacts" \
    -var terraform_apply_project=argus-terraform-apply \
    -var 'endpoint_waf={enabled = true, rate_limit_per_5_minutes = 500}' \
    -out="$work/plan-waf.out" >"$work/plan-waf.log" 2>&1 || {
    cat "$work/plan-waf.log" >&2
    return 1
  }
  grep -E '^Plan:' "$work/plan-waf.log" >&2 || true
  "${tf[@]}" show -json "$work/plan-waf.out" >"$work/plan-waf.json" || return 1
  python3 - "$work/plan-waf.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
resources = {r["address"]: r for r in plan["planned_values"]["root_module"]["resources"]}
acl = resources["aws_wafv2_web_acl.endpoint[0]"]["values"]
assert acl["scope"] == "CLOUDFRONT", acl["scope"]
rate = [rule for rule in acl["rule"] if rule["statement"][0]["rate_based_statement"]]
assert rate and rate[0]["statement"][0]["rate_based_statement"][0]["limit"] == 500, rate
groups = sorted(rule["statement"][0]["managed_rule_group_statement"][0]["name"] for rule in acl["rule"] if rule["statement"][0]["managed_rule_group_statement"])
assert groups == ["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"], groups
front = resources["aws_cloudfront_distribution.endpoint[0]"]["values"]
behaviour = front["default_cache_behavior"][0]
assert behaviour["viewer_protocol_policy"] == "https-only", behaviour
assert "POST" in behaviour["allowed_methods"], behaviour
config = plan["configuration"]["root_module"]["resources"]
acl_provider = [r for r in config if r["address"] == "aws_wafv2_web_acl.endpoint"][0]["provider_config_key"]
assert acl_provider == "aws.us_east_1", acl_provider
print("terraform-checks: the WAF option plans a CLOUDFRONT web ACL in us-east-1 and its distribution", file=sys.stderr)
PY
}

run_checkov() {
  step "checkov over terraform/"
  local venv="$peers/venv-checkov"
  if [[ ! -x "$venv/bin/checkov" ]]; then
    mkdir -p "$peers"
    say "installing $CHECKOV_SPEC into .peers/venv-checkov"
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --disable-pip-version-check -q "$CHECKOV_SPEC"; } >"$peers/checkov-install.log" 2>&1; then
      tail -n 20 "$peers/checkov-install.log" >&2 || true
      if is_ci; then
        say "ERROR: could not install checkov (log: .peers/checkov-install.log); fatal because CI=true"
        return 1
      fi
      say "SKIPPED checkov: could not install it (log: .peers/checkov-install.log)"
      return 0
    fi
  fi
  "$venv/bin/checkov" --directory "$root/terraform" --framework terraform --compact --quiet \
    --skip-download --output cli
}

status=0
run_terraform_checks || status=1
run_checkov || status=1
if ((status != 0)); then say "FAILED"; fi
exit "$status"
