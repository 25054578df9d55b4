# shellcheck shell=bash
# Sourced by scripts/test and scripts/reliability: unless AWS_ENDPOINT_URL is already set
# (LocalStack on port 4566, say), installs moto's server if needed and starts it on a free
# loopback port for the length of the calling script, then exports the endpoint and dummy
# credentials.

# shellcheck source=scripts/common.sh
declare -F at_exit >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MOTO_VERSION=5.2.5

start_emulator() {
  if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
    return 0
  fi
  if ! python3 -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    echo "==> installing moto[server]==$MOTO_VERSION (pip)" >&2
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  local port log
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log=$(mktemp -t moto-server.XXXXXX.log)
  python3 -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  moto_pid=$!
  at_exit "kill $moto_pid 2>/dev/null"
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/data.json', timeout=1)" 2>/dev/null; then
      break
    fi
    if ! kill -0 "$moto_pid" 2>/dev/null; then
      echo "moto server did not start:" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "==> moto $MOTO_VERSION on 127.0.0.1:$port" >&2
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  unset AWS_SESSION_TOKEN AWS_PROFILE
}
