#!/usr/bin/env bash
# Throughput: raftd (one node, or a local cluster benchmarked through its leader) against
# redis-server, side by side on loopback, driven by the same redis-benchmark runs, alternating
# redis then raftd so both see the same machine state. Prints requests/s, p50 and p99 per line
# and the ratio raftd/redis.
#
# Usage: tools/bench/compare.sh      (tools/bench/single_node.sh and cluster.sh set the knobs)
# Env:   RAFTD_BIN   raftd binary (default build/bin/raftd; use a Release build); several,
#                    space-separated ("old/raftd build/bin/raftd"), start one cluster each,
#                    all measured in the same run (raftd1, raftd2, ...: before/after figures)
#        NODES       raftd nodes (default 1); with more, the load goes to the leader
#        REDIS_AOF   redis-server persistence: "no" (default) or an appendfsync mode ("always");
#                    several ("no always") start one redis-server each, all measured in the
#                    same run; targets apply to the ratio against the first
#        RAFTD_ARGS  extra raftd flags for every node
#        REPS        repetitions per line, the median is reported (default 3)
#        REQUESTS    -n (default 200000)   CLIENTS -c (default 50)   DATA -d (default 100)
#        KEYSPACE    -r (default 100000: random keys over a 100k keyspace, as users have; 0:
#                    no -r, every request on one key, as figures before 2026-12-07)
#        PIPELINES   -P values (default "1 16")   TESTS -t (default set,get)
#        TARGET      ratio every line should reach (default 0.8); STRICT=1 exits 1 if missed
#        TARGETS     per-line targets instead, e.g. "GET:1:0.8 SET:1:0.5" (test:P:ratio); lines
#                    not named are reported without a target
# Ports 22000, 22001, ... (redis) and 22010, 22020, ... (raftd nodes; peers on port+1; the
# second binary's cluster at 22110, 22120, ...).
set -euo pipefail
cd "$(dirname "$0")/../.."

RAFTD_BIN=${RAFTD_BIN:-build/bin/raftd}
REPS=${REPS:-3}
REQUESTS=${REQUESTS:-200000}
KEYSPACE=${KEYSPACE:-100000}
KEYSPACE_ARGS=()
[ "$KEYSPACE" != 0 ] && KEYSPACE_ARGS=(-r "$KEYSPACE")
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
read -r -a RAFTD_BINS <<<"$RAFTD_BIN"
for bin in "${RAFTD_BINS[@]}"; do
  [ -x "$bin" ] || { echo "compare.sh: no raftd binary at $bin (set RAFTD_BIN)" >&2; exit 1; }
done

