# shellcheck shell=bash
# Sourced by .ci/run and the scripts: `at_exit CMD` runs CMD when the script ends (every
# caller's, in order; a plain `trap ... EXIT` would replace the others'), and `step NAME`
# announces a step and closes the one before it; when the script ends, the time of each step
# is printed (what a machine spends where, cold or warm). `locked_venv LOCK` makes a Python
# tool's own virtual environment from a tested lock; `prefetch_tools` makes them all in the
# background.
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
# installed with --no-deps; hashes, where the lock has them, are checked) under the machine's
# cache, once per machine, and made again when the lock changes. Two scripts asking for the
# same one at once (a prefetch in the background, say) wait for each other. The environment is
# named after the lock (checkov-3.3.30.lock: checkov-3.3.30). Prints its path.
locked_venv() { # LOCK
  local venv
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/invisible-pipeline/venvs/$(basename "$1" .lock)"
  mkdir -p "$(dirname "$venv")"
  (
    flock 9
    if ! cmp -s "$1" "$venv/installed.lock" 2>/dev/null; then
      echo "==> installing $(basename "$1" .lock) in $venv (pip, from its lock)" >&2
      rm -rf "$venv"
      python3 -m venv "$venv"
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$1" >&2
      cp "$1" "$venv/installed.lock"
    fi
  ) 9>"$venv.lock"
  echo "$venv"
}

# Makes every tool environment of scripts/emulators/ and scripts/tools/ in the background (pip
# waits on the network while cargo uses the cores); their users' locked_venv waits for it.
# The script waits for it when it ends: nothing is left running.
prefetch_tools() {
  local top log
  top="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  log=$(mktemp -t prefetch-tools.XXXXXX.log)
  (
    for lock in "$top"/emulators/*.lock "$top"/tools/*.lock; do
      locked_venv "$lock" >/dev/null || true # a failure is reported again by its user
    done
  ) >"$log" 2>&1 &
  at_exit "wait $!; rm -f $log"
}
