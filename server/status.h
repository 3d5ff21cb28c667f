// The one error vocabulary of server/: an expected failure is a Status (ok, or a message) or a
// Result<T> (a value, or the Status saying why there is none), never an optional string, a bool
// with an out-string, or "" meaning success. They are storage's types, so a failure read from
// the data directory travels up unchanged.
#pragma once

#include "storage/status.h"

namespace raftd {

using storage::Result;
using storage::Status;

}  // namespace raftd
