#!/usr/bin/env bash
# Sweeps and local multi-process launches of experiments/main.py.
#
#   ./launch.sh sweep CONFIG WORKROOT key=v1,v2 [key2=v3,v4 ...] [-- extra main.py flags]
#       Runs the grid of every combination, one after another, each in
#       WORKROOT/<key>=<v>_<key2>=<v'> (e.g. runs/train.learning_rate=1e-3_model.diffwave.residual_layers=4),
#       with --config.<key>=<v> flags. Commas inside brackets belong to the
#       value: model.unet1d.channels='(32,64),(64,128)' is two points.
#       DRY_RUN=1 prints the commands only.
#
#   ./launch.sh local N CONFIG WORKDIR [main.py flags]
#       Starts N processes on this machine joined by jax.distributed (each
#       gets its share of the local devices), waits for all of them, and
#       fails if any fails. Process 0's log goes to stdout, the others' to
#       WORKDIR/process_<i>.log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"

usage() { sed -n '2,/^set /{/^#/p}' "$0"; exit 2; }

# Splits "a,(1,2),[3, 4]" at the commas outside brackets into the array `options`.
split_values() {
  local text="$1" current="" char depth=0 j
  options=()
  for ((j = 0; j < ${#text}; j++)); do
    char="${text:j:1}"
    case "$char" in
      '('|'[') depth=$((depth + 1)) ;;
      ')'|']') depth=$((depth - 1)) ;;
      ',') if ((depth == 0)); then options+=("$current"); current=""; continue; fi ;;
    esac
    current+="$char"
  done
  options+=("$current")
  if ((depth != 0)); then
    echo "sweep: unbalanced brackets in '$text'; write tuples as key='(1,2),(3,4)'" >&2
    exit 2
  fi
}

sweep() {
  [[ $# -ge 3 ]] || usage
  local config="$1" root="$2"; shift 2
  [[ -n "$root" ]] || { echo "sweep: WORKROOT is empty (an unset shell variable?); give the" \
    "folder the points' work directories go under" >&2; exit 2; }
  local -a keys=() values=() extra=()
  while [[ $# -gt 0 ]]; do
    if [[ "$1" == "--" ]]; then shift; extra=("$@"); break; fi
    [[ "$1" == *=* ]] || { echo "sweep: '$1' is not key=v1,v2" >&2; exit 2; }
    local key="${1%%=*}"
    key="${key#--config.}"  # the flag's own prefix is added here
    [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_.]*$ ]] || {
      echo "sweep: '${1%%=*}' is not a config field (write e.g. train.learning_rate=1e-3,3e-4)" >&2
      exit 2; }
    for other in "${keys[@]}"; do
      [[ "$other" != "$key" ]] || { echo "sweep: '$key' is swept twice; give its values" \
        "once ($key=v1,v2,...)" >&2; exit 2; }
    done
    keys+=("$key"); values+=("${1#*=}"); shift
  done
  for flag in "${extra[@]}"; do
    case "$flag" in
      --workdir*|--config=*|--config) echo "sweep: each point gets its own --workdir and the" \
        "sweep's --config; drop '$flag' after --" >&2; exit 2 ;;
    esac
    for key in "${keys[@]}"; do
      case "$flag" in
        "--config.$key="*|"--config.$key") echo "sweep: '$key' is swept; drop '$flag' after --" \
          "(it would set every point alike)" >&2; exit 2 ;;
      esac
    done
  done
  # The grid: one line per point, its key=value settings separated by \x1f
  # (a value may hold spaces and commas, e.g. a tuple "(64, 128)").
  local sep=$'\x1f'
  local -a grid=("") options=()
  for i in "${!keys[@]}"; do
    local -a next=()
    split_values "${values[$i]}"
    for point in "${grid[@]}"; do
      for v in "${options[@]}"; do next+=("${point:+$point$sep}${keys[$i]}=$v"); done
    done
    grid=("${next[@]}")
  done
  local -a names=()  # each point's work directory name, checked before any run
  for point in "${grid[@]}"; do
    local -a settings=()
    local name=""
    IFS="$sep" read -r -a settings <<< "$point"
    for kv in "${settings[@]}"; do
      [[ -n "${kv#*=}" ]] || { echo "sweep: an empty value in '$kv'" >&2; exit 2; }
      name="${name:+${name}_}${kv}"
    done
    name="${name//\//-}"
    name="${name// /}"
    for other in "${names[@]}"; do
      [[ "$other" != "$name" ]] || {
        echo "sweep: two points share the work directory '$name' (a repeated value?)" >&2
        exit 2; }
    done
    names+=("$name")
  done
  local -a commands=()
  for index in "${!grid[@]}"; do
    local -a flags=() settings=()
    IFS="$sep" read -r -a settings <<< "${grid[$index]}"
    for kv in "${settings[@]}"; do flags+=("--config.${kv}"); done
    # Every point's settings are checked (--mode=check) before the first runs.
    "$python" "$here/experiments/main.py" "--config=$config" --mode=check \
      "--workdir=$root/${names[$index]}" "${flags[@]}" "${extra[@]}" > /dev/null || {
        echo "sweep: point '${names[$index]}' is refused (above); no point was run" >&2
        exit 2; }
    commands+=("$(printf ' %q' "$python" "$here/experiments/main.py" "--config=$config" \
      "--workdir=$root/${names[$index]}" "${flags[@]}" "${extra[@]}")")
  done
  for command in "${commands[@]}"; do
    echo "+$command"  # quoted: the line can be pasted
    if [[ "${DRY_RUN:-0}" != "1" ]]; then eval "$command"; fi
  done
}

