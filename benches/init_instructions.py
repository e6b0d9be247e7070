#!/usr/bin/env python3
"""Instructions a function executes from process start to its first Lambda Runtime API request.

Runs each binary under `valgrind --tool=callgrind` with the environment of init_time.py against
a local Runtime API peer; when the first request arrives the peer interrupts the process, and
callgrind writes its profile. Instruction counts do not depend on the machine's load, so they
show where init time goes when wall-clock figures are noisy. Read a profile with
`callgrind_annotate --inclusive=yes OUT_DIR/NAME.callgrind` (a binary built without `strip`
shows function names).

usage: init_instructions.py SPEC.json OUT_DIR     SPEC as for init_time.py
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from init_time import RUNTIME_ENV, TIMEOUT_SECONDS  # noqa: E402


def instructions(binary, env, profile):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(TIMEOUT_SECONDS * 10)  # valgrind runs code about fifty times slower
    child_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    child_env.update(RUNTIME_ENV)
    child_env.update(env)
    child_env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.getsockname()[1]}"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}", binary]
    process = subprocess.Popen(command, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        connection, _ = server.accept()
        connection.recv(4096)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=TIMEOUT_SECONDS * 10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        server.close()
    found = re.search(rb"Collected : (\d+)", err)
    if not found:
        raise RuntimeError(f"{binary}: callgrind reported no count: {err[-600:]!r}")
    return int(found.group(1))


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    spec = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    result = {}
    for name, function in spec.items():
        profile = os.path.join(out, re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".callgrind")
        result[name] = instructions(function["binary"], function.get("env", {}), profile)
        print(f"init_instructions: {name}: {result[name]:,}", file=sys.stderr)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
