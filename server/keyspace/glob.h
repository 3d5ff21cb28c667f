// Glob-style matching with exactly Redis's stringmatchlen() semantics (KEYS, SCAN MATCH, and
// available to CONFIG GET and friends): '*', '?', '[abc]', '[^abc]', '[a-z]' (reversed ranges
// allowed), '\' escapes, an unterminated '[' set, and the same nesting limit against abusive
// patterns. Binary safe.
#pragma once

#include <string_view>

namespace raftd {

bool glob_match(std::string_view pattern, std::string_view str, bool nocase = false);

}  // namespace raftd