local_launch() {
  [[ $# -ge 3 ]] || usage
  local n="$1" config="$2" workdir="$3"; shift 3
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "local: N='$n' must be a whole number >= 1" >&2; exit 2; }
  [[ -f "${config%%:*}" ]] || {
    echo "local: --config=$config does not exist; the configs are in experiments/configs/" >&2
    exit 2; }
  [[ ! -e "$workdir" || -d "$workdir" ]] || {
    echo "local: WORKDIR=$workdir is a file; give a folder (a new one, or a run to resume)" >&2
    exit 2; }
  local port="${PORT:-$((20000 + RANDOM % 20000))}"
  local created=0
  [[ -e "$workdir" ]] || created=1
  mkdir -p "$workdir"
  local -a pids=()
  local -a cmd=("$python" "$here/experiments/main.py" "--config=$config" "--workdir=$workdir" "$@")
  for ((i = 0; i < n; i++)); do
    local -a process=(env AUDIODIFF_COORDINATOR="localhost:$port" AUDIODIFF_NUM_PROCESSES="$n"
                      AUDIODIFF_PROCESS_ID="$i" "${cmd[@]}")
    # Process 0 writes to this shell's own output (not reopened, so a file it
    # is redirected to is not truncated); the others to their logs.
    if ((i == 0)); then
      "${process[@]}" &
    else
      "${process[@]}" > "$workdir/process_$i.log" 2>&1 &
    fi
    pids+=($!)
  done
  local status=0 code
  for pid in "${pids[@]}"; do
    wait "$pid" && code=0 || code=$?
    ((code > status)) && status=$code
  done
  if ((status)); then
    # A run that failed before writing leaves no folder (process 0 logs above).
    if ((created)) && [[ -z "$(ls -A "$workdir")" ]]; then
      rm -rf "$workdir"
    elif ((n > 1)); then
      echo "launch: a process failed; see above and $workdir/process_*.log" >&2
    fi
  fi
  return $status
}

case "${1:-}" in
  sweep) shift; sweep "$@" ;;
  local) shift; local_launch "$@" ;;
  *) usage ;;
esac
