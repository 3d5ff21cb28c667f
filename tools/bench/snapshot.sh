#!/usr/bin/env bash
# Snapshots under load, and restart from a snapshot, on a local 3-node raftd cluster (issue 6).
#
#  (a) Taking a snapshot does not stop serving: with KEYS (1 million) keys of DATA (100) bytes,
#      the p99 latency of redis-benchmark against the leader while every node snapshots back to
#      back (a CHECKPOINT loop per node) must stay within TARGET (3) x its p99 without snapshots.
#      Phases alternate (none/snap, then snap/none, ...) REPS times; medians are reported, with
#      how many snapshots each phase really took and their fork / child write times, the share
#      of the benchmark with a snapshot running, the leader's minor faults/s (copy-on-write
#      copies) and the CPU of the nodes and of their snapshot children. The host's load average
#      is printed too: on a shared machine compare only runs made at a similar load.
#  (b) A restart loads the newest snapshot and replays only the log after it: after a final
#      CHECKPOINT and EXTRA more writes (left in the log), all nodes get SIGTERM and are started
#      again; reported: time until every node answers and the leader's DBSIZE is KEYS + EXTRA,
#      each node's "loaded snapshot ... in N ms", and then one follower restarted alone (its
#      snapshot load, and time until it answers and its DBSIZE is complete).
#
# Usage: tools/bench/snapshot.sh
# Env:   RAFTD_BIN   raftd binary (default build/bin/raftd; use a Release/RelWithDebInfo build)
#        KEYS        keys preloaded (default 1000000)   DATA  value size (default 100)
#        EXTRA       writes after the last snapshot, replayed from the log at restart (50000)
#        REPS        phase pairs, the median is reported (default 3)
#        REQUESTS    -n (default 200000)   CLIENTS -c (default 50)   TESTS -t (default set,get)
#        SNAP_NODES  "all" (default): every node snapshots in phase 2; "leader": only the leader
#        SNAP_PAUSE  seconds between one node's CHECKPOINTs (default 0.1)
#        CHILD_SCHED diagnostic: "idle" (SCHED_IDLE) or "nice" (nice 19) for every snapshot child,
#                    set from outside as soon as it appears (shows what the children's CPU costs)
#        RAFTD_ARGS  extra raftd flags for every node
#        TARGET      p99 ratio (snapshots / none) not to exceed (default 3); STRICT=1 exits 1 if
#                    (a) is not met
#        KEEP=1      keep the work directory (data, node logs) for inspection
# Ports 22100, 22110, 22120 (peers on port+1).
# Runs the standard load: redis-benchmark -t set,get -c 50 -n 200000 -d 100 -r KEYS -P 1, so SETs
# overwrite preloaded keys (the parent's copy-on-write work while a child writes) and GETs hit.
set -euo pipefail
cd "$(dirname "$0")/../.."

RAFTD_BIN=${RAFTD_BIN:-build/bin/raftd}
KEYS=${KEYS:-1000000}
DATA=${DATA:-100}
EXTRA=${EXTRA:-50000}
REPS=${REPS:-3}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS:-set,get}
SNAP_NODES=${SNAP_NODES:-all}
SNAP_PAUSE=${SNAP_PAUSE:-0.1}
TARGET=${TARGET:-3}
BASE_PORT=22100
NODES=3

for tool in redis-benchmark redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "snapshot.sh: $tool not found (tools/install-deps.sh)" >&2; exit 1; }
done
[ -x "$RAFTD_BIN" ] || { echo "snapshot.sh: no raftd binary at $RAFTD_BIN (set RAFTD_BIN)" >&2; exit 1; }

