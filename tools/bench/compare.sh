#!/usr/bin/env bash
# Throughput: raftd (one node, or a local cluster benchmarked through its leader) against
# redis-server, side by side on loopback, driven by the same redis-benchmark runs, alternating
# redis then raftd so both see the same machine state. Prints requests/s, p50 and p99 per line
# and the ratio raftd/redis.
#
# Usage: tools/bench/compare.sh      (tools/bench/single_node.sh and cluster.sh set the knobs)
# Env:   RAFTD_BIN   raftd binary (default build/bin/raftd; use a Release build)
#        NODES       raftd nodes (default 1); with more, the load goes to the leader
#        REDIS_AOF   redis-server persistence: "no" (default) or an appendfsync mode ("always")
#        RAFTD_ARGS  extra raftd flags for every node
#        REPS        repetitions per line, the median is reported (default 3)
#        REQUESTS    -n (default 200000)   CLIENTS -c (default 50)   DATA -d (default 100)
#        PIPELINES   -P values (default "1 16")   TESTS -t (default set,get)
#        TARGET      ratio every line should reach (default 0.8); STRICT=1 exits 1 if missed
#        TARGETS     per-line targets instead, e.g. "GET:1:0.8 SET:1:0.5" (test:P:ratio); lines
#                    not named are reported without a target
# Ports 22000 (redis) and 22010, 22020, ... (raftd nodes; peers on port+1).
set -euo pipefail
cd "$(dirname "$0")/../.."

RAFTD_BIN=${RAFTD_BIN:-build/bin/raftd}
REPS=${REPS:-3}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
DATA=${DATA:-100}
PIPELINES=${PIPELINES:-"1 16"}
TESTS=${TESTS:-set,get}
TARGET=${TARGET:-0.8}
NODES=${NODES:-1}
REDIS_AOF=${REDIS_AOF:-no}
REDIS_PORT=22000
RAFTD_PORT=22010

for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool not found (tools/install-deps.sh)" >&2; exit 1; }
done
[ -x "$RAFTD_BIN" ] || { echo "compare.sh: no raftd binary at $RAFTD_BIN (set RAFTD_BIN)" >&2; exit 1; }

WORK=$(mktemp -d -t raftd-bench-XXXXXX)
REDIS_PID=""
RAFTD_PIDS=()
cleanup() {
  for pid in "${RAFTD_PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_ready() {  # wait_ready PORT NAME: PING until PONG, 10 s deadline
  local deadline=$((SECONDS + 10))
  until [ "$(redis-cli -p "$1" PING 2>/dev/null)" = "PONG" ]; do
    if [ $SECONDS -ge $deadline ]; then echo "compare.sh: $2 did not start" >&2; exit 1; fi
    sleep 0.05
  done
}

if [ "$REDIS_AOF" = no ]; then
  redis_persist=(--appendonly no)
else
  redis_persist=(--appendonly yes --appendfsync "$REDIS_AOF")
fi
redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" "${redis_persist[@]}" --dir "$WORK" \
  --logfile "$WORK/redis.log" &
REDIS_PID=$!
addrs=()
for i in $(seq 0 $((NODES - 1))); do addrs+=("127.0.0.1:$((RAFTD_PORT + 10 * i))"); done
for i in $(seq 0 $((NODES - 1))); do
  others=$(printf "%s\n" "${addrs[@]}" | { grep -vx "${addrs[$i]}" || true; } | paste -sd, -)
  # shellcheck disable=SC2086
  "$RAFTD_BIN" -a "${addrs[$i]}" ${others:+-e "$others"} -d "$WORK/raftd-$i" --log-level warn \
    --log-file "$WORK/raftd-$i.log" ${RAFTD_ARGS:-} &
  RAFTD_PIDS+=($!)
