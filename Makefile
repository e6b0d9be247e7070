# Build, test, package, deploy and invoke Argus. Every target is a thin wrapper over the
# command the README documents, so the commands also work without make.

FUNCTIONS   := $(notdir $(wildcard functions/*))
PACKAGES    := $(addprefix -p ,$(FUNCTIONS))
TF          := terraform -chdir=terraform
TARGET_DIR  ?= $(or $(CARGO_TARGET_DIR),target)
EVENT       ?= events/cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json
FUNCTION    ?= orchestrator

.PHONY: build test package deploy plan invoke destroy

## build: debug build of the whole workspace
build:
	cargo build --workspace

## test: the whole suite (fmt, clippy, tests with local peers, Terraform checks)
test:
	bash tests/run-all.sh

## package: arm64 release zips at $(TARGET_DIR)/lambda/<function>/bootstrap.zip
package:
	cargo lambda build --release --arm64 --output-format zip $(PACKAGES)

## plan / deploy: terraform plan / apply with terraform/terraform.tfvars
plan: package
	$(TF) init -input=false
	$(TF) plan -var artifact_dir=$(abspath $(TARGET_DIR))/lambda

deploy: package
	$(TF) init -input=false
	$(TF) apply -var artifact_dir=$(abspath $(TARGET_DIR))/lambda

## invoke: send EVENT to the deployed FUNCTION (default: the orchestrator)
invoke:
	aws lambda invoke --function-name "$$($(TF) output -json function_arns | python3 -c 'import json,sys; print(json.load(sys.stdin)["$(FUNCTION)"])')" \
		--cli-binary-format raw-in-base64-out --payload fileb://$(EVENT) /dev/stdout

## destroy: tear Argus down (set table_deletion_protection = false and apply first)
destroy:
	$(TF) destroy -var artifact_dir=$(abspath $(TARGET_DIR))/lambda
