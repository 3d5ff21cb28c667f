#include "tools/lincheck/checker.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include "tools/lincheck/register_model.h"

namespace raftd::lincheck {
namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Replaces, in the written arguments, every integer that no reply can reveal by one abstract
// value. An integer v is never revealed when neither v nor any v + j that INCRs could make of
// it (j up to the number of INCRs on the key) is a reply of a GET, GETSET or INCR. Such values
// behave alike under every command (they exist, they are integers, and any reply made of them
// matches nothing recorded), so merging them changes no verdict. It lets the search treat
// unknown writes of unread values as interchangeable, and makes writing one over another a
// no-op; without it a few dozen pending unknown writes make the search exponential.
void abstract_unread_values(std::vector<Op>& ops) {
  std::set<std::int64_t> seen;
  std::int64_t incrs = 0;
  for (const Op& op : ops) {
    if (op.kind == OpKind::kIncr) ++incrs;
    if (op.outcome != Outcome::kOk) continue;
    if (op.reply.kind == Reply::Kind::kInt && op.kind == OpKind::kIncr)
      seen.insert(op.reply.integer);
    if (op.reply.kind == Reply::Kind::kValue && op.reply.value.kind == Value::Kind::kInt) {
      seen.insert(op.reply.value.bits);
    }
  }
  for (Op& op : ops) {
    bool writes = op.kind == OpKind::kSet || op.kind == OpKind::kSetNx ||
                  op.kind == OpKind::kSetXx || op.kind == OpKind::kGetSet;
    if (!writes || op.arg.kind != Value::Kind::kInt) continue;
    std::int64_t v = op.arg.bits;
    if (v > std::numeric_limits<std::int64_t>::max() - incrs - 1) continue;  // INCR could overflow
    auto it = seen.lower_bound(v);
    if (it != seen.end() && *it <= v + incrs) continue;
    op.arg = Value::unread();
  }
}

// Lowe's search state for one key. Entries (calls and returns) sit in a doubly linked list in
// time order; linearizing an op lifts its entries out, backtracking puts them back. The first
// return entry left in the list bounds which ops may take effect next: every op whose call comes
// before it. An unknown op has a return entry only at the quiesce time; reaching it means the
// op must now be dropped (it never took effect).
class Search {
 public:
  Search(const History& h, std::vector<const Op*> ops, std::vector<const Op*> failed,
         const CheckOptions& opt)
      : h_(h), ops_(std::move(ops)), failed_(std::move(failed)), opt_(opt) {
    // In invoke order, the ops done in any configuration are nearly a prefix (see Compact).
    std::stable_sort(ops_.begin(), ops_.end(),
                     [](const Op* a, const Op* b) { return a->invoke_ns < b->invoke_ns; });
    for (const Op* op : ops_) model_.push_back(*op);
    abstract_unread_values(model_);
  }

  Verdict run(KeyReport& report);

 private:
  struct Entry {
    int op;
    bool is_call;
    std::int64_t time;
  };
  struct Frame {
    int move_op;  // the op linearized or dropped to get here; -1 at the root
    bool dropped;
    Value prev_state;
    Value prev_concrete;
    std::size_t cand_begin, cand_next, cand_end;  // candidate ops in cands_
    int block;  // first return entry in the list (tail_ when none)
    bool drop_tried;
  };
  // A configuration's done ops, compactly: every acknowledged op below `prefix` is done (the
  // search moves through the history in time order, so that is nearly all of them), plus the
  // acknowledged ops above it that are done, plus every done unknown op. A few words instead of
  // a bitset over the whole history, so long histories fit many more failed configurations.
  struct Compact {
    std::uint32_t prefix = 0;
    std::vector<std::uint32_t> ok_above, unknown;  // sorted op indices
  };
  struct Stored {
    Value state;
    std::uint32_t prefix;
    std::size_t offset;               // of ok_above then unknown in arena_
    std::uint32_t ok_above, unknown;  // their lengths
  };

  bool is_ok(int op) const { return ops_[op]->outcome == Outcome::kOk; }
  void build();
  void lift(int op);
  void unlift(int op);
  void push_frame(int move_op, bool dropped, Value prev_state);
  bool dominated(std::uint64_t key);
  void compact(Compact& c) const;
  void remember_failure();
  bool try_enter(int op, bool dropped, Value next_state);
  bool blind(int op) const;
  bool same_unknown(int a, int b) const;
  bool redundant_unknown(int op) const;
  void explain_deepest();
  std::string hints() const;

