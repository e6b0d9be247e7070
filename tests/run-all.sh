#!/usr/bin/env bash
# The whole test suite, as the README's test command and .ci/run run it: formatting, lints,
# then every test in the workspace with the local AWS protocol peers (DynamoDB Local, moto)
# installed if needed, started on loopback before and stopped after (see tests/peers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "state machines (asl-validator)"
bash tests/validate-asl.sh

step "cargo test and the Terraform checks (with DynamoDB Local and moto on loopback)"
bash tests/peers.sh bash -c 'cargo test --workspace --all-features --locked && bash tests/terraform-checks.sh'