WORK=$(mktemp -d -t raftd-snapbench-XXXXXX)
declare -A PIDS=()   # node index -> pid
LOOP_PIDS=()
cleanup() {
  touch "$WORK/stop-snap" 2>/dev/null || true
  for pid in "${LOOP_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  if [ "${KEEP:-0}" = 1 ]; then echo "snapshot.sh: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "snapshot.sh: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
port_of() { echo $((BASE_PORT + 10 * $1)); }
cli() { redis-cli -h 127.0.0.1 -p "$@" 2>/dev/null | tr -d '\r'; }
info_field() {  # info_field PORT FIELD: one field of INFO raft
  cli "$1" INFO raft | sed -n "s/^$2:\(.*\)$/\1/p"
}

ADDRS=()
for i in $(seq 0 $((NODES - 1))); do ADDRS+=("127.0.0.1:$(port_of "$i")"); done

start_node() {  # start_node I: starts node I (its data and log stay across restarts)
  local i=$1 others
  others=$(printf "%s\n" "${ADDRS[@]}" | { grep -vx "${ADDRS[$i]}" || true; } | paste -sd, -)
  # shellcheck disable=SC2086
  "$RAFTD_BIN" -a "${ADDRS[$i]}" -e "$others" -d "$WORK/raftd-$i" --log-level info \
    --log-file "$WORK/raftd-$i.log" --snapshot-interval 0 ${RAFTD_ARGS:-} &
  PIDS[$i]=$!
}

stop_node() {  # stop_node I: SIGTERM, wait up to 30 s (a leader hands over first)
  local i=$1 pid=${PIDS[$1]}
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then echo "node $i did not stop in 30 s; SIGKILL" >&2; kill -KILL "$pid"; fi
    sleep 0.02
  done
  wait "$pid" 2>/dev/null || true
  unset "PIDS[$i]"
}

wait_ping() {  # wait_ping PORT SECONDS
  local deadline=$((SECONDS + $2))
  until [ "$(cli "$1" PING)" = PONG ]; do
    [ $SECONDS -ge $deadline ] && die "127.0.0.1:$1 did not answer PING in $2 s"
    sleep 0.02
  done
}

find_leader() {  # prints the leader's client port; waits up to 30 s
  local deadline=$((SECONDS + 30)) leader i
  while :; do
    for i in $(seq 0 $((NODES - 1))); do
      leader=$(info_field "$(port_of "$i")" raft_leader_addr)
      if [ -n "$leader" ] && [ "$(info_field "${leader##*:}" raft_role)" = leader ]; then
        echo "${leader##*:}"
        return
      fi
    done
    [ $SECONDS -ge $deadline ] && die "no leader in 30 s"
    sleep 0.05
  done
}

wait_dbsize() {  # wait_dbsize PORT EXPECTED SECONDS
  local deadline=$((SECONDS + $3)) n=""
  until n=$(cli "$1" DBSIZE) && [ "$n" = "$2" ]; do
    [ $SECONDS -ge $deadline ] && die "127.0.0.1:$1 DBSIZE is '$n', expected $2 (after $3 s)"
    sleep 0.05
  done
}

wait_no_snapshot() {  # every node idle (no child writing)
  local deadline=$((SECONDS + 120)) i
  for i in $(seq 0 $((NODES - 1))); do
    until [ "$(info_field "$(port_of "$i")" raft_snapshot_in_progress)" = 0 ]; do
      [ $SECONDS -ge $deadline ] && die "node $i still snapshotting after 120 s"
      sleep 0.05
    done
  done
}

# Loads keys [from, from+count) named PREFIX%012d (redis-benchmark's key:__rand_int__ names)
# through one pipelined redis-cli, MSET of 100 keys each (one log entry per MSET).
preload() {  # preload PORT PREFIX FROM COUNT
  python3 - "$2" "$3" "$4" "$DATA" <<'PY' | redis-cli -h 127.0.0.1 -p "$1" --pipe >"$WORK/pipe.out" 2>&1 ||
import sys
prefix, first, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
value = b"x" * size
vhead = b"$%d\r\n" % size
out = sys.stdout.buffer
per = 100
for start in range(first, first + count, per):
    n = min(per, first + count - start)
    parts = [b"*%d\r\n$4\r\nMSET\r\n" % (1 + 2 * n)]
    for k in range(start, start + n):
        key = b"%s%012d" % (prefix.encode(), k)
        parts.append(b"$%d\r\n%s\r\n%s%s\r\n" % (len(key), key, vhead, value))
    out.write(b"".join(parts))
PY
    { cat "$WORK/pipe.out" >&2; die "preload through redis-cli --pipe failed"; }
  grep -q "errors: 0," "$WORK/pipe.out" || { cat "$WORK/pipe.out" >&2; die "preload had errors"; }
}

# --- start, preload ---------------------------------------------------------------------------
for i in $(seq 0 $((NODES - 1))); do start_node "$i"; done
for i in $(seq 0 $((NODES - 1))); do wait_ping "$(port_of "$i")" 20; done
LEADER=$(find_leader)
echo "raftd:  $RAFTD_BIN ($("$RAFTD_BIN" --version)), $NODES nodes on ports $(port_of 0)..$(port_of $((NODES - 1))), --snapshot-interval 0 ${RAFTD_ARGS:-}"
echo "load:   redis-benchmark -t $TESTS -c $CLIENTS -n $REQUESTS -d $DATA -r $KEYS -P 1 on the leader, $REPS reps per phase, median"
echo "host:   $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start, THP $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo '?')"

t0=$(now_ms)
preload "$LEADER" "key:" 0 "$KEYS"
for i in $(seq 0 $((NODES - 1))); do wait_dbsize "$(port_of "$i")" "$KEYS" 300; done
t1=$(now_ms)
echo "preload: $KEYS keys of $DATA bytes through 127.0.0.1:$LEADER in $((t1 - t0)) ms; DBSIZE $KEYS on every node"
# A first snapshot outside the measurements: the log no longer holds the preload, and the
# fresh keyspace's pages have been through one fork already (as in a node that ran a while).
t0=$(now_ms)
for i in $(seq 0 $((NODES - 1))); do
  r=$(cli "$(port_of "$i")" CHECKPOINT)
  [ "$r" = OK ] || die "CHECKPOINT on node $i: $r"
done
echo "first snapshot (each node in turn): $(( $(now_ms) - t0 )) ms; $(info_field "$LEADER" raft_last_snapshot) on the leader"
echo

# --- (a) p99 with and without snapshots --------------------------------------------------------
snap_ports() {
  if [ "$SNAP_NODES" = leader ]; then echo "$LEADER"; return; fi
  local i
  for i in $(seq 0 $((NODES - 1))); do port_of "$i"; done
}
taken_sum() {  # total raft_snapshots_taken over the snapshotting nodes
  local p s=0
  for p in $(snap_ports); do s=$((s + $(info_field "$p" raft_snapshots_taken))); done
  echo "$s"
}
snap_loop() {  # snap_loop PORT: CHECKPOINT back to back until the stop file appears
  while [ ! -e "$WORK/stop-snap" ]; do
    redis-cli -h 127.0.0.1 -p "$1" CHECKPOINT >/dev/null 2>&1 || true
    sleep "$SNAP_PAUSE"  # CHECKPOINT returns at once when nothing new was applied (GETs)
  done
}

# Diagnostic: CHILD_SCHED=idle puts every snapshot child under SCHED_IDLE (nice: nice 19) as
# soon as it appears, to show how much of the cost is the children's CPU competing with serving.
child_sched_loop() {
  local pid f c seen=" "
  while [ ! -e "$WORK/stop-snap" ]; do
    for pid in "${PIDS[@]}"; do
      for f in /proc/"$pid"/task/*/children; do
        read -r -a kids <"$f" 2>/dev/null || true
        for c in "${kids[@]}"; do
          case "$seen" in *" $c "*) continue ;; esac
          seen="$seen$c "
          if [ "$CHILD_SCHED" = idle ]; then chrt --idle -p 0 "$c" 2>/dev/null || true
          else renice -n 19 -p "$c" >/dev/null 2>&1 || true; fi
        done
      done
    done
    sleep 0.01
  done
}
# Per node: minor faults (copy-on-write copies in a parent while a child runs), CPU of the node
# and of its reaped children (the snapshot writers), in clock ticks.
proc_stats() {  # proc_stats: "minflt_leader cpu_parents cpu_children"
  local i st f m=0 cp=0 cc=0
  for i in $(seq 0 $((NODES - 1))); do
    st=$(<"/proc/${PIDS[$i]}/stat")
    read -r -a f <<<"${st##*) }"  # fields from 3 (state) on
    [ "$(port_of "$i")" = "$LEADER" ] && m=${f[7]}
    cp=$((cp + f[11] + f[12]))
    cc=$((cc + f[13] + f[14]))
  done
  echo "$m $cp $cc"
}
STATS="$WORK/stats"       # "<phase> <seconds> <leader minflt> <parents cpu s> <children cpu s>"
: >"$STATS"
RESULTS="$WORK/results"   # "<phase> <TEST> <rps> <p50> <p99> <max>"
SNAPS="$WORK/snaps"       # "<rep> <taken> <busy%>"
: >"$RESULTS"
: >"$SNAPS"
run_phase() {  # run_phase none|snap REP
  local phase=$1 rep=$2 before after p t_start t_end s0 s1 ms0
  wait_no_snapshot
  s0=$(proc_stats)
  ms0=$(now_ms)
  if [ "$phase" = snap ]; then
    rm -f "$WORK/stop-snap"
    before=$(taken_sum)
    if [ -n "${CHILD_SCHED:-}" ]; then child_sched_loop & LOOP_PIDS+=($!); fi
    for p in $(snap_ports); do snap_loop "$p" & LOOP_PIDS+=($!); done
    sleep 0.3  # the first forks happen before the load starts
  fi
  t_start=$(date -u '+%Y-%m-%d %H:%M:%S.%3N')
  redis-benchmark -h 127.0.0.1 -p "$LEADER" -t "$TESTS" -c "$CLIENTS" -n "$REQUESTS" -d "$DATA" \
    -r "$KEYS" -P 1 --csv 2>/dev/null |
    awk -F'"' -v ph="$phase" 'NR > 1 && $2 != "" { print ph, $2, $4, $10, $14, $16 }' >>"$RESULTS"
  t_end=$(date -u '+%Y-%m-%d %H:%M:%S.%3N')
  if [ "$phase" = snap ]; then
    touch "$WORK/stop-snap"
    for p in "${LOOP_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    LOOP_PIDS=()
    wait_no_snapshot
    after=$(taken_sum)
    echo "$rep $((after - before)) $t_start $t_end" >>"$SNAPS"
    printf '  rep %s: %s snapshots during the snap phase; last per node:' "$rep" $((after - before))
    for p in $(snap_ports); do printf ' %s' "$(info_field "$p" raft_last_snapshot)"; done
    echo
  fi
  s1=$(proc_stats)
  python3 -c 'import sys, os
a, b = [list(map(int, x.split())) for x in sys.argv[3:5]]
hz = os.sysconf("SC_CLK_TCK")
print(sys.argv[1], (int(sys.argv[2])) / 1000, b[0] - a[0], (b[1] - a[1]) / hz, (b[2] - a[2]) / hz)' \
    "$phase" $(($(now_ms) - ms0)) "$s0" "$s1" >>"$STATS"
}
echo "phases (none = no snapshot, snap = CHECKPOINT back to back on $SNAP_NODES node(s)):"
for rep in $(seq "$REPS"); do
  if [ $((rep % 2)) = 1 ]; then order="none snap"; else order="snap none"; fi
  for phase in $order; do run_phase "$phase" "$rep"; done
done
echo

# Fork and child times from the node logs ("snapshot at index ... done: ..., fork F ms, child C
# ms"), and how much of each snap phase had a snapshot running somewhere.
python3 - "$RESULTS" "$SNAPS" "$TARGET" "${STRICT:-0}" "$WORK" "$NODES" "$STATS" <<'PY'
import glob, re, statistics, sys
from collections import defaultdict
from datetime import datetime
results, snaps, target, strict, work, nodes, stats = sys.argv[1:8]
target = float(target)
runs = defaultdict(list)
for line in open(results):
    phase, test, rps, p50, p99, mx = line.split()
    runs[(phase, test)].append((float(rps), float(p50), float(p99), float(mx)))

def ts(s):
    return datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f")
windows = []
for line in open(snaps):
    f = line.split()
    windows.append((int(f[1]), ts(f[2] + " " + f[3]), ts(f[4] + " " + f[5])))
# Log lines start with a timestamp; pair "started" and "done" per node.
stamp = re.compile(r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)")
forks, childs, intervals = [], [], []
for path in sorted(glob.glob(f"{work}/raftd-*.log")):
    start = None
    for line in open(path, errors="replace"):
        m = stamp.search(line)
        if not m:
            continue
        t = datetime.fromisoformat(m.group(1).replace("T", " "))
        if "snapshot at index" in line and "started" in line:
            start = t
        d = re.search(r"snapshot at index \d+ term \d+ done: \d+ bytes, fork ([\d.]+) ms, child ([\d.]+) ms", line)
        if d:
            in_window = any(w0 <= t <= w1 for _, w0, w1 in windows)
            if in_window:
                forks.append(float(d.group(1)))
                childs.append(float(d.group(2)))
            if start is not None:
                intervals.append((start, t))
            start = None
def busy(w0, w1):  # fraction of [w0, w1] with at least one snapshot running on some node
    cut = sorted((max(a, w0), min(b, w1)) for a, b in intervals if b > w0 and a < w1)
    total, cur0, cur1 = 0.0, None, None
    for a, b in cut:
        if cur1 is None or a > cur1:
            if cur1 is not None:
                total += (cur1 - cur0).total_seconds()
            cur0, cur1 = a, b
        else:
            cur1 = max(cur1, b)
    if cur1 is not None:
        total += (cur1 - cur0).total_seconds()
    return total / max((w1 - w0).total_seconds(), 1e-9)
for i, (n, w0, w1) in enumerate(windows):
    print(f"snap phase {i + 1}: {n} snapshots, one running {100 * busy(w0, w1):.0f}% of the "
          f"{(w1 - w0).total_seconds():.1f} s benchmark")
if forks:
    q = lambda v: f"median {statistics.median(v):.1f} / max {max(v):.1f}"
    print(f"snapshots in snap phases (from the node logs): {len(forks)}; fork ms {q(forks)}; "
          f"child write ms {q(childs)}")
for phase in ("none", "snap"):
    rows = [l.split()[1:] for l in open(stats) if l.split()[0] == phase]
    if not rows:
        continue
    secs = sum(float(r[0]) for r in rows)
    print(f"{phase}: {secs:.0f} s in all; leader minor faults {sum(int(r[1]) for r in rows) / secs:.0f}/s; "
          f"CPU of the {nodes} nodes {sum(float(r[2]) for r in rows) / secs:.2f} cores, of their "
          f"snapshot children {sum(float(r[3]) for r in rows) / secs:.2f} cores")
print()

def med(key, i):
    return statistics.median(r[i] for r in runs[key])
print(f"{'test':<6} {'phase':<6} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}   runs (p99)")
missed = []
for test in sorted({k[1] for k in runs}):
    for phase in ("none", "snap"):
        k = (phase, test)
        if not runs[k]:
            continue
        print(f"{test:<6} {phase:<6} {med(k, 0):>9.0f} {med(k, 1):>8.3f} {med(k, 2):>8.3f} "
              f"{med(k, 3):>8.3f}   {' '.join(f'{r[2]:.3f}' for r in runs[k])}")
    if runs[("none", test)] and runs[("snap", test)]:
        ratio = med(("snap", test), 2) / med(("none", test), 2)
        verdict = "PASS" if ratio <= target else "NOT MET"
        if ratio > target:
            missed.append(test)
        print(f"{test:<6} p99 snap/none = {ratio:.2f} (target <= {target:g}): {verdict}")
print()
print(f"(a) p99 with snapshots within {target:g}x of without: " +
      ("PASS" if not missed else f"NOT MET on {', '.join(missed)}"))
if missed and strict == "1":
    sys.exit(1)
PY
echo

# --- (b) restart from the newest snapshot plus the log after it ---------------------------------
wait_no_snapshot
for i in $(seq 0 $((NODES - 1))); do
  r=$(cli "$(port_of "$i")" CHECKPOINT)
  [ "$r" = OK ] || die "CHECKPOINT on node $i: $r"
done
preload "$LEADER" "extra:" 0 "$EXTRA"
EXPECT=$((KEYS + EXTRA))
for i in $(seq 0 $((NODES - 1))); do wait_dbsize "$(port_of "$i")" "$EXPECT" 120; done
echo "restart: $KEYS keys snapshotted, then $EXTRA more keys ($(( (EXTRA + 99) / 100 )) MSETs) left in the log:"
for i in $(seq 0 $((NODES - 1))); do
  p=$(port_of "$i")
  echo "  node $i: snapshot index $(info_field "$p" raft_snapshot_index), log first $(info_field "$p" raft_log_first_index) last $(info_field "$p" raft_last_log_index), applied $(info_field "$p" raft_last_applied_index)"
done
t0=$(now_ms)
for i in $(seq 0 $((NODES - 1))); do kill -TERM "${PIDS[$i]}"; done
for i in $(seq 0 $((NODES - 1))); do stop_node "$i"; done
echo "  stop (SIGTERM to all, until all exited): $(( $(now_ms) - t0 )) ms"
# Fresh node logs from here (the earlier ones stay, renamed, for KEEP=1).
for i in $(seq 0 $((NODES - 1))); do mv "$WORK/raftd-$i.log" "$WORK/phases-raftd-$i.log"; done

t0=$(now_ms)
for i in $(seq 0 $((NODES - 1))); do start_node "$i"; done
declare -A answered=()
while [ ${#answered[@]} -lt $NODES ]; do
  for i in $(seq 0 $((NODES - 1))); do
    [ -n "${answered[$i]:-}" ] && continue
    kill -0 "${PIDS[$i]}" 2>/dev/null || { cat "$WORK/raftd-$i.log" >&2; die "node $i exited at restart"; }
    [ "$(cli "$(port_of "$i")" PING)" = PONG ] && answered[$i]=$(( $(now_ms) - t0 ))
  done
  [ $(( $(now_ms) - t0 )) -gt 120000 ] && die "nodes did not answer within 120 s of the restart"
  sleep 0.02
done
t_all=$(( $(now_ms) - t0 ))
LEADER=$(find_leader)
t_leader=$(( $(now_ms) - t0 ))
wait_dbsize "$LEADER" "$EXPECT" 120
t_ready=$(( $(now_ms) - t0 ))
echo "  cluster restart (all 3 at once, on $(nproc) cores): every node answers PING after $t_all ms;" \
  "leader 127.0.0.1:$LEADER after $t_leader ms; leader DBSIZE $EXPECT after $t_ready ms"
for i in $(seq 0 $((NODES - 1))); do
  line=$(grep -m1 "loaded snapshot" "$WORK/raftd-$i.log" || echo "(no 'loaded snapshot' line)")
  echo "    node $i: PING after ${answered[$i]} ms; ${line#*loaded }"
done
for i in $(seq 0 $((NODES - 1))); do wait_dbsize "$(port_of "$i")" "$EXPECT" 120; done

# One node alone (a follower; the others serve): its own load and ready time.
F=""
for i in $(seq 0 $((NODES - 1))); do [ "$(port_of "$i")" != "$LEADER" ] && { F=$i; break; }; done
stop_node "$F"
mv "$WORK/raftd-$F.log" "$WORK/cluster-restart-raftd-$F.log"
t0=$(now_ms)
start_node "$F"
wait_ping "$(port_of "$F")" 120
t_ping=$(( $(now_ms) - t0 ))
wait_dbsize "$(port_of "$F")" "$EXPECT" 120
t_ready=$(( $(now_ms) - t0 ))
line=$(grep -m1 "loaded snapshot" "$WORK/raftd-$F.log" || echo "(no 'loaded snapshot' line)")
echo "  one follower (node $F) restarted alone: ${line#*loaded }"
echo "    answers PING after $t_ping ms; DBSIZE $EXPECT (linearizable, caught up) after $t_ready ms"
echo
echo "host:   load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