WORK=$(mktemp -d -t raftd-bench-XXXXXX)
REDIS_PIDS=()
RAFTD_PIDS=()
cleanup() {
  for pid in "${RAFTD_PIDS[@]}" "${REDIS_PIDS[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
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

# One redis-server per persistence mode: name "redis" for no persistence, "redis-MODE" else.
REDIS_NAMES=()
REDIS_PORTS=()
port=$REDIS_PORT
for mode in $REDIS_AOF; do
  if [ "$mode" = no ]; then
    name=redis
    persist=(--appendonly no)
  else
    name=redis-$mode
    persist=(--appendonly yes --appendfsync "$mode")
  fi
  mkdir -p "$WORK/$name"
  redis-server --port "$port" --bind 127.0.0.1 --save "" "${persist[@]}" --dir "$WORK/$name" \
    --logfile "$WORK/$name.log" &
  REDIS_PIDS+=($!)
  REDIS_NAMES+=("$name")
  REDIS_PORTS+=("$port")
  port=$((port + 1))
done
for i in "${!REDIS_PORTS[@]}"; do wait_ready "${REDIS_PORTS[$i]}" "${REDIS_NAMES[$i]}"; done

# One cluster per raftd binary: name "raftd" for one binary, "raftd1", "raftd2", ... for several.
RAFTD_NAMES=()
RAFTD_LEADER_PORTS=()
RAFTD_LEADER_PIDS=()
declare -A RAFTD_NODE_PIDS  # name -> the pids of all its nodes
for j in "${!RAFTD_BINS[@]}"; do
  bin=${RAFTD_BINS[$j]}
  name=raftd
  [ ${#RAFTD_BINS[@]} -gt 1 ] && name=raftd$((j + 1))
  base=$((RAFTD_PORT + 100 * j))
  addrs=()
  pids=()
  for i in $(seq 0 $((NODES - 1))); do addrs+=("127.0.0.1:$((base + 10 * i))"); done
  for i in $(seq 0 $((NODES - 1))); do
    others=$(printf "%s\n" "${addrs[@]}" | { grep -vx "${addrs[$i]}" || true; } | paste -sd, -)
    # shellcheck disable=SC2086
    "$bin" -a "${addrs[$i]}" ${others:+-e "$others"} -d "$WORK/$name-$i" --log-level warn \
      --log-file "$WORK/$name-$i.log" ${RAFTD_ARGS:-} &
    RAFTD_PIDS+=($!)
    pids+=($!)
  done
  for a in "${addrs[@]}"; do wait_ready "${a##*:}" "$name ${a}"; done
  # The load goes to the leader: where writes commit and linearizable reads are confirmed.
  deadline=$((SECONDS + 20))
  until leader=$(redis-cli -p "$base" INFO raft 2>/dev/null | tr -d '\r' |
                 sed -n 's/^raft_leader_addr:\(.\+\)$/\1/p') && [ -n "$leader" ]; do
    [ $SECONDS -ge $deadline ] && { echo "compare.sh: no $name leader" >&2; exit 1; }
    sleep 0.1
  done
  leader_pid=
  for i in "${!addrs[@]}"; do [ "${addrs[$i]}" = "$leader" ] && leader_pid=${pids[$i]}; done
  [ -n "$leader_pid" ] || leader_pid=${pids[0]}
  RAFTD_NAMES+=("$name")
  RAFTD_LEADER_PORTS+=("${leader##*:}")
  RAFTD_LEADER_PIDS+=("$leader_pid")
  RAFTD_NODE_PIDS[$name]="${pids[*]}"
  echo "$(printf '%-7s' "$name:") $bin ($("$bin" --version)); $NODES node(s), load on the leader $leader ${RAFTD_ARGS:-}"
done

for name in "${REDIS_NAMES[@]}"; do
  case $name in
    redis) persist="--appendonly no" ;;
    *) persist="--appendonly yes --appendfsync ${name#redis-}" ;;
  esac
  echo "$(printf '%-7s' "$name:") $(redis-server --version | cut -d' ' -f3)  (--save \"\" $persist)"
done
echo "load:   redis-benchmark -t {$TESTS} -c $CLIENTS -n $REQUESTS -d $DATA ${KEYSPACE_ARGS[*]:-} -P {$PIPELINES}, $REPS reps, median"
echo "cpu:    microseconds of CPU (user+system, /proc/PID/stat) per request: redis-server; raftd's"
echo "        leader, and all raftd nodes together"
echo

# CPU ticks (user + system) a process has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
sum_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done; echo $t; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
RAFTD_TARGETS=()  # "r0", "r1", ...: the raftd clusters in the alternation below
for j in "${!RAFTD_NAMES[@]}"; do RAFTD_TARGETS+=("r$j"); done

# results: one line per run: "<target> <P> <TEST> <rps> <p50> <p99> <cpu_us/req> <all_cpu_us/req>"
RESULTS="$WORK/results"
: > "$RESULTS"
for P in $PIPELINES; do
  for rep in $(seq "$REPS"); do
    for test in ${TESTS//,/ }; do
      for i in "${!REDIS_NAMES[@]}" "${RAFTD_TARGETS[@]}"; do
        if [ "${i:0:1}" = r ]; then
          j=${i:1}
          target=${RAFTD_NAMES[$j]}
          port=${RAFTD_LEADER_PORTS[$j]}
          pids=("${RAFTD_LEADER_PIDS[$j]}")
          read -r -a all <<<"${RAFTD_NODE_PIDS[$target]}"
        else
          target=${REDIS_NAMES[$i]}
          port=${REDIS_PORTS[$i]}
          pids=("${REDIS_PIDS[$i]}")
          all=("${REDIS_PIDS[$i]}")
        fi
        before=$(sum_ticks "${pids[@]}")
        before_all=$(sum_ticks "${all[@]}")
        line=$(redis-benchmark -h 127.0.0.1 -p "$port" -t "$test" -c "$CLIENTS" -n "$REQUESTS" \
                 -d "$DATA" ${KEYSPACE_ARGS[@]+"${KEYSPACE_ARGS[@]}"} -P "$P" --csv 2>/dev/null | awk -F'"' 'NR > 1 && $2 != "" {
                 printf "%s %s %s %s\n", $2, $4, $10, $14 }' | head -1)
        cpu=$(( ($(sum_ticks "${pids[@]}") - before) * TICK_US ))
        cpu_all=$(( ($(sum_ticks "${all[@]}") - before_all) * TICK_US ))
        [ -n "$line" ] && echo "$target $P $line $(awk -v c="$cpu" -v n="$REQUESTS" 'BEGIN { printf "%.2f", c / n }') $(awk -v c="$cpu_all" -v n="$REQUESTS" 'BEGIN { printf "%.2f", c / n }')" >> "$RESULTS"
      done
    done
  done
done

# Median per (target, P, test); then one line per (P, test) with the ratio.
python3 - "$RESULTS" "$TARGET" "${STRICT:-0}" "${TARGETS:-}" "${RAFTD_NAMES[*]}" "${REDIS_NAMES[@]}" <<'PY'
import statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    target, p, test, rps, p50, p99, cpu, cpu_all = line.split()
    runs[(target, int(p), test)].append((float(rps), float(p50), float(p99), float(cpu),
                                         float(cpu_all)))
target_ratio, strict = float(sys.argv[2]), sys.argv[3] == "1"
raftds = sys.argv[5].split()
redises = sys.argv[6:]  # the first is what targets compare against
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
head = f"{'line':<10}"
for r in redises:
    head += f" {r + ' rps':>18}"
for f in raftds:
    head += f" {f + ' rps':>11}"
for f in raftds:
    for r in redises:
        head += f" {(f + '/' if len(raftds) > 1 else '/') + r:>14}"
cpu_heads = redises + [x for f in raftds for x in (f + ' leader', 'all')]
head += f"   {'cpu us/req: ' + ', '.join(cpu_heads)}"
head += f"   {'p50/p99 ms: ' + ', '.join(redises + raftds)}"
print(head)
missed = []
for p, test in sorted({(k[1], k[2]) for k in runs}):
    fs = [(f, p, test) for f in raftds]
    if any(not runs[f] for f in fs) or any(not runs[(r, p, test)] for r in redises):
        continue
    line = f"{test + ' -P ' + str(p):<10}"
    for r in redises:
        line += f" {med((r, p, test), 0):>18.0f}"
    for f in fs:
        line += f" {med(f, 0):>11.0f}"
    for f in fs:
        for n, r in enumerate(redises):
            ratio = med(f, 0) / med((r, p, test), 0)
            line += f" {ratio:>14.2f}"
            want = target_for(test, p)
            if n == 0 and want is not None and ratio < want:
                missed.append(f"{f[0]} {test} -P {p} ({ratio:.2f} < {want})")
    line += "   " + ", ".join(f"{med((t, p, test), 3):.1f}" for t in redises)
    for f in fs:
        line += f", {med(f, 3):.1f}, {med(f, 4):.1f}"
    line += "   " + ", ".join(f"{med((t, p, test), 1):.3f}/{med((t, p, test), 2):.3f}"
                              for t in redises + raftds)
    print(line)
print()
what = (", ".join(f"{t} -P {p} >= {r}" for (t, p), r in sorted(targets.items()))
        if targets else f"{target_ratio} on every line")
what += f" against {redises[0]}"
if missed:
    print(f"targets ({what}): NOT met on {', '.join(missed)}")
    sys.exit(1 if strict else 0)
print(f"targets ({what}): met")
PY