  const History& h_;
  std::vector<const Op*> ops_;     // as recorded, for reports
  std::vector<Op> model_;          // the same ops with unread values abstracted, for the search
  std::vector<const Op*> failed_;  // left out of the search; named in hints
  CheckOptions opt_;

  std::vector<Entry> entries_;
  std::vector<int> call_of_, ret_of_;  // per op: entry indices (-1: no return entry)
  std::vector<int> prev_, next_;       // list links; head_ and tail_ are sentinels
  int head_ = 0, tail_ = 0;

  std::vector<std::uint64_t> zobrist_;
  std::vector<std::uint64_t> done_;  // bitset over ops: linearized or dropped
  std::uint64_t ok_hash_ = 0;        // xor of zobrist_ over done acknowledged ops
  Value state_;
  // The same value with the recorded arguments, for reports: state_ may be the abstract value.
  Value concrete_;
  std::size_t ok_left_ = 0;

  std::vector<Frame> frames_;
  std::vector<int> cands_;

  // Configurations proven to fail, by (done acknowledged ops, state). A configuration is also
  // hopeless when a failed one has the same acknowledged ops and state and a subset of its
  // unknown ops done: the failed one could have done or skipped those unknown ops at will.
  std::unordered_map<std::uint64_t, std::vector<Stored>> dead_;
  std::vector<std::uint32_t> arena_;
  std::size_t stored_ = 0;
  std::vector<std::uint64_t> ok_mask_;  // bitset of the acknowledged ops
  std::vector<std::uint32_t> unknown_ops_;
  Compact scratch_;

  std::size_t total_ok_ = 0;
  std::size_t best_depth_ = 0;
  bool have_best_ = false;
  std::string explanation_;
  std::int64_t t0_ = 0;
};

void Search::build() {
  const int n = static_cast<int>(ops_.size());
  call_of_.assign(n, -1);
  ret_of_.assign(n, -1);
  for (int i = 0; i < n; ++i) {
    const Op& op = *ops_[i];
    entries_.push_back({i, true, op.invoke_ns});
    if (op.outcome == Outcome::kOk) {
      entries_.push_back({i, false, op.complete_ns});
    } else if (h_.quiesce_ns && op.invoke_ns < *h_.quiesce_ns) {
      entries_.push_back({i, false, *h_.quiesce_ns});
    }
  }
  // At equal times calls go first: such ops count as concurrent, which only allows more orders.
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.is_call != b.is_call) return a.is_call;
    return a.op < b.op;
  });
  const int e = static_cast<int>(entries_.size());
  head_ = e;
  tail_ = e + 1;
  prev_.assign(e + 2, -1);
  next_.assign(e + 2, -1);
  int last = head_;
  for (int i = 0; i < e; ++i) {
    next_[last] = i;
    prev_[i] = last;
    last = i;
    (entries_[i].is_call ? call_of_ : ret_of_)[entries_[i].op] = i;
  }
  next_[last] = tail_;
  prev_[tail_] = last;

  zobrist_.resize(n);
  for (int i = 0; i < n; ++i) zobrist_[i] = splitmix64(static_cast<std::uint64_t>(i) + 1);
  done_.assign((n + 63) / 64, 0);
  ok_mask_.assign(done_.size(), 0);
  for (int i = 0; i < n; ++i) {
    if (is_ok(i)) {
      ++ok_left_;
      ok_mask_[i / 64] |= 1ULL << (i % 64);
    } else {
      unknown_ops_.push_back(static_cast<std::uint32_t>(i));
    }
  }
  t0_ = ops_.empty() ? 0 : ops_.front()->invoke_ns;
  for (const Op* op : ops_) t0_ = std::min(t0_, op->invoke_ns);
}

void Search::lift(int op) {
  for (int x : {call_of_[op], ret_of_[op]}) {
    if (x < 0) continue;
    next_[prev_[x]] = next_[x];
    prev_[next_[x]] = prev_[x];
  }
}

void Search::unlift(int op) {
  // Dancing links: put entries back in the reverse order of their removal.
  for (int x : {ret_of_[op], call_of_[op]}) {
    if (x < 0) continue;
    next_[prev_[x]] = x;
    prev_[next_[x]] = x;
  }
}