done
wait_ready $REDIS_PORT redis-server
for a in "${addrs[@]}"; do wait_ready "${a##*:}" "raftd ${a}"; done
# The load goes to the leader: where writes commit and linearizable reads are confirmed.
deadline=$((SECONDS + 20))
until leader=$(redis-cli -p $RAFTD_PORT INFO raft 2>/dev/null | tr -d '\r' |
               sed -n 's/^raft_leader_addr:\(.\+\)$/\1/p') && [ -n "$leader" ]; do
  [ $SECONDS -ge $deadline ] && { echo "compare.sh: no raftd leader" >&2; exit 1; }
  sleep 0.1
done
RAFTD_PORT=${leader##*:}

echo "raftd:  $RAFTD_BIN ($("$RAFTD_BIN" --version))"
echo "raftd:  $NODES node(s), load on the leader 127.0.0.1:$RAFTD_PORT ${RAFTD_ARGS:-}"
echo "redis:  $(redis-server --version | cut -d' ' -f3)  (--save \"\" ${redis_persist[*]})"
echo "load:   redis-benchmark -t $TESTS -c $CLIENTS -n $REQUESTS -d $DATA -P {$PIPELINES}, $REPS reps, median"
echo

# results: one line per run: "<target> <P> <TEST> <rps> <p50> <p99>"
RESULTS="$WORK/results"
: > "$RESULTS"
for P in $PIPELINES; do
  for rep in $(seq "$REPS"); do
    for target in redis raftd; do
      port=$REDIS_PORT
      [ "$target" = raftd ] && port=$RAFTD_PORT
      redis-benchmark -h 127.0.0.1 -p "$port" -t "$TESTS" -c "$CLIENTS" -n "$REQUESTS" \
        -d "$DATA" -P "$P" --csv 2>/dev/null |
        awk -F'"' -v t="$target" -v p="$P" \
          'NR > 1 && $2 != "" { printf "%s %s %s %s %s %s\n", t, p, $2, $4, $10, $14 }' >> "$RESULTS"
    done
  done
done

# Median per (target, P, test); then one line per (P, test) with the ratio.
python3 - "$RESULTS" "$TARGET" "${STRICT:-0}" "${TARGETS:-}" <<'PY'
import statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    target, p, test, rps, p50, p99 = line.split()
    runs[(target, int(p), test)].append((float(rps), float(p50), float(p99)))
target_ratio, strict = float(sys.argv[2]), sys.argv[3] == "1"
targets = {}
for t in sys.argv[4].split():
    test, p, ratio = t.split(":")
    targets[(test.upper(), int(p))] = float(ratio)
def target_for(test, p):
    if not targets:
        return target_ratio
    return targets.get((test.upper(), p))
def med(key, i):
    return statistics.median(r[i] for r in runs[key])
print(f"{'line':<10} {'redis rps':>11} {'raftd rps':>11} {'ratio':>6}   "
      f"{'redis p50/p99 ms':>17} {'raftd p50/p99 ms':>17}")
missed = []
for p, test in sorted({(k[1], k[2]) for k in runs}):
    r, f = ("redis", p, test), ("raftd", p, test)
    if not runs[r] or not runs[f]:
        continue
    ratio = med(f, 0) / med(r, 0)
    want = target_for(test, p)
    if want is not None and ratio < want:
        missed.append(f"{test} -P {p} ({ratio:.2f} < {want})")
    print(f"{test + ' -P ' + str(p):<10} {med(r, 0):>11.0f} {med(f, 0):>11.0f} {ratio:>6.2f}   "
          f"{med(r, 1):>8.3f}/{med(r, 2):<8.3f} {med(f, 1):>8.3f}/{med(f, 2):<8.3f}")
print()
what = (", ".join(f"{t} -P {p} >= {r}" for (t, p), r in sorted(targets.items()))
        if targets else f"{target_ratio} on every line")
if missed:
    print(f"targets ({what}): NOT met on {', '.join(missed)}")
    sys.exit(1 if strict else 0)
print(f"targets ({what}): met")
PY
