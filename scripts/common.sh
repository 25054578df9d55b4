# shellcheck shell=bash
# Sourced by .ci/run and the scripts: `at_exit CMD` runs CMD when the script ends (every
# caller's, in order; a plain `trap ... EXIT` would replace the others'), and `step NAME`
# announces a step and closes the one before it; when the script ends, the time of each step
# is printed (what a machine spends where, cold or warm).
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