void Search::push_frame(int move_op, bool dropped, Value prev_state) {
  Frame f{move_op, dropped, prev_state, concrete_, cands_.size(), cands_.size(), 0, tail_, false};
  // Acknowledged ops first: an order that skips the unknown ops, if one works, is found before
  // the search tries them, and failures without them prune the same failures with them.
  int x = next_[head_];
  for (; x != tail_ && entries_[x].is_call; x = next_[x]) {
    if (is_ok(entries_[x].op)) cands_.push_back(entries_[x].op);
  }
  f.block = x;
  // Two pending unknown ops with the same command and argument are interchangeable: once both
  // have been invoked, whatever one can do from here the other can. Offer only the first.
  const std::size_t first_unknown = cands_.size();
  for (int y = next_[head_]; y != x; y = next_[y]) {
    int op = entries_[y].op;
    if (is_ok(op)) continue;
    bool twin = false;
    for (std::size_t i = first_unknown; i < cands_.size() && !twin; ++i) {
      twin = same_unknown(cands_[i], op);
    }
    if (!twin) cands_.push_back(op);
  }
  f.cand_end = cands_.size();
  frames_.push_back(f);
}

void Search::compact(Compact& c) const {
  const std::size_t words = done_.size();
  std::size_t w = 0;
  while (w < words && (ok_mask_[w] & ~done_[w]) == 0) ++w;
  c.prefix = w == words
                 ? static_cast<std::uint32_t>(ops_.size())
                 : static_cast<std::uint32_t>(w * 64 + __builtin_ctzll(ok_mask_[w] & ~done_[w]));
  c.ok_above.clear();
  for (; w < words; ++w) {
    std::uint64_t bits = done_[w] & ok_mask_[w];
    while (bits) {
      c.ok_above.push_back(static_cast<std::uint32_t>(w * 64 + __builtin_ctzll(bits)));
      bits &= bits - 1;
    }
  }
  c.unknown.clear();
  for (std::uint32_t op : unknown_ops_) {
    if (done_[op / 64] & (1ULL << (op % 64))) c.unknown.push_back(op);
  }
}

bool Search::dominated(std::uint64_t key) {
  auto it = dead_.find(key);
  if (it == dead_.end()) return false;
  compact(scratch_);
  const Compact& cur = scratch_;
  for (const Stored& s : it->second) {
    // Same acknowledged ops, same value, and a subset of our unknown ops.
    if (!(s.state == state_) || s.prefix != cur.prefix || s.ok_above != cur.ok_above.size() ||
        s.unknown > cur.unknown.size()) {
      continue;
    }
    const std::uint32_t* okx = arena_.data() + s.offset;
    if (!std::equal(okx, okx + s.ok_above, cur.ok_above.begin())) continue;
    const std::uint32_t* u = okx + s.ok_above;
    if (std::includes(cur.unknown.begin(), cur.unknown.end(), u, u + s.unknown)) return true;
  }
  return false;
}

void Search::remember_failure() {
  std::uint64_t key = ok_hash_ ^ state_.hash();
  compact(scratch_);
  Stored s{state_, scratch_.prefix, arena_.size(),
           static_cast<std::uint32_t>(scratch_.ok_above.size()),
           static_cast<std::uint32_t>(scratch_.unknown.size())};
  arena_.insert(arena_.end(), scratch_.ok_above.begin(), scratch_.ok_above.end());
  arena_.insert(arena_.end(), scratch_.unknown.begin(), scratch_.unknown.end());
  dead_[key].push_back(s);
  ++stored_;
}

bool Search::try_enter(int op, bool dropped, Value next_state) {
  const std::size_t w = static_cast<std::size_t>(op) / 64;
  const std::uint64_t bit = 1ULL << (op % 64);
  const bool ok = is_ok(op);
  done_[w] |= bit;
  if (ok) ok_hash_ ^= zobrist_[op];
  Value prev = state_;
  state_ = next_state;
  if (dominated(ok_hash_ ^ state_.hash())) {
    state_ = prev;
    done_[w] &= ~bit;
    if (ok) ok_hash_ ^= zobrist_[op];
    return false;
  }
  lift(op);
  if (ok) --ok_left_;
  push_frame(op, dropped, prev);
  if (!dropped) concrete_ = apply(concrete_, *ops_[op]).next;
  return true;
}

bool Search::blind(int op) const {
  // Unknown ops' replies were never seen, so these set the value whatever it was.
  OpKind k = model_[op].kind;
  return k == OpKind::kSet || k == OpKind::kGetSet || k == OpKind::kDel;
}

