#!/usr/bin/env bash
# Regenerates the "Lambda functions" section of BENCHMARKS.md from one run: release zip size per
# function (cargo lambda build --release --arm64), init time per function against a local Lambda
# Runtime API peer beside a hello-world lambda_runtime floor, the orchestrator's handler time per
# signal (embedded store, rules analyst), DynamoDB requests and analyst calls per intake path and
# state transitions per recovery path (counted on the wire against DynamoDB Local), and the cost
# per incident modelled from those counts.
#
# usage: bash benches/report.sh [RUNS] [SIGNALS]
#   RUNS     init-time runs per function, round-robin (default 21; the median is reported)
#   SIGNALS  signals timed through the handler (default 2000)
#
# Needs Rust, python3 and what tests/peers.sh needs (Java 17, Node, python venv); installs
# cargo-lambda and ziglang from PyPI into .peers/venv-lambda when `cargo lambda` is missing.
# Honours CARGO_TARGET_DIR. Takes 20-40 minutes on 2 cores from a cold target folder (two
# release builds: arm64 for the zips, native for timing).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-21}
signals=${2:-2000}
if [[ -z "${ARGUS_TEST_DYNAMODB_ENDPOINT:-}" || -z "${ARGUS_TEST_MOTO_ENDPOINT:-}" ]]; then
  exec bash tests/peers.sh bash benches/report.sh "$runs" "$signals"
fi

target=${CARGO_TARGET_DIR:-target}
out="$target/report"
mkdir -p "$out"
packages=(-p orchestrator -p verifier -p log-analyzer -p connectors -p hello-lambda)
step() { printf '\n==> %s\n' "$*" >&2; }

step "machine"
python3 - "$out/machine.json" <<'PY'
import json, os, platform, subprocess, sys
def first(path, key):
    try:
        for line in open(path):
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"
machine = {
    "cpu": first("/proc/cpuinfo", "model name"),
    "cores": os.cpu_count(),
    "memory_gib": round(int(first("/proc/meminfo", "MemTotal").split()[0]) / 1048576, 1),
    "os": f"{platform.system()} {platform.release()} {platform.machine()}",
    "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip(),
    "load_at_start": open("/proc/loadavg").read().split()[:3],
    "date": subprocess.run(["date", "-u", "+%Y-%m-%dT%H:%MZ"], capture_output=True, text=True).stdout.strip(),
}
json.dump(machine, open(sys.argv[1], "w"), indent=2)
print(json.dumps(machine), file=sys.stderr)
PY

step "release zips: cargo lambda build --release --arm64 --output-format zip"
if ! cargo lambda --version >/dev/null 2>&1; then
  venv=.peers/venv-lambda
  if [[ ! -x "$venv/bin/cargo-lambda" ]]; then
    echo "installing cargo-lambda and ziglang from PyPI into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --disable-pip-version-check -q cargo-lambda ziglang
  fi
  export PATH="$PWD/$venv/bin:$PATH"
fi
cargo lambda build --release --arm64 --output-format zip "${packages[@]}" >&2

step "native release builds for timing"
cargo build --release --locked "${packages[@]}" >&2
cargo build --release --locked -p argus-integration-tests --example lambda_report >&2

step "init time: $runs runs per function against a local Runtime API peer"
# The connectors read their secret at init: give them one, in moto.
secret_arn=$(.peers/venv/bin/python - "$ARGUS_TEST_MOTO_ENDPOINT" <<'PY'
import json, sys, boto3
client = boto3.client("secretsmanager", endpoint_url=sys.argv[1], region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
name = "argus/connectors-report"
value = json.dumps({"approval_link_key": "report-signing-key", "slack_signing_secret": "report-slack-secret"})
try:
    print(client.create_secret(Name=name, SecretString=value)["ARN"])
except client.exceptions.ResourceExistsException:
    client.put_secret_value(SecretId=name, SecretString=value)
    print(client.describe_secret(SecretId=name)["ARN"])
PY
)
python3 - "$target/release" "$out/init-spec.json" "$secret_arn" "$ARGUS_TEST_MOTO_ENDPOINT" <<'PY'
import json, sys
release, spec_path, secret, moto = sys.argv[1:5]
tables = {"ARGUS_INCIDENTS_TABLE": "argus-incidents", "ARGUS_PATTERNS_TABLE": "argus-patterns"}
state_machine = "arn:aws:states:us-east-1:123456789012:stateMachine:argus-recovery"
connectors = dict(tables, ARGUS_POLICY="{}", ARGUS_CONNECTORS_SECRET_ID=secret, AWS_ENDPOINT_URL=moto)
spec = {
    "hello-lambda (floor)": {"binary": f"{release}/hello-lambda", "env": {}},
    "orchestrator": {"binary": f"{release}/orchestrator",
                     "env": dict(tables, ARGUS_STATE_MACHINE_ARN=state_machine, ARGUS_POLICY="{}")},
    # The same binary trusting the platform's CA bundle, as the SDK does by default.
    "orchestrator, ARGUS_TLS_ROOTS=system": {
        "binary": f"{release}/orchestrator",
        "env": dict(tables, ARGUS_STATE_MACHINE_ARN=state_machine, ARGUS_POLICY="{}",
                    ARGUS_TLS_ROOTS="system")},
    "verifier": {"binary": f"{release}/verifier", "env": {}},
    "log-analyzer": {"binary": f"{release}/log-analyzer",
                     "env": {"ARGUS_PATTERNS_TABLE": "argus-patterns", "ARGUS_EVENT_BUS": "default",
                             "ARGUS_LOG_GROUPS": "/aws/lambda/argus-orchestrator", "ARGUS_LOG_ANALYZER": "{}"}},
    "connectors": {"binary": f"{release}/connectors",
                   "env": dict(connectors, ARGUS_SNS_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:argus-incidents",
                               ARGUS_POSTMORTEM_BUCKET="argus-postmortems")},
    "connectors-http": {"binary": f"{release}/connectors-http",
                        "env": dict(connectors, ARGUS_EVENT_BUS="default")},
}
json.dump(spec, open(spec_path, "w"), indent=2)
PY
python3 benches/init_time.py "$runs" "$out/init-spec.json" >"$out/init.json"

step "handler time and request counts: lambda_report $signals"
"$target/release/examples/lambda_report" "$signals" >"$out/paths.json"

step "writing BENCHMARKS.md"
python3 benches/write_report.py "$out" "$target/lambda" BENCHMARKS.md "bash benches/report.sh $runs $signals"
