#!/usr/bin/env bash
# Single node: raftd (its own Raft log, fsynced before every reply) against redis-server with
# the same durability (appendonly yes, appendfsync always: what the target, 0.8 on every line,
# is measured against) and, in the same run, redis-server without persistence, so the cost of
# durability itself shows beside raftd's ratio. REDIS_AOF="no" alone compares with redis
# without persistence only; see compare.sh for every knob.
exec env NODES=1 REDIS_AOF="${REDIS_AOF:-always no}" "$(dirname "$0")/compare.sh" "$@"