bool Search::same_unknown(int a, int b) const {
  const Op &x = model_[a], &y = model_[b];
  return x.kind == y.kind && x.arg == y.arg && (ret_of_[a] < 0) == (ret_of_[b] < 0);
}

bool Search::redundant_unknown(int op) const {
  const Frame& f = frames_.back();
  // Unknown op A, then a blind unknown op B at once, ends where B alone from the parent frame
  // ends, with A still free to happen later or never: that configuration dominates this one,
  // and the parent tries it (B was pending there too). Without this, k pending unknown writes
  // give k * 2^(k-1) configurations at every point of the history.
  if (frames_.size() >= 2 && f.move_op >= 0 && !f.dropped && !is_ok(f.move_op) && blind(op)) {
    const Frame& parent = frames_[frames_.size() - 2];
    if (call_of_[op] < parent.block) return true;
  }
  return false;
}

std::string Search::hints() const {
  // A read of a value that no op ever wrote is the plainest kind of violation; say so.
  std::set<std::pair<int, std::int64_t>> written, written_by_failed;
  bool unknown_incr = false;
  auto as_pair = [](Value v) { return std::make_pair(static_cast<int>(v.kind), v.bits); };
  auto writes = [](const Op& op) {
    return op.kind == OpKind::kSet || op.kind == OpKind::kSetNx || op.kind == OpKind::kSetXx ||
           op.kind == OpKind::kGetSet;
  };
  for (const Op* op : ops_) {
    if (writes(*op)) written.insert(as_pair(op->arg));
    if (op->kind == OpKind::kIncr) {
      if (op->outcome == Outcome::kUnknown) unknown_incr = true;
      if (op->reply.kind == Reply::Kind::kInt) {
        written.insert(as_pair(Value::integer(op->reply.integer)));
      }
    }
  }
  for (const Op* op : failed_) {
    if (writes(*op)) written_by_failed.insert(as_pair(op->arg));
  }
  std::string out;
  int shown = 0;
  for (const Op* op : ops_) {
    if (op->outcome != Outcome::kOk || op->reply.kind != Reply::Kind::kValue) continue;
    Value v = op->reply.value;
    if (written.count(as_pair(v)) || (unknown_incr && v.kind == Value::Kind::kInt)) continue;
    if (++shown > 5) break;
    out += fmt::format(
        "  hint: {} read {}, which {}\n", describe(*op, h_.values, t0_), h_.values.show(v),
        written_by_failed.count(as_pair(v)) ? "only ops that failed (certainly not applied) wrote"
                                            : "no op ever wrote");
  }
  return out;
}

void Search::explain_deepest() {
  const Frame& top = frames_.back();
  std::string& e = explanation_;
  e = fmt::format("  only {} of {} acknowledged ops fit in one order; the last steps of it:\n",
                  best_depth_, total_ok_);
  std::size_t first = frames_.size() > 12 ? frames_.size() - 12 : 1;
  for (std::size_t i = first; i < frames_.size(); ++i) {
    const Frame& f = frames_[i];
    e += fmt::format("    {} {}\n", f.dropped ? "left out (never applied):" : "took effect:",
                     describe(*ops_[f.move_op], h_.values, t0_));
  }
  e += fmt::format("  then the value is {}", h_.values.show(concrete_));
  if (top.block != tail_ && is_ok(entries_[top.block].op)) {
    e += fmt::format(", and this op must take effect before its reply:\n    {}\n",
                     describe(*ops_[entries_[top.block].op], h_.values, t0_));
  } else {
    e += "\n";
  }
  e += "  but none of the ops that could come next works:\n";
  int shown = 0;
  for (std::size_t i = top.cand_begin; i < top.cand_end; ++i) {
    if (++shown > 20) {
      e += fmt::format("    ... and {} more\n", top.cand_end - i);
      break;
    }
    const Op& op = model_[cands_[i]];
    e += "    " + describe(*ops_[cands_[i]], h_.values, t0_) + ": ";
    e += step(state_, op) ? "fits, but then the rest cannot be ordered"
                          : mismatch(concrete_, *ops_[cands_[i]], h_.values);
    e += "\n";
  }
  if (top.cand_begin == top.cand_end) e += "    (none: no other op had been invoked yet)\n";
}

