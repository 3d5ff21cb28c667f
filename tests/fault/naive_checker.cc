#include "tests/fault/naive_checker.h"

#include <limits>

#include "tools/lincheck/register_model.h"

namespace raftd::lincheck::test {
namespace {

struct Item {
  const Op* op;
  std::int64_t call, ret;  // ret: when it must have taken effect by
};

bool order(std::vector<Item>& items, std::vector<bool>& used, std::size_t left, Value state) {
  if (left == 0) return true;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (used[i]) continue;
    // i may go next only if no other op still to place finished before i began.
    bool allowed = true;
    for (std::size_t j = 0; j < items.size() && allowed; ++j) {
      if (!used[j] && j != i && items[j].ret < items[i].call) allowed = false;
    }
    if (!allowed) continue;
    auto next = step(state, *items[i].op);
    if (!next) continue;
    used[i] = true;
    bool ok = order(items, used, left - 1, *next);
    used[i] = false;
    if (ok) return true;
  }
  return false;
}

}  // namespace

bool naive_linearizable(const History& h, const std::vector<std::size_t>& ops) {
  constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
  std::vector<Item> acked, unknown;
  for (std::size_t i : ops) {
    const Op& op = h.ops[i];
    if (op.outcome == Outcome::kOk) {
      acked.push_back({&op, op.invoke_ns, op.complete_ns});
    } else if (op.outcome == Outcome::kUnknown) {
      bool bounded = h.quiesce_ns && op.invoke_ns < *h.quiesce_ns;
      unknown.push_back({&op, op.invoke_ns, bounded ? *h.quiesce_ns : kNever});
    }
  }
  for (std::size_t mask = 0; mask < (std::size_t{1} << unknown.size()); ++mask) {
    std::vector<Item> items = acked;
    for (std::size_t u = 0; u < unknown.size(); ++u) {
      if (mask & (std::size_t{1} << u)) items.push_back(unknown[u]);
    }
    std::vector<bool> used(items.size(), false);
    if (order(items, used, items.size(), Value::nil())) return true;
  }
  return false;
}

}  // namespace raftd::lincheck::test
