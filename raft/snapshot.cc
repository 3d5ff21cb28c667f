// InstallSnapshot: the leader streams its storage's snapshot in chunks with a small window of
// chunks in flight; the follower hands chunks to its host and restores its log once the whole
// snapshot is durable and verified.

#include "raft/node_impl.h"

namespace raft {

void Node::Impl::handle_snapshot(const Message& m) {
  const SnapshotMeta& meta = m.snapshot;
  if (meta.index <= log.committed()) {
    // Nothing to install: tell the leader how far we are so it resumes with entries.
    Message r;
    r.type = MessageType::kAppendResp;
    r.to = m.from;
    r.term = term;
    r.index = log.committed();
    send_after_persist(std::move(r));
    return;
  }
  const bool same =
      incoming.active && incoming.meta == meta && incoming.from == m.from && incoming.term == term;
  if (!same) {
    if (m.snapshot_offset != 0) {
      // A chunk of a transfer we do not know (we restarted, or a new leader): start over.
      Message r;
      r.type = MessageType::kSnapshotResp;
      r.to = m.from;
      r.term = term;
      r.index = meta.index;
      r.snapshot_offset = 0;
      r.reject = true;
      send_after_persist(std::move(r));
      return;
    }
    incoming = Incoming{};
    incoming.active = true;
    incoming.meta = meta;
    incoming.from = m.from;
    incoming.term = term;
    incoming.total = m.snapshot_size;
    incoming.gen = next_incoming_gen++;
    pending_chunk.reset();
    logf(LogLevel::kInfo,
         "receiving snapshot %" PRIu64 "/%" PRIu64 " (%" PRIu64 " bytes) from %" PRIu64, meta.index,
         meta.term, m.snapshot_size, m.from);
  }
  incoming.ack_due = true;
  if (incoming.complete || m.snapshot_offset < incoming.expected) return;  // a duplicate
  if (m.snapshot_offset > incoming.expected) {
    incoming.gap = true;  // ask for the offset we want
    return;
  }
  if (!pending_chunk) {
    pending_chunk = SnapshotChunk{meta, incoming.expected, incoming.total, {}, false};
  }
  pending_chunk->data.append(m.snapshot_data);
  incoming.expected += m.snapshot_data.size();
  if (m.snapshot_done) {
    pending_chunk->done = true;
    incoming.complete = true;
  }
}

void Node::Impl::hand_out_snapshot_chunk(Ready& rd) {
  if (pending_chunk) {
    handed_chunks.push_back(HandedChunk{incoming.gen, pending_chunk->done, false});
    rd.snapshot_chunk = std::move(*pending_chunk);
    pending_chunk.reset();
  }
  if (!incoming.active || !incoming.ack_due) return;
  // Everything before `expected` is in this Ready or an earlier one, so once this Ready is
  // persisted the ack is true (thesis 3.8).
  Message r;
  r.type = MessageType::kSnapshotResp;
  r.to = incoming.from;
  r.term = term;
  r.index = incoming.meta.index;
  r.snapshot_offset = incoming.expected;
  r.reject = incoming.gap;
  send_after_persist(std::move(r));
  incoming.ack_due = false;
  incoming.gap = false;
}

void Node::Impl::snapshot_chunk_persisted(const Ready& rd) {
  if (!rd.snapshot_chunk) return;
  if (handed_chunks.empty()) fail("advance() of a snapshot chunk that was never handed out");
  const HandedChunk h = handed_chunks.front();
  handed_chunks.pop_front();
  // Only the transfer still being received is in the host's file: a chunk at offset 0 of a
  // newer transfer replaced it.
  if (!h.done || h.rejected || !incoming.active || incoming.gen != h.gen || !incoming.complete) {
    return;
  }
  incoming.active = false;
  finish_incoming_snapshot(incoming.meta, incoming.from);
}

void Node::Impl::reject_incoming_snapshot() {
  // The host verifies the Ready it is about to advance: the oldest done chunk handed out.
  auto it = std::find_if(handed_chunks.begin(), handed_chunks.end(),
                         [](const HandedChunk& h) { return h.done && !h.rejected; });
  if (it == handed_chunks.end()) {
    logf(LogLevel::kError, "snapshot_rejected() without a completed incoming snapshot: ignored");
    return;
  }
  it->rejected = true;
  if (!incoming.active || incoming.gen != it->gen) return;  // a newer transfer supersedes it
  logf(LogLevel::kWarn, "host rejected snapshot %" PRIu64 ": asking %" PRIu64 " again",
       incoming.meta.index, incoming.from);
  Message m;
  m.type = MessageType::kSnapshotResp;
  m.to = incoming.from;
  m.term = term;
  m.index = incoming.meta.index;
  m.snapshot_offset = 0;
  m.reject = true;
  incoming = Incoming{};
  pending_chunk.reset();
  send(std::move(m));
}

void Node::Impl::finish_incoming_snapshot(const SnapshotMeta& meta, NodeId from) {
  auto ack_append = [&](Index index) {
    Message r;
    r.type = MessageType::kAppendResp;
    r.to = from;
    r.term = term;
    r.index = index;
    send_after_persist(std::move(r));
  };
  if (meta.index <= log.committed()) {
    logf(LogLevel::kInfo, "received snapshot %" PRIu64 " is not newer than commit %" PRIu64,
         meta.index, log.committed());
    ack_append(log.committed());
    return;
  }
  if (log.match_term(meta.index, meta.term)) {
    // Our log already holds the snapshot's last entry: the entries are as good as the
    // snapshot, so just commit them (etcd does the same).
    log.commit_to(meta.index);
    ack_append(log.committed());
    return;
  }
  logf(LogLevel::kInfo, "restoring from snapshot %" PRIu64 "/%" PRIu64, meta.index, meta.term);
  log.restore(meta);
  confs.reset(meta.index, meta.conf);
  on_conf_changed();
  // The ack goes out from advance() once the host has installed it.
}

void Node::Impl::start_snapshot(NodeId to, Progress& pr) {
  const SnapshotMeta meta = storage.snapshot_meta();
  if (meta.index == 0)
    fail("follower " + std::to_string(to) +
         " needs compacted entries but "
         "storage holds no snapshot");
  pr.become_snapshot(meta.index);
  pr.snap.meta = meta;
  logf(LogLevel::kInfo,
       "sending snapshot %" PRIu64 "/%" PRIu64 " to %" PRIu64 " (its next %" PRIu64
       " is compacted)",
       meta.index, meta.term, to, pr.match + 1);
  send_snapshot_chunks(to, pr);
}

void Node::Impl::send_snapshot_chunks(NodeId to, Progress& pr) {
  if (pr.state != ProgressState::kSnapshot) return;
  const SnapshotMeta cur = storage.snapshot_meta();
  if (!(cur == pr.snap.meta)) {
    // The host took a newer snapshot; the old body is gone. Start over with the new one.
    logf(LogLevel::kInfo, "snapshot changed during transfer to %" PRIu64 ": restarting at %" PRIu64,
         to, cur.index);
    pr.pending_snapshot = cur.index;
    pr.snap = SnapshotTransfer{};
    pr.snap.meta = cur;
  }
  SnapshotTransfer& s = pr.snap;
  const std::uint64_t chunk = cfg.max_snapshot_chunk;
  const std::uint64_t window =
      s.cautious ? 1 : static_cast<std::uint64_t>(cfg.max_inflight_snapshot_chunks);
  while (!(s.started && s.next >= s.total)) {
    if (s.next - s.acked >= window * chunk) break;  // flow control: window full
    Message m;
    m.type = MessageType::kSnapshot;
    m.to = to;
    m.term = term;
    m.snapshot = s.meta;
    m.snapshot_offset = s.next;
    std::uint64_t total = 0;
    const std::size_t n = storage.snapshot_chunk(s.next, chunk, m.snapshot_data, total);
    if (s.started && total != s.total) fail("snapshot body size changed during transfer");
    s.total = total;
    s.started = true;
    if (n == 0 && s.next < total) fail("storage returned an empty snapshot chunk");
    m.snapshot_size = total;
    s.next += n;
    m.snapshot_done = s.next >= total;
    m.commit = log.committed();
    send(std::move(m));
    if (n == 0) break;
  }
}

void Node::Impl::handle_snapshot_resp(const Message& m, Progress& pr) {
  if (pr.state != ProgressState::kSnapshot || m.index != pr.snap.meta.index) return;
  SnapshotTransfer& s = pr.snap;
  s.stall_ticks = 0;
  if (m.reject) {
    // The follower wants another offset (a lost chunk, or its host rejected the file and
    // wants it again from 0). Rewind, and go one chunk at a time until it acks again so
    // that the rejections of chunks already in flight do not multiply the resends.
    logf(LogLevel::kInfo, "snapshot transfer to %" PRIu64 " rewinds to offset %" PRIu64, m.from,
         m.snapshot_offset);
    s.next = s.acked = std::min(m.snapshot_offset, s.total);
    s.started = s.next > 0;
    s.cautious = true;
  } else if (m.snapshot_offset > s.acked) {
    s.acked = std::min(m.snapshot_offset, s.total);
    s.next = std::max(s.next, s.acked);
    s.cautious = false;
  }
  send_snapshot_chunks(m.from, pr);
}

void Node::snapshot_taken(const SnapshotMeta& meta) {
  Impl& r = *impl_;
  if (meta.index > r.log.applied()) {
    r.fail("snapshot at " + std::to_string(meta.index) + " is beyond applied " +
           std::to_string(r.log.applied()));
  }
  r.confs.compact_to(std::min(meta.index, r.log.committed()));
  r.logf(LogLevel::kInfo, "snapshot taken at %" PRIu64 "/%" PRIu64 "; log starts at %" PRIu64,
         meta.index, meta.term, r.log.first_index());
}

void Node::snapshot_rejected() {
  impl_->reject_incoming_snapshot();
}

}  // namespace raft
