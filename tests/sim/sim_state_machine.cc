#include "tests/sim/sim_state_machine.h"

#include <cstring>
#include <utility>

#include "tests/sim/entry_hash.h"

namespace raftsim {

namespace {

constexpr std::uint32_t kMagic = 0x52534d31;  // "RSM1"

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_str(std::string& out, std::string_view s) {
  put_u64(out, s.size());
  out.append(s);
}

std::uint64_t checksum(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return mix64(h);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u64(std::uint64_t& v) {
    if (in_.size() - pos_ < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) {
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in_[pos_ + i])) << (8 * i);
    }
    pos_ += 8;
    return true;
  }
  bool str(std::string& s) {
    std::uint64_t n = 0;
    if (!u64(n) || in_.size() - pos_ < n) return false;
    s.assign(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace

SimStateMachine::SimStateMachine(raft::ConfState conf)
    : hash_(kEmptyPrefixHash), conf_(std::move(conf)) {}

bool SimStateMachine::apply(const raft::Entry& e) {
  if (e.type == raft::EntryType::kConfChange) {
    const std::optional<raft::ConfChange> cc = raft::decode_conf_change(e.data);
    if (!cc) return false;
    // Entries written by the core record the membership they result in; that record is what a
    // host applies (raft/types.h). The plain encoding is a delta.
    std::optional<raft::ConfState> recorded = raft::decode_conf_state(e.data);
    conf_ = recorded ? std::move(*recorded) : raft::apply_conf_change(conf_, *cc);
  } else if (!e.data.empty()) {
    const std::size_t eq = e.data.find('=');
    if (eq == std::string::npos) {
      kv_[e.data] = "";
    } else {
      kv_[e.data.substr(0, eq)] = e.data.substr(eq + 1);
    }
  }
  applied_ = e.index;
  applied_term_ = e.term;
  hash_ = chain_hash(hash_, e);
  return true;
}

std::string SimStateMachine::serialize() const {
  std::string out;
  put_u64(out, kMagic);
  put_u64(out, applied_);
  put_u64(out, applied_term_);
  put_u64(out, hash_);
  put_u64(out, conf_.voters.size());
  for (raft::NodeId id : conf_.voters) put_u64(out, id);
  put_u64(out, conf_.learners.size());
  for (raft::NodeId id : conf_.learners) put_u64(out, id);
  put_u64(out, kv_.size());
  for (const auto& [k, v] : kv_) {
    put_str(out, k);
    put_str(out, v);
  }
  put_u64(out, checksum(out));
  return out;
}

std::optional<SimStateMachine> SimStateMachine::parse(std::string_view body) {
  if (body.size() < 8) return std::nullopt;
  const std::string_view payload = body.substr(0, body.size() - 8);
  Reader tail(body.substr(body.size() - 8));
  std::uint64_t sum = 0;
  if (!tail.u64(sum) || sum != checksum(payload)) return std::nullopt;

  Reader r(payload);
  SimStateMachine sm;
  std::uint64_t magic = 0, n = 0;
  if (!r.u64(magic) || magic != kMagic) return std::nullopt;
  if (!r.u64(sm.applied_) || !r.u64(sm.applied_term_) || !r.u64(sm.hash_)) return std::nullopt;
  for (std::vector<raft::NodeId>* list : {&sm.conf_.voters, &sm.conf_.learners}) {
    if (!r.u64(n) || n > 1024) return std::nullopt;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint64_t id = 0;
      if (!r.u64(id)) return std::nullopt;
      list->push_back(id);
    }
  }
  if (!r.u64(n)) return std::nullopt;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!r.str(k) || !r.str(v)) return std::nullopt;
    sm.kv_[std::move(k)] = std::move(v);
  }
  if (!r.done()) return std::nullopt;
  return sm;
}

}  // namespace raftsim
