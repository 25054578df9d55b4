# shellcheck shell=bash
# Sourced by scripts/test and scripts/reliability. AWS emulators on free loopback ports for the
# length of the calling script, with dummy credentials:
#
#   start_emulator     moto's server (every service the binary calls), unless AWS_ENDPOINT_URL
#                      is already set (LocalStack Pro on port 4566, say): exports
#                      AWS_ENDPOINT_URL.
#   start_localstack   the open-source LocalStack core (no Docker, no token) for S3, SSM and
#                      KMS, in its own virtual environment from a tested lock
#                      (scripts/emulators/localstack-4.10.0.lock): sets LOCALSTACK_URL.
#   use_localstack     S3, SSM and KMS on LocalStack, CodeDeploy (which LocalStack lacks) on
#                      moto, through the per-service variables AWS_ENDPOINT_URL_S3, _SSM, _KMS
#                      and _CODEDEPLOY; AWS_ENDPOINT_URL stays moto's, so nothing reaches AWS.
#   use_moto           every service on moto again (the per-service variables unset).
#
# Every server started is stopped when the calling script exits (SIGTERM, then SIGKILL).

# shellcheck source=scripts/common.sh
declare -F at_exit >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MOTO_VERSION=5.2.5
LOCALSTACK_VERSION=4.10.0
EMULATOR_LOCKS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/emulators"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Stops PID: SIGTERM, then SIGKILL after 10 s (hypercorn sometimes ignores SIGTERM).
stop_server() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -9 "$1" 2>/dev/null || true
}

# Waits until URL answers, while PID lives; NAME and LOG say what failed.
wait_ready() { # NAME PID URL LOG
  for _ in $(seq 1 300); do
    if python3 -c "import urllib.request; urllib.request.urlopen('$3', timeout=1)" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$2" 2>/dev/null; then
      echo "$1 did not start:" >&2
      cat "$4" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "$1 did not answer $3 within 60 s:" >&2
  cat "$4" >&2
  exit 1
}

start_emulator() {
  if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
    return 0
  fi
  if ! python3 -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    echo "==> installing moto[server]==$MOTO_VERSION (pip)" >&2
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  local port log
  port=$(free_port)
  log=$(mktemp -t moto-server.XXXXXX.log)
  python3 -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  moto_pid=$!
  at_exit "stop_server $moto_pid; rm -f $log"
  wait_ready moto "$moto_pid" "http://127.0.0.1:$port/moto-api/data.json" "$log"
  echo "==> moto $MOTO_VERSION on 127.0.0.1:$port" >&2
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  unset AWS_SESSION_TOKEN AWS_PROFILE
}

start_localstack() {
  # Its pins (moto-ext, boto3 1.40) clash with moto's and cfn-lint's: an environment of its own.
  local venv
  venv=$(locked_venv "$EMULATOR_LOCKS/localstack-$LOCALSTACK_VERSION.lock")
  local port log root
  port=$(free_port)
  log=$(mktemp -t localstack.XXXXXX.log)
  root=$(mktemp -d -t localstack-root.XXXXXX)
  # OVERRIDE_IN_DOCKER=0: it would believe it is in a container and listen on 0.0.0.0;
  # hypercorn: the default server ignores the host. EAGER_SERVICE_LOADING: the first call of
  # a test does not pay for loading S3.
  env -u LOCALSTACK_AUTH_TOKEN GATEWAY_LISTEN="127.0.0.1:$port" GATEWAY_SERVER=hypercorn \
    OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$root" PERSISTENCE=0 SERVICES=s3,ssm,kms DNS_ADDRESS=0 \
    DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 S3_SKIP_KMS_KEY_VALIDATION=0 EAGER_SERVICE_LOADING=1 \
    "$venv/bin/python" -m localstack.runtime.main >"$log" 2>&1 &
  localstack_pid=$!
  at_exit "stop_server $localstack_pid; rm -rf $root $log"
  wait_ready LocalStack "$localstack_pid" "http://127.0.0.1:$port/_localstack/health" "$log"
  echo "==> LocalStack $LOCALSTACK_VERSION (S3, SSM, KMS) on 127.0.0.1:$port" >&2
  LOCALSTACK_URL="http://127.0.0.1:$port"
}

use_localstack() {
  export AWS_ENDPOINT_URL_S3="$LOCALSTACK_URL" AWS_ENDPOINT_URL_SSM="$LOCALSTACK_URL" \
    AWS_ENDPOINT_URL_KMS="$LOCALSTACK_URL" AWS_ENDPOINT_URL_CODEDEPLOY="$AWS_ENDPOINT_URL"
}

use_moto() {
  unset AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_SSM AWS_ENDPOINT_URL_KMS AWS_ENDPOINT_URL_CODEDEPLOY
}
