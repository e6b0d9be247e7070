#!/usr/bin/env python3
"""Writes the "Lambda functions" section of BENCHMARKS.md from the files benches/report.sh made.

usage: write_report.py OUT_DIR LAMBDA_DIR BENCHMARKS.md COMMAND
The section sits between the BEGIN and END markers below; the rest of the file is left alone.
"""
import json
import math
import os
import sys

BEGIN = "<!-- lambda-report:begin (written by benches/report.sh; edits here are overwritten) -->"
END = "<!-- lambda-report:end -->"
FUNCTIONS = ["orchestrator", "verifier", "log-analyzer", "connectors", "connectors-http"]
FLOOR = "hello-lambda (floor)"
# Measured beside the functions, not a function of its own: the orchestrator with the SDK's
# default trust store, to show what the embedded Amazon roots save at init.
SYSTEM_ROOTS = "orchestrator, ARGUS_TLS_ROOTS=system"

# us-east-1 list prices used by the model (edit here when they change; the report prints them).
PRICES = {
    "lambda_arm64_gb_second": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "sfn_standard_transition": 0.025 / 1000,
    "dynamodb_on_demand_wru": 0.625 / 1e6,
    "dynamodb_on_demand_rru": 0.125 / 1e6,
    "bedrock_haiku_4_5_input_token": 1.00 / 1e6,
    "bedrock_haiku_4_5_output_token": 5.00 / 1e6,
    "cloudwatch_get_metric_data_metric": 0.01 / 1000,
}
# Model assumptions, stated in the report.
MEMORY_GB = 0.25                    # every function billed at 256 MB (the largest of the workflow's)
BEDROCK_SECONDS = 4.0               # a Haiku 4.5 Converse call, typical
DYNAMODB_REQUEST_SECONDS = 0.010    # per request, in-region
WORKFLOW_LAMBDA_SECONDS = 0.200     # per Lambda task of the workflow (records, verifier, connectors)
OUTPUT_TOKENS = 1024                # ARGUS_BEDROCK_MAX_TOKENS default: the most a call can return
WRITES = {"TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}


def request_units(requests):
    """Upper bounds from the bytes on the wire: a write costs 1 WRU per KB it sends (2 inside a
    transaction); a read 1 RRU per 4 KB it returns (strongly consistent)."""
    wru = rru = 0
    for request in requests:
        if request["operation"] in WRITES:
            units = max(1, math.ceil(request["request_bytes"] / 1024))
            wru += units * (2 if request["operation"] == "TransactWriteItems" else 1)
        else:
            rru += max(1, math.ceil(request["response_bytes"] / 4096))
    return wru, rru


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def main():
    out, lambda_dir, benchmarks, command = sys.argv[1:5]
    machine = json.load(open(os.path.join(out, "machine.json")))
    init = json.load(open(os.path.join(out, "init.json")))
    paths = json.load(open(os.path.join(out, "paths.json")))
    floor = init[FLOOR]["median_ms"]

    lines = [BEGIN, "", "# Benchmarks: the Lambda functions", ""]
    lines += [
        "Every figure below comes from one run of", "", "```", command, "```", "",
        f"on {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, {machine['os']}, "
        f"{machine['rustc']}, on {machine['date']} (load average at start: {' '.join(machine['load_at_start'])}; "
        "the machine is shared, so compare ratios measured in this run rather than absolute times).", "",
    ]

    zip_rows = []
    for name in ["hello-lambda"] + FUNCTIONS:
        path = os.path.join(lambda_dir, name, "bootstrap.zip")
        size = os.path.getsize(path) / 1e6 if os.path.exists(path) else None
        verdict = "—" if size is None else ("yes" if size <= 10 else "**no**")
        zip_rows.append([name, "missing" if size is None else f"{size:.2f} MB", verdict])
    lines += ["## Release zip size (arm64)", "",
              "`cargo lambda build --release --arm64 --output-format zip` (LTO, one codegen unit, "
              "stripped). Target: at most 10 MB per function.", "",
              table(["function", "bootstrap.zip", "≤ 10 MB"], zip_rows), ""]

    init_rows = [[FLOOR, f"{floor:.1f}", f"{init[FLOOR]['min_ms']:.1f}–{init[FLOOR]['max_ms']:.1f}", "1.00", "—"]]
    for name in FUNCTIONS + [SYSTEM_ROOTS]:
        if name not in init:
            continue
        median = init[name]["median_ms"]
        ratio = median / floor
        init_rows.append([name, f"{median:.1f}", f"{init[name]['min_ms']:.1f}–{init[name]['max_ms']:.1f}",
                          f"{ratio:.2f}", "yes" if ratio <= 1.5 else "**no**"])
    runs = init[FLOOR]["runs"]
    lines += ["## Init time", "",
              "From just before the process starts to its first request to the Lambda Runtime API "
              "(`GET /2018-06-01/runtime/invocation/next`), against a local Runtime API peer on "
              f"127.0.0.1 (`benches/init_time.py`), {runs} runs per function taken round-robin; "
              "native x86_64 release builds of the same code and profile (the arm64 zips cannot run "
              "on this machine). The floor is a lambda_runtime function that does nothing "
              "(`benches/hello-lambda`), built the same way. The connectors read their secret from "
              "Secrets Manager at init (here moto's server on loopback), so their figure includes "
              "that call. The functions trust the five Amazon Trust Services roots embedded in them "
              "(the default, `ARGUS_TLS_ROOTS=amazon`); the last row is the orchestrator with the "
              "SDK's default trust store (`ARGUS_TLS_ROOTS=system`), which parses the platform's CA "
              "bundle for every SDK client it builds: here one bundle file (`SSL_CERT_FILE`), as on "
              "provided.al2023. Target: at most 1.5× the floor.", "",
              table(["function", "median ms", "min–max ms", "× floor", "≤ 1.5×"], init_rows), ""]

    handler = paths["handler_time"]
    lines += ["## Orchestrator handler time per signal", "",
              f"In process, release build, embedded store (redb, a durable commit per write) and the "
              f"rules analyst, {handler['new_incident']['signals']} distinct alarms then the same "
              "alarms delivered again:", "",
              table(["path", "median µs", "p99 µs"], [
                  ["new incident (decided, workflow started)", f"{handler['new_incident']['median_us']:.0f}",
                   f"{handler['new_incident']['p99_us']:.0f}"],
                  ["duplicate delivery", f"{handler['duplicate']['median_us']:.0f}",
                   f"{handler['duplicate']['p99_us']:.0f}"],
              ]), ""]

    intake = paths["intake_paths"]
    intake_rows = []
    for row in intake:
        ops = {}
        for request in row["requests"]:
            ops[request["operation"]] = ops.get(request["operation"], 0) + 1
        detail = ", ".join(f"{count}× {op}" for op, count in ops.items())
        intake_rows.append([row["path"], row["dynamodb_requests"], detail, row["analyst_calls_in_path"]])
    new = next(row for row in intake if row["path"] == "new incident")
    others = [row for row in intake if row["path"] != "new incident"]
    targets_met = new["dynamodb_requests"] <= 6 and new["analyst_calls_in_path"] == 1 and all(
        row["analyst_calls_in_path"] == 0 for row in others)
    lines += ["## DynamoDB requests and Bedrock calls per intake path", "",
              "Counted on the wire: an interceptor on the real DynamoDB client (retries included) "
              "against DynamoDB Local, and calls on the analyst port (where the Bedrock adapter sits) "
              "— `tests/examples/lambda_report.rs`; the test `tests/tests/analysis_requests.rs` "
              "holds the same paths to their bounds. Targets: at most 6 DynamoDB requests and exactly "
              f"one Bedrock call per new incident, none on the other paths: **{'met' if targets_met else 'not met'}**.", "",
              table(["path", "DynamoDB requests", "operations", "Bedrock calls"], intake_rows), ""]

    recovery = paths["recovery_paths"]
    lines += ["## Recovery paths", "",
              "The recovery state machine (statemachines/recovery.asl.json) run by the local engine, "
              "its records written to DynamoDB Local. Standard workflows bill per state transition.", "",
              table(["path", "state transitions", "Lambda tasks", "DynamoDB requests"],
                    [[r["path"], r["state_transitions"], r["lambda_invocations"], r["dynamodb_requests"]]
                     for r in recovery]), ""]

    investigation = paths.get("investigation")
    if investigation:
        calls = investigation["calls"]
        lines += ["## Investigation", "",
                  "One investigated alarm on the intake path: the \"slow dependency, just redeployed\" "
                  "scenario served on the wire by a loopback peer in X-Ray's, CloudTrail's and "
                  "CloudWatch's documented shapes, read by the orchestrator's own adapters "
                  "(tests/support/investigation_world.rs), embedded store, rules analyst. AWS calls "
                  "of one investigation:", "",
                  table(["call", "requests"], [[name, count] for name, count in sorted(calls.items())]),
                  "",
                  f"GetMetricData requested {investigation['metrics_requested']} metric(s). "
                  "Time from the event to the decision (median of "
                  f"{investigation['time_to_decision'][0]['runs']} runs) with every AWS call answered "
                  "after the latency shown (set latencies, not recorded AWS ones; the stage's deadline "
                  "is 5 s):", "",
                  table(["latency per call", "time to decision"],
                        [[f"{row['call_latency_ms']} ms", f"{row['time_to_decision_ms_median']:.1f} ms"]
                         for row in investigation["time_to_decision"]]), ""]

    # Cost per incident: a new incident, approved and recovered.
    path = next(r for r in recovery if r["path"].startswith("approval, approved, recovered"))
    wru_in, rru_in = request_units(new["requests"])
    wru_wf, rru_wf = request_units(path["requests"])
    input_tokens = new["context_tokens"][0] if new["context_tokens"] else 0
    lambda_seconds = (BEDROCK_SECONDS + new["dynamodb_requests"] * DYNAMODB_REQUEST_SECONDS
                      + path["lambda_invocations"] * WORKFLOW_LAMBDA_SECONDS)
    invocations = 1 + path["lambda_invocations"]
    items = [
        ("Lambda compute", f"{lambda_seconds:.2f} s × {MEMORY_GB} GB", lambda_seconds * MEMORY_GB * PRICES["lambda_arm64_gb_second"]),
        ("Lambda requests", f"{invocations} invocations", invocations * PRICES["lambda_request"]),
        ("Step Functions", f"{path['state_transitions']} state transitions", path["state_transitions"] * PRICES["sfn_standard_transition"]),
        ("DynamoDB writes", f"{wru_in + wru_wf} WRU", (wru_in + wru_wf) * PRICES["dynamodb_on_demand_wru"]),
        ("DynamoDB reads", f"{rru_in + rru_wf} RRU", (rru_in + rru_wf) * PRICES["dynamodb_on_demand_rru"]),
        ("Bedrock input", f"{input_tokens} tokens", input_tokens * PRICES["bedrock_haiku_4_5_input_token"]),
        ("Bedrock output", f"≤ {OUTPUT_TOKENS} tokens", OUTPUT_TOKENS * PRICES["bedrock_haiku_4_5_output_token"]),
    ]
    if investigation:
        metrics = investigation["metrics_requested"]
        items.append(("Investigation: CloudWatch GetMetricData", f"{metrics} metrics",
                      metrics * PRICES["cloudwatch_get_metric_data_metric"]))
    total = sum(cost for _, _, cost in items)
    lines += ["## Cost per incident", "",
              "Modelled for one new incident that is analysed, approved and recovered (the workflow "
              "path above), from the counts measured in this run, at us-east-1 list prices:", "",
              table(["item", "quantity", "USD"], [[n, q, f"{c:.6f}"] for n, q, c in items]
                    + [["**total**", "", f"**{total:.6f}**"]]), "",
              f"Target: at most $0.01 per incident: **{'met' if total <= 0.01 else 'not met'}**.", "",
              "Prices used (USD): " + ", ".join(f"{k} {v:.10g}" for k, v in PRICES.items()) + ".", "",
              "Assumptions: every function billed at 256 MB; the intake invocation waits "
              f"{BEDROCK_SECONDS:.0f} s for Bedrock (Claude Haiku 4.5, the default model) plus "
              f"{DYNAMODB_REQUEST_SECONDS * 1000:.0f} ms per DynamoDB request; each Lambda task of the workflow "
              f"bills {WORKFLOW_LAMBDA_SECONDS * 1000:.0f} ms; output tokens at the configured maximum "
              f"({OUTPUT_TOKENS}); DynamoDB units bounded from the bytes each request sent or received "
              "(1 WRU per KB written, doubled in transactions; 1 RRU per 4 KB read). The connectors' "
              "own DynamoDB writes (audit records of deliveries) and the vendors' prices are not in "
              "the workflow count; CloudWatch Logs ingestion and alarm events (free on the default "
              "bus) are left out. The investigation's X-Ray service-graph and statistics calls and "
              "CloudTrail LookupEvents are taken as $0 (X-Ray bills traces recorded, retrieved and "
              "scanned, and these calls fetch none; CloudTrail's event history has no charge); its "
              "wall time adds to the intake invocation's compute (see the time to decision).", "", END]

    section = "\n".join(lines) + "\n"
    text = open(benchmarks).read() if os.path.exists(benchmarks) else ""
    if BEGIN in text and END in text:
        before = text[: text.index(BEGIN)]
        after = text[text.index(END) + len(END):].lstrip("\n")
        text = before + section + ("\n" + after if after else "")
    else:
        text = section + "\n" + text
    open(benchmarks, "w").write(text)
    print(f"write_report: {benchmarks} updated (cost per incident ${total:.6f})", file=sys.stderr)


if __name__ == "__main__":
    main()
