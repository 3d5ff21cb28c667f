#!/usr/bin/env bash
# Single node: raftd (its own Raft log, fsynced per batch) against redis-server without
# persistence (the foundation's baseline, what the targets compare with) and, in the same run,
# redis-server with appendfsync always (the same durability as raftd), so the cost of
# durability itself shows beside raftd's ratio. REDIS_AOF=no alone skips the second; see
# compare.sh for every knob.
exec env NODES=1 REDIS_AOF="${REDIS_AOF:-no always}" "$(dirname "$0")/compare.sh" "$@"
