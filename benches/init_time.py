#!/usr/bin/env python3
"""Lambda init time, measured against a local Lambda Runtime API peer.

For each run: a listening socket on 127.0.0.1 plays the Runtime API; the function's binary is
started with AWS_LAMBDA_RUNTIME_API pointing at it; the time from just before the process is
started to the moment its first request (GET .../runtime/invocation/next) arrives is its init
time. The process is then stopped. Functions are measured round-robin so machine load affects
all alike; the median (and min/max) of the runs is printed as JSON.

usage: init_time.py RUNS SPEC.json     SPEC = {"name": {"binary": path, "env": {...}}, ...}
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

RUNTIME_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "argus-measure",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_STREAM_NAME": "measure",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/argus-measure",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}
# provided.al2023 keeps its CA certificates in one bundle file, which the SDK's TLS setup reads
# at init; point the functions at this machine's bundle (if it has one) rather than a folder of
# one file per certificate, which would be slower than what Lambda does.
for bundle in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
    if os.path.exists(bundle):
        RUNTIME_ENV["SSL_CERT_FILE"] = bundle
        break
TIMEOUT_SECONDS = 20


def one_run(binary, env):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(TIMEOUT_SECONDS)
    port = server.getsockname()[1]
    child_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    child_env.update(RUNTIME_ENV)
    child_env.update(env)
    child_env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{port}"
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        connection, _ = server.accept()
        connection.settimeout(TIMEOUT_SECONDS)
        request = b""
        while b"\r\n" not in request:
            chunk = connection.recv(4096)
            if not chunk:
                break
            request += chunk
        arrived = time.perf_counter()
        if b"/runtime/invocation/next" not in request:
            raise RuntimeError(f"{binary}: first request was not invocation/next: {request[:80]!r}")
        connection.close()
        return (arrived - started) * 1000.0
    except socket.timeout:
        process.kill()
        _, err = process.communicate()
        raise RuntimeError(f"{binary}: no Runtime API request within {TIMEOUT_SECONDS}s; stderr: {err.decode(errors='replace')[-600:]}")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()
        server.close()


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    runs = int(sys.argv[1])
    spec = json.load(open(sys.argv[2]))
    samples = {name: [] for name in spec}
    for run in range(runs):
        for name, function in spec.items():
            samples[name].append(one_run(function["binary"], function.get("env", {})))
        print(f"init_time: run {run + 1}/{runs}", file=sys.stderr)
    result = {
        name: {
            "median_ms": statistics.median(values),
            "min_ms": min(values),
            "max_ms": max(values),
            "runs": len(values),
        }
        for name, values in samples.items()
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