Verdict Search::run(KeyReport& report) {
  build();
  const auto start = std::chrono::steady_clock::now();
  const std::size_t total_ok = total_ok_ = ok_left_;
  push_frame(-1, false, state_);
  std::uint64_t steps = 0;
  Verdict verdict = Verdict::kUndecided;
  std::string deepest;  // where the search got stuck, if it gives up
  while (true) {
    if (ok_left_ == 0) {
      verdict = Verdict::kLinearizable;
      break;
    }
    if ((++steps & 4095) == 0) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::size_t bytes = arena_.size() * 4 + stored_ * (sizeof(Stored) + 16);
      if (steps > opt_.max_steps || secs > opt_.max_seconds || bytes > opt_.max_cache_bytes) {
        deepest = explanation_;
        explanation_ = fmt::format(
            "gave up after {} configurations, {:.1f} s, {} MB of cache (limits: {}, {} s, {} MB); "
            "the deepest order found placed {} of {} acknowledged ops{}\n",
            steps, secs, bytes >> 20, opt_.max_steps, opt_.max_seconds, opt_.max_cache_bytes >> 20,
            best_depth_, total_ok, deepest.empty() ? "" : ":");
        break;
      }
    }
    Frame& f = frames_.back();
    if (f.cand_next < f.cand_end) {
      int op = cands_[f.cand_next++];
      if (!is_ok(op) && redundant_unknown(op)) continue;
      auto next = step(state_, model_[op]);
      // An unknown op that changes nothing here (DEL of a missing key, SET NX of an existing
      // one) leads where staying put leads, minus the freedom to apply it later: skip it.
      if (!next || (!is_ok(op) && *next == state_)) continue;
      try_enter(op, false, *next);
      continue;
    }
    if (!f.drop_tried && f.block != tail_ && !is_ok(entries_[f.block].op)) {
      // The quiesce point of an unknown op that was not placed before it: it never happened.
      f.drop_tried = true;
      try_enter(entries_[f.block].op, true, state_);
      continue;
    }
    // Every way on from here failed.
    std::size_t depth = total_ok - ok_left_;
    if (!have_best_ || depth > best_depth_) {
      have_best_ = true;
      best_depth_ = depth;
      explain_deepest();
    }
    remember_failure();
    if (frames_.size() == 1) {
      verdict = Verdict::kViolation;
      break;
    }
    Frame done = frames_.back();
    frames_.pop_back();
    cands_.resize(done.cand_begin);
    unlift(done.move_op);
    state_ = done.prev_state;
    concrete_ = done.prev_concrete;
    done_[done.move_op / 64] &= ~(1ULL << (done.move_op % 64));
    if (is_ok(done.move_op)) {
      ok_hash_ ^= zobrist_[done.move_op];
      ++ok_left_;
    }
  }
  report.steps = steps;
  report.cached = stored_;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (verdict == Verdict::kViolation) report.explanation = explanation_ + hints();
  if (verdict == Verdict::kUndecided) report.explanation = explanation_ + deepest;
  return verdict;
}

}  // namespace

std::string_view verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kLinearizable:
      return "linearizable";
    case Verdict::kViolation:
      return "NOT linearizable";
    case Verdict::kUndecided:
      return "undecided";
  }
  return "?";
}

KeyReport check_key(const History& h, const std::vector<std::size_t>& op_indices,
                    const CheckOptions& opt) {
  KeyReport r;
  std::vector<const Op*> ops, failed;
  for (std::size_t i : op_indices) {
    const Op& op = h.ops[i];
    r.key = op.key;
    if (op.outcome == Outcome::kFail) {
      ++r.failed_ops;
      failed.push_back(&op);
    } else if (op.outcome == Outcome::kUnknown && op.kind == OpKind::kGet) {
      ++r.dropped_reads;
    } else {
      ++(op.outcome == Outcome::kOk ? r.ok_ops : r.unknown_ops);
      ops.push_back(&op);
    }
  }
  Search search(h, std::move(ops), std::move(failed), opt);
  r.verdict = search.run(r);
  return r;
}

Report check_history(const History& h, const CheckOptions& opt) {
  std::map<std::string, std::vector<std::size_t>> by_key;
  for (std::size_t i = 0; i < h.ops.size(); ++i) by_key[h.ops[i].key].push_back(i);
  Report report;
  for (const auto& [key, idx] : by_key) {
    report.keys.push_back(check_key(h, idx, opt));
    Verdict v = report.keys.back().verdict;
    if (v == Verdict::kViolation ||
        (v == Verdict::kUndecided && report.verdict == Verdict::kLinearizable)) {
      report.verdict = v;
    }
  }
  return report;
}

}  // namespace raftd::lincheck
