#!/usr/bin/env bash
# The power-loss test (tests/power_loss/README.md).
#
#   bash tests/power_loss/run.sh BUILD_DIR [CYCLES] [--seed N] [--jobs N] [--process-crash]
#
# Each cycle: power_loss_worker publishes on an ext4 file system on a loop
# device until a SIGKILL at a random moment; the loop device's backing file
# is copied at once, before anything syncs it (what only the page cache held
# is missing from the copy, as after a power cut); the copy is mounted on
# another loop device (ext4 replays its journal) and checked. Cycles
# alternate io_uring and the syscall fallback, and run in --jobs lanes (3
# by default), each with a file system of its own. Then the control case:
# a worker whose segment syncs return without syncing must fail the check.
#
# Exit 0 only when every cycle passed and the control was caught. Where loop
# devices or mount cannot be used it fails and says why; it never passes
# without running. A failed cycle keeps its image and says how to replay it
# (--seed replays a cycle's mode and kill delay; the moment the kill lands
# in the workload still varies). --process-crash syncs the file system
# before the copy: a process crash, not a power cut, which every check must
# pass too (it tells a harness error or a crash bug from a durability bug).
# Needs root.
set -uo pipefail

usage() { echo "usage: $0 BUILD_DIR [CYCLES] [--seed N] [--jobs N] [--process-crash]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
build=$1
shift
cycles=300
seed_base=""
lanes=3
process_crash=0
if [[ $# -ge 1 && $1 != --* ]]; then cycles=$1; shift; fi
while [[ $# -gt 0 ]]; do
  case $1 in
    --seed) [[ $# -ge 2 ]] || usage; seed_base=$2; shift 2 ;;
    --jobs) [[ $# -ge 2 ]] || usage; lanes=$2; shift 2 ;;
    --process-crash) process_crash=1; shift ;;
    *) usage ;;
  esac
done
if [[ -z $seed_base ]]; then seed_base=$(( (RANDOM << 15 | RANDOM) * 1000 )); fi
[[ $cycles =~ ^[0-9]+$ && $cycles -ge 1 && $seed_base =~ ^[0-9]+$ && $lanes =~ ^[1-8]$ ]] || usage
(( lanes > cycles )) && lanes=$cycles

say() { echo "power-loss: $*"; }
cannot() { echo "power-loss: FAILED: cannot run: $*" >&2; exit 1; }

worker=$build/tests/power_loss/power_loss_worker
shim=$build/tests/power_loss/libpower_loss_lying_sync.so
[[ -x $worker ]] || cannot "no $worker (build the target power_loss_worker)"
[[ -f $shim ]] || cannot "no $shim (build the target power_loss_lying_sync)"
if ldd "$worker" 2>/dev/null | grep -q 'lib[at]san'; then
  cannot "$worker is built with a sanitizer, whose runtime refuses the control case's preloaded shim: use a build without CONDUIT_SANITIZE"
fi
[[ $(id -u) -eq 0 ]] || cannot "it needs root, to attach loop devices and mount file systems"
[[ -e /dev/loop-control ]] || cannot "no /dev/loop-control: this kernel or container offers no loop devices"
for tool in mkfs.ext4 losetup mount umount mountpoint cp truncate flock; do
  command -v "$tool" >/dev/null || cannot "$tool is missing (packages e2fsprogs, util-linux, coreutils)"
done

# The images live on tmpfs where there is one (POWERLOSS_SCRATCH chooses
# another place): a flush of a loop device then costs the host's disk
# nothing, so the cycles measure conduit, not that disk, and the copy holds
# what it would hold anyway (what reached the device). What failed cycles
# keep goes to TMPDIR.
scratch=${POWERLOSS_SCRATCH:-}
if [[ -z $scratch ]]; then
  if [[ -d /dev/shm && -w /dev/shm && $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs ]]; then scratch=/dev/shm; else scratch=${TMPDIR:-/tmp}; fi
fi
work=$(mktemp -d "$scratch/conduit-power-loss.XXXXXX") || cannot "mktemp in $scratch failed"
kept_dir=$(mktemp -d "${TMPDIR:-/tmp}/conduit-power-loss-failed.XXXXXX") || cannot "mktemp in ${TMPDIR:-/tmp} failed"
lane_pids=()

# Unmounts and detaches everything, and keeps only what failed cycles kept.
cleanup() {
  local pid m img dev
  for pid in "${lane_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${lane_pids[@]}"; do wait "$pid" 2>/dev/null; done
  for m in "$work"/lane*/copy "$work"/lane*/live; do
    if mountpoint -q "$m"; then umount "$m" 2>/dev/null || { sleep 0.2; umount "$m"; } || umount -l "$m"; fi
  done
  for img in "$work"/lane*/*.img; do
    for dev in $(losetup -n -O NAME -j "$img" 2>/dev/null); do losetup -d "$dev"; done
  done
  rm -rf "$work"
  rmdir "$kept_dir" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# attach IMAGE MOUNTPOINT OPTIONS: a loop device for IMAGE, mounted there.
# On failure, prints why.
attach() {
  local dev err
  dev=$(losetup -f --show "$1" 2>&1) || { echo "losetup -f --show $1: $dev"; return 1; }
  if ! err=$(mount -t ext4 -o "$3" "$dev" "$2" 2>&1); then
    echo "mount $dev: $err"
    losetup -d "$dev"
    return 1
  fi
}
# detach MOUNTPOINT IMAGE
detach() {
  local dev
  umount "$1" || return 1
  for dev in $(losetup -n -O NAME -j "$2"); do losetup -d "$dev" || return 1; done
}

# Each lane's file system under test: small, made once and mounted for the
# whole run; each cycle works in a directory of its own on it and removes
# it afterwards (discard punches the freed blocks out of the backing file,
# so copies stay a few MiB). commit=300: ext4 commits its journal when the
# engine syncs, not every 5 s on its own, so nothing the engine left
# unsynced reaches the image by chance. Odd lanes use 1 KiB blocks, even
# ones 4 KiB: with blocks smaller than a page, ext4 writes a page out in
# pieces (other code, other orders). If this machine cannot do all that,
# say why.
for ((l = 0; l < lanes; l++)); do
  d=$work/lane$l
  mkdir -p "$d/live" "$d/copy"
  truncate -s 192M "$d/live.img" || cannot "truncate in $scratch failed"
  out=$(mkfs.ext4 -q -F -b $(( l % 2 ? 1024 : 4096 )) -E nodiscard "$d/live.img" 2>&1) || cannot "mkfs.ext4 failed: $out"
  why=$(attach "$d/live.img" "$d/live" commit=300,discard) || cannot "a loop device cannot be attached and mounted here: $why"
done

# A cycle's mode and kill delay follow from its seed: even seeds io_uring,
# odd the fallback; one kill in five within the first 60 ms (the engine
# opening, the topics being created, the first rolls), the rest spread over
# 60..1000 ms (a topic rolls every few tens of ms).
delay_ms_for() {
  local h=$(( ($1 * 6364136223846793005 + 1442695040888963407) >> 33 & 0x7fffffff ))
  if (( h % 5 == 0 )); then echo $(( 5 + (h / 5) % 55 )); else echo $(( 60 + (h / 5) % 940 )); fi
}
# us FROM TO: microseconds between two $EPOCHREALTIME values.
us() { echo $(( ${2/./} - ${1/./} )); }

# cut_and_check LANE_DIR DELAY_MS SEED MODE [VAR=VALUE...]: one cut. Runs
# the worker (with MODE, a CONDUIT_FORCE_SYSCALL_IO setting, and the rest
# of the environment given) for DELAY_MS, SIGKILLs it, copies the image at
# once, mounts the copy and checks it (with MODE only). Sets run_rc,
# check_rc, why and the phase times; leaves the image as cut in
# LANE_DIR/cut.img.
cut_and_check() {
  local d=$1 delay_ms=$2 seed=$3 mode_env=$4
  shift 3
  local dir=cycle-$seed pid t0 t1 t2 t3 t4
  run_rc=0 check_rc=0 why="" times="0 0 0 0"
  rm -f "$d/run.err" "$d/check.out" "$d/check.err"
  mkdir "$d/live/$dir"
  : >"$d/ack"
  t0=$EPOCHREALTIME
  env "$@" "$worker" run "$d/live/$dir" "$d/ack" "$seed" 2>"$d/run.err" &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -KILL "$pid" 2>/dev/null
  # Reaped: its threads (io_uring's workers among them) are gone, so every
  # sync it had started has finished.
  wait "$pid" 2>/dev/null
  run_rc=$?
  t1=$EPOCHREALTIME
  if (( process_crash )); then sync -f "$d/live"; fi
  # At once: what reached the loop device is in the backing file (in the
  # host's page cache at least); what the file system under test held only
  # in its own page cache is not.
  cp --sparse=always "$d/live.img" "$d/cut.img"
  rm -rf "${d:?}/live/$dir"
  # The check writes to what it mounts (recovery, its appends); a failure
  # keeps the image as the cut left it.
  cp --sparse=always "$d/cut.img" "$d/copy.img"
  t2=$EPOCHREALTIME
  if ! why=$(attach "$d/copy.img" "$d/copy" defaults); then check_rc=-1; return; fi
  t3=$EPOCHREALTIME
  env "$mode_env" "$worker" check "$d/copy/$dir" "$d/ack" >"$d/check.out" 2>"$d/check.err"
  check_rc=$?
  t4=$EPOCHREALTIME
  detach "$d/copy" "$d/copy.img" || { why="umount of the copy failed"; check_rc=-1; }
  times="$(us "$t0" "$t1") $(us "$t1" "$t2") $(( $(us "$t2" "$t3") + $(us "$t4" "$EPOCHREALTIME") )) $(us "$t3" "$t4")"
}

# report LANE_DIR SEED LABEL CHECKS: keeps the image and logs of a failed
# cut and prints why, in one piece; after ten, one line each.
report() {
  local d=$1 seed=$2 label=$3 checks=$4 keep="" k out=$1/report
  for ((k = 0; k < 10; k++)); do
    if mkdir "$kept_dir/failed-$k" 2>/dev/null; then keep=$kept_dir/failed-$k; break; fi
  done
  if [[ -z $keep ]]; then
    flock "$work/print.lock" echo "power-loss: $label FAILED: $checks (not kept: ten are kept already)"
    return
  fi
  {
    say "$label FAILED"
    mv "$d/cut.img" "$keep/" 2>/dev/null
    cp "$d/ack" "$d/run.err" "$d/check.out" "$d/check.err" "$keep/" 2>/dev/null
    say "  image kept as cut: $keep/cut.img, log in cycle-$seed/ (ack file and outputs beside it; mount a copy, README.md)"
    [[ -n $why ]] && say "  $why"
    [[ -s $d/check.out ]] && sed -n '1,12s/^/  /p' "$d/check.out"
    [[ -s $d/check.err ]] && { echo "  check stderr:"; sed -n '1,6s/^/    /p' "$d/check.err"; }
    if (( run_rc != 137 )) && [[ -s $d/run.err ]]; then echo "  worker stderr:"; sed -n '1,6s/^/    /p' "$d/run.err"; fi
  } >"$out"
  flock "$work/print.lock" cat "$out"
}

# lane L: cycles L, L + lanes, ... Each appends a line to lane L's results:
#   seed mode when checks|ok sync-acked async-acked group-acked async-watermark
#   block-size
#   run-us copy-us mount-us check-us
lane() {
  local l=$1 d=$work/lane$1 i seed delay_ms mode env_mode when bad io a b c e
  for ((i = l; i < cycles; i += lanes)); do
    seed=$((seed_base + i))
    delay_ms=$(delay_ms_for "$seed")
    if (( seed % 2 == 0 )); then mode=io_uring env_mode=CONDUIT_FORCE_SYSCALL_IO=0; else mode=fallback env_mode=CONDUIT_FORCE_SYSCALL_IO=1; fi
    if (( delay_ms < 60 )); then when=early; elif (( delay_ms < 500 )); then when=mid; else when=late; fi
    cut_and_check "$d" "$delay_ms" "$seed" "$env_mode"
    bad=""
    a=0 b=0 c=0 e=0
    if (( check_rc == -1 )); then
      bad=harness
    elif (( run_rc != 137 )); then
      why="the worker exited with status $run_rc before the kill"
      bad=worker-exit
    elif (( check_rc != 0 )); then
      bad=$(sed -n 's/^FAIL \([^:]*\):.*/\1/p' "$d/check.out" | paste -sd, -)
      [[ -n $bad ]] || { bad=check-exit-$check_rc; why="the check exited with status $check_rc"; }
    else
      # The mode asked for must be the one the engine used.
      io=$(sed -n 's/^ok disk_io="\([^"]*\)".*/\1/p' "$d/check.out")
      if [[ $mode == io_uring && $io != io_uring ]] || [[ $mode == fallback && $io == io_uring ]]; then
        why="asked for $mode, the engine used: $io"
        bad=disk-io-mode
      fi
      read -r a b c e < <(sed -n 's/.* sync_acked=\([0-9]*\) .* async_acked=\([0-9]*\) async_watermark=\([0-9]*\) group_acked=\([0-9]*\) .*/\1 \2 \4 \3/p' "$d/check.out")
    fi
    [[ -n $bad ]] && report "$d" "$seed" "cycle $((i + 1)) (seed $seed, $mode, kill after $delay_ms ms; replay: $0 $build 1 --seed $seed)" "$bad"
    echo "$seed $mode $when ${bad:-ok} ${a:-0} ${b:-0} ${c:-0} ${e:-0} $times $(( l % 2 ? 1 : 4 ))" >>"$d/results"
    rm -f "$d/cut.img" "$d/copy.img"
  done
}

start=$SECONDS
say "$cycles $( ((process_crash)) && echo "process-crash " )cycles in $lanes lanes, seeds $seed_base..$((seed_base + cycles - 1)), images in $work"
for ((l = 0; l < lanes; l++)); do
  lane "$l" &
  lane_pids+=($!)
done
next_progress=50
while :; do
  alive=0
  for pid in "${lane_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  (( alive )) || break
  sleep 1
  done_cycles=$(cat "$work"/lane*/results 2>/dev/null | wc -l)
  if (( done_cycles >= next_progress && done_cycles < cycles )); then
    flock "$work/print.lock" echo "power-loss: $done_cycles/$cycles cycles, $((SECONDS - start)) s"
    next_progress=$(( (done_cycles / 50 + 1) * 50 ))
  fi
done
for pid in "${lane_pids[@]}"; do wait "$pid"; done
lane_pids=()
cycle_seconds=$((SECONDS - start))

# The control: segment syncs that return 0 without syncing, from the 20th
# on (io_uring's syncs bypass libc, hence the fallback). What the engine
# acknowledged after that is in the page cache only: each try must fail the
# check. With --process-crash the file system is synced before the copy,
# so each must pass instead: the skipped syncs, not the shim, fail it.
control_tries=2
control_ok=0
control_checks=""
for ((i = 0; i < control_tries; i++)); do
  seed=$((seed_base + cycles + i))
  d=$work/lane0
  cut_and_check "$d" 600 "$seed" CONDUIT_FORCE_SYSCALL_IO=1 LD_PRELOAD="$shim" POWERLOSS_LIE_FROM=20
  if (( check_rc == -1 )); then
    why="control: $why"
  elif (( run_rc != 137 )); then
    why="control: the worker exited with status $run_rc before the kill"
  elif ! grep -q '^power_loss_lying_sync: ' "$d/run.err"; then
    why="control: the shim skipped no sync (was it preloaded?)"
  elif (( check_rc == 1 && !process_crash )); then
    control_ok=$((control_ok + 1))
    control_checks+="$(sed -n 's/^FAIL \([^:]*\):.*/\1/p' "$d/check.out" | paste -sd, -) "
    continue
  elif (( check_rc == 0 && process_crash )); then
    control_ok=$((control_ok + 1))
    continue
  elif (( process_crash )); then
    why="control: after a process crash the check failed (exit $check_rc)"
  else
    why="control: the check passed on a log whose writer skipped its syncs"
  fi
  report "$d" "$seed" "control try $((i + 1)) (seed $seed)" control
done

# The summary, from the lanes' results.
cat "$work"/lane*/results | awk -v cycles="$cycles" -v secs="$cycle_seconds" -v lanes="$lanes" -v base="$seed_base" '
  { n[$2]++; w[$3]++; b[$13]++; if ($4 != "ok") { f++; fm[$2]++; fw[$3]++; fb[$13]++; k = split($4, c, ","); for (j = 1; j <= k; j++) fc[c[j]]++ }
    s += $5; as += $6; g += $7; wm += $8; tr += $9; tc += $10; tm += $11; tk += $12; all++ }
  END {
    printf "power-loss: %d cycles in %d s (%d lanes, seeds from %s): %d passed, %d failed\n", all, secs, lanes, base, all - f, f
    printf "power-loss:   io_uring %d cycles, %d failed; syscall fallback %d cycles, %d failed\n", n["io_uring"], fm["io_uring"], n["fallback"], fm["fallback"]
    printf "power-loss:   ext4 with 4 KiB blocks %d cycles, %d failed; with 1 KiB blocks %d cycles, %d failed\n", b[4], fb[4], b[1], fb[1]
    printf "power-loss:   kills early (<60 ms) / mid / late (>=500 ms): %d / %d / %d cycles, %d / %d / %d failed\n", w["early"], w["mid"], w["late"], fw["early"], fw["mid"], fw["late"]
    printf "power-loss:   lane time: worker runs %d s, image copies %d s, mounts %d s, checks %d s\n", tr / 1e6, tc / 1e6, tm / 1e6, tk / 1e6
    printf "power-loss:   held to, over the passing cycles: %d acknowledged sync records, %d awaited async records, async durable watermarks summing to %d, %d work-group acks\n", s, as, wm, g
    if (f) { line = ""; for (c2 in fc) line = line " " c2 "=" fc[c2]; print "power-loss:   failed checks (cycles):" line }
    if (all != cycles) printf "power-loss:   %d cycles did not report\n", cycles - all
    exit (f > 0 || all != cycles)
  }'
cycles_ok=$(( $? == 0 ))
if (( process_crash )); then
  say "  control (segment syncs skipped from the 20th, then a process crash): passed in $control_ok of $control_tries tries"
else
  say "  control (segment syncs skipped from the 20th): caught in $control_ok of $control_tries tries (${control_checks% })"
fi
if (( !cycles_ok || control_ok < control_tries )); then
  say "FAILED"
  exit 1
fi
say "passed"
