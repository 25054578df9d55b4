# shellcheck shell=bash
# Sourced by .ci/run and the scripts: `at_exit CMD` runs CMD when the script ends (every
# caller's, in order; a plain `trap ... EXIT` would replace the others'), and `step NAME`
# announces a step and closes the one before it; when the script ends, the time of each step
# is printed (what a machine spends where, cold or warm). `locked_venv NAME LOCK` makes a
# Python tool's own virtual environment from a tested lock.
common_exit=()
common_start=$(date +%s)
common_step=""
common_step_t=$common_start
common_steps=()

at_exit() { # CMD
  common_exit+=("$1")
}

step() { # NAME
  common_close_step
  common_step=$1
  common_step_t=$(date +%s)
  echo "==> $1" >&2
}

common_close_step() {
  if [ -n "$common_step" ]; then
    common_steps+=("$(printf '%6d s  %s' $(($(date +%s) - common_step_t)) "$common_step")")
    common_step=""
  fi
}

common_on_exit() {
  local rc=$? cmd
  common_close_step
  if [ ${#common_steps[@]} -gt 0 ]; then
    {
      echo "==> step times of $(basename "$0") (exit $rc)"
      printf '  %s\n' "${common_steps[@]}"
      printf '  %6d s  in all\n' $(($(date +%s) - common_start))
    } >&2
  fi
  for cmd in "${common_exit[@]}"; do eval "$cmd" || true; done
  return "$rc"
}
trap common_on_exit EXIT

# A virtual environment of its own for a Python tool whose pins clash with the others' (one
# environment would let pip pick versions nobody tested): made from LOCK (every package pinned,
# installed with --no-deps) under the machine's cache, once per machine, and made again when
# the lock changes. Prints its path.
locked_venv() { # NAME LOCK
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/invisible-pipeline/venvs/$1"
  if ! cmp -s "$2" "$venv/installed.lock" 2>/dev/null; then
    echo "==> installing $1 in $venv (pip, from $(basename "$2"))" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$2" >&2
    cp "$2" "$venv/installed.lock"
  fi
  echo "$venv"
}
