// resp::Parser against Redis 7.0's processInputBuffer behaviour. Every case is checked fed
// whole, split in two at every byte boundary, and byte by byte; each parse() call sees a
// freshly allocated, exact-size copy of the caller's buffer, so ASan flags any pointer the
// parser keeps across calls and any read past the bytes it was given.
#include "resp/parser.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using resp::Command;
using resp::Limits;
using resp::Parser;
using resp::ParseStatus;
using Args = std::vector<std::string>;

using namespace std::string_literals;

struct Outcome {
  std::vector<Args> commands;
  ParseStatus last = ParseStatus::kNeedMore;  // how the final parse() ended: kNeedMore/kError
  std::string error;                          // Parser::error() when last == kError
  std::size_t leftover = 0;                   // bytes the caller still holds (kNeedMore)

  bool same_commands(const Outcome& o) const {
    return commands == o.commands && last == o.last && error == o.error;
  }
  bool operator==(const Outcome& o) const { return same_commands(o) && leftover == o.leftover; }
};

std::string show(std::string_view s) {
  std::string r;
  for (unsigned char c : s) {
    if (c == '\r') {
      r += "\\r";
    } else if (c == '\n') {
      r += "\\n";
    } else if (c < 32 || c >= 127) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      r += hex;
    } else {
      r += static_cast<char>(c);
    }
  }
  return r;
}

std::string show(const Outcome& o) {
  std::string r = "{";
  for (const Args& cmd : o.commands) {
    r += "[";
    for (const std::string& a : cmd) r += "\"" + show(a) + "\" ";
    r += "] ";
  }
  r += o.last == ParseStatus::kError ? "error: " + o.error : "need more";
  r += ", leftover " + std::to_string(o.leftover) + "}";
  return r;
}

// Acts like a connection's read loop: append each piece, then parse until kNeedMore,
// dropping `consumed` bytes after each command. Stops at the first error. With
// drop_skipped=false it ignores `consumed` on kNeedMore (skipped blank lines), which the
// contract allows too.
Outcome feed(const std::vector<std::string_view>& pieces, const Limits& limits = {},
             bool drop_skipped = true) {
  Parser parser(limits);
  Command cmd;
  Outcome out;
  std::string pending;
  for (std::string_view piece : pieces) {
    pending.append(piece);
    for (;;) {
      auto copy = std::make_unique<char[]>(pending.size());
      if (!pending.empty()) std::memcpy(copy.get(), pending.data(), pending.size());
      const ParseStatus st = parser.parse(std::string_view(copy.get(), pending.size()), cmd);
      REQUIRE(cmd.consumed <= pending.size());
      if (st == ParseStatus::kOk) {
        REQUIRE(!cmd.args.empty());
        REQUIRE(cmd.consumed > 0);
        out.commands.emplace_back(cmd.args.begin(), cmd.args.end());
        pending.erase(0, cmd.consumed);
        continue;
      }
      REQUIRE(cmd.args.empty());
      if (st == ParseStatus::kError) {
        REQUIRE(cmd.consumed == 0);
        out.last = ParseStatus::kError;
        out.error = std::string(parser.error());
        REQUIRE(parser.error_reply() == "ERR " + out.error);
        // The error is sticky until reset().
        REQUIRE(parser.parse(std::string_view(copy.get(), pending.size()), cmd) ==
                ParseStatus::kError);
        REQUIRE(parser.error() == out.error);
        return out;
      }
      if (drop_skipped) pending.erase(0, cmd.consumed);
      break;
    }
  }
  out.leftover = pending.size();
  return out;
}

// Whole, every two-piece split, and byte by byte must all give `want`.
void check(std::string_view input, const Outcome& want, const Limits& limits = {}) {
  INFO("input: " << show(input));
  const Outcome whole = feed({input}, limits);
  INFO("want:  " << show(want));
  INFO("whole: " << show(whole));
  REQUIRE(whole == want);
  for (std::size_t k = 1; k < input.size(); ++k) {
    const Outcome split = feed({input.substr(0, k), input.substr(k)}, limits);
    INFO("split at " << k << ": " << show(split));
    REQUIRE(split == want);
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  const Outcome dribble = feed(bytes, limits);
  INFO("byte by byte: " << show(dribble));
  REQUIRE(dribble == want);
  // A caller that never drops skipped blank lines on kNeedMore gets the same commands.
  const Outcome keep = feed({input}, limits, false);
  INFO("whole, skipped bytes kept: " << show(keep));
  REQUIRE(keep.same_commands(want));
  const Outcome keep_dribble = feed(bytes, limits, false);
  INFO("byte by byte, skipped bytes kept: " << show(keep_dribble));
  REQUIRE(keep_dribble.same_commands(want));
}

Outcome ok(std::vector<Args> commands, std::size_t leftover = 0) {
  Outcome o;
  o.commands = std::move(commands);
  o.leftover = leftover;
  return o;
}

// Nothing complete; the whole input is an incomplete command the caller keeps.
Outcome waiting(std::string_view input) {
  return ok({}, input.size());
}

Outcome err(std::string text, std::vector<Args> before = {}) {
  Outcome o;
  o.commands = std::move(before);
  o.last = ParseStatus::kError;
  o.error = std::move(text);
  return o;
}

// One complete command: every proper prefix alone is kNeedMore, the whole is one kOk that
// consumes everything.
void check_one(std::string_view input, const Args& want, const Limits& limits = {}) {
  INFO("input: " << show(input));
  for (std::size_t k = 0; k < input.size(); ++k) {
    Parser parser(limits);
    Command cmd;
    std::string buf(input.substr(0, k));
    REQUIRE(parser.parse(buf, cmd) == ParseStatus::kNeedMore);
    buf.assign(input);  // may reallocate: the parser must keep offsets only
    REQUIRE(parser.parse(buf, cmd) == ParseStatus::kOk);
    REQUIRE(cmd.consumed == input.size());
    REQUIRE(Args(cmd.args.begin(), cmd.args.end()) == want);
  }
  check(input, ok({want}), limits);
}

std::string multibulk(const Args& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

constexpr const char* kInvalidMbulk = "Protocol error: invalid multibulk length";
constexpr const char* kInvalidBulk = "Protocol error: invalid bulk length";
constexpr const char* kUnbalanced = "Protocol error: unbalanced quotes in request";
constexpr const char* kTooBigInline = "Protocol error: too big inline request";
constexpr const char* kTooBigMbulk = "Protocol error: too big mbulk count string";
constexpr const char* kTooBigBulk = "Protocol error: too big bulk count string";

Limits small_limits() {
  Limits l;
  l.max_bulk_len = 10;
  l.max_multibulk_len = 3;
  l.max_inline_len = 16;
  return l;
}

}  // namespace

TEST_CASE("multibulk commands", "[resp][parser]") {
  check_one("*1\r\n$4\r\nPING\r\n", {"PING"});
  check_one("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", {"SET", "key", "value"});
  check_one("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", {"ECHO", ""});
  check_one(multibulk({"set", "k", std::string(300, 'v')}), {"set", "k", std::string(300, 'v')});
}

TEST_CASE("bulk strings are binary safe", "[resp][parser]") {
  const std::string payload = "a\r\nb\r\n\0c*1\r\n$\n"s;
  check_one(multibulk({"SET", "k\r\n", payload}), {"SET", "k\r\n", payload});
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  check_one(multibulk({"ECHO", all_bytes}), {"ECHO", all_bytes});
}

TEST_CASE("multibulk arguments are views into the caller's buffer", "[resp][parser]") {
  const std::string buf = multibulk({"SET", "key", "value"});
  Parser parser;
  Command cmd;
  REQUIRE(parser.parse(buf, cmd) == ParseStatus::kOk);
  REQUIRE(cmd.args.size() == 3);
  for (std::string_view a : cmd.args) {
    REQUIRE(a.data() >= buf.data());
    REQUIRE(a.data() + a.size() <= buf.data() + buf.size());
  }
  REQUIRE(cmd.args[2].data() == buf.data() + buf.find("value"));
}

TEST_CASE("the two bytes after a header's \\r and after a payload are not checked",
          "[resp][parser]") {
  // Redis skips them blindly (verified against redis-server 7.0: "*1\rX$4\rXPING\r\n" PONGs).
  check_one("*1\rX$4\rXPING\r\n", {"PING"});
  check_one("*1\r\n$4\r\nPINGxy", {"PING"});
}

TEST_CASE("empty arrays and negative counts are skipped", "[resp][parser]") {
  check("*0\r\n", ok({}));
  check("*-1\r\n", ok({}));
  // protocol.tcl "Negative multibulk length".
  check("*-10\r\n*1\r\n$4\r\nPING\r\n", ok({{"PING"}}));
  check("*0\r\n*-1\r\n*-9223372036854775808\r\nPING\r\n", ok({{"PING"}}));
  // Skipped bytes are reported consumed with kNeedMore, or with the next command.
  const std::string buf = "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\nrest";
  Parser parser;
  Command cmd;
  REQUIRE(parser.parse(std::string_view(buf).substr(0, 9), cmd) == ParseStatus::kNeedMore);
  REQUIRE(cmd.consumed == 9);
  REQUIRE(parser.parse(std::string_view(buf).substr(9), cmd) == ParseStatus::kOk);
  REQUIRE(cmd.consumed == 14);
  Parser keeper;
  REQUIRE(keeper.parse(std::string_view(buf).substr(0, 9), cmd) == ParseStatus::kNeedMore);
  REQUIRE(keeper.parse(buf, cmd) == ParseStatus::kOk);  // the caller kept the 9 bytes
  REQUIRE(cmd.consumed == buf.size() - 4);
  // Skipped in front of an incomplete command: dropped, and the command still completes.
  Parser p2;
  REQUIRE(p2.parse("\r\n\n*1\r\n$4\r\nPI", cmd) == ParseStatus::kNeedMore);
  REQUIRE(cmd.consumed == 3);
  REQUIRE(p2.parse("*1\r\n$4\r\nPING\r\n", cmd) == ParseStatus::kOk);
  REQUIRE(cmd.args == std::vector<std::string_view>{"PING"});
  REQUIRE(cmd.consumed == 14);
}

TEST_CASE("inline commands", "[resp][parser]") {
  check_one("PING\r\n", {"PING"});
  check_one("PING\n", {"PING"});
  check_one("set key value\n", {"set", "key", "value"});
  check_one("  SET \t key\t\tvalue   \r\n", {"SET", "key", "value"});
  // A '\r' inside the line separates words; only the one right before '\n' is dropped.
  check_one("a\rb\r\n", {"a", "b"});
  check_one("PING\r\r\n", {"PING"});
  // \v and \f are skipped between words but do not end a word (sdssplitargs).
  check_one("a\vb \fc\n", {"a\vb", "c"});
  // Binary-safe: a NUL is an ordinary byte of a word (Redis would never see the '\n').
  check_one("ECHO a\0b\n"s, {"ECHO", "a\0b"s});
  // '$' or ':' first means inline, not a RESP type.
  check_one("$4\r\n", {"$4"});
}

TEST_CASE("inline quoting follows sdssplitargs", "[resp][parser]") {
  // Expected values were checked against redis-server 7.0 (RPUSH L <line>; LRANGE L 0 -1).
  check_one("ECHO \"b c\"\r\n", {"ECHO", "b c"});
  check_one("ECHO \"x\\x41\\x4\" z\n", {"ECHO", "xAx4", "z"});
  check_one("ECHO \"\\x4g\" \"\\xZZ\" \"\\x7e\\x7E\\x00\"\n", {"ECHO", "x4g", "xZZ", "~~\0"s});
  check_one("ECHO \"a\\nb\\q\"\n", {"ECHO", "a\nbq"});
  check_one("ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\"\n", {"ECHO", "\n\r\t\b\a\\\""});
  check_one("ECHO 'it\\'s' '\\n' '\"'\n", {"ECHO", "it's", "\\n", "\""});
  check_one("ECHO foo\"bar baz\"\n", {"ECHO", "foobar baz"});
  check_one("ECHO it\"s x\"\n", {"ECHO", "its x"});
  check_one("ECHO \"\" ''\n", {"ECHO", "", ""});
  check_one("ECHO \"a\"\vb\n", {"ECHO", "a", "b"});
  check_one("ECHO \"a\"\tb\r\n", {"ECHO", "a", "b"});
  check_one("ECHO \"a\"\n", {"ECHO", "a"});
}

TEST_CASE("inline words without quotes are views into the caller's buffer", "[resp][parser]") {
  const std::string buf = "SET key \"quoted value\" tail\r\n";
  Parser parser;
  Command cmd;
  REQUIRE(parser.parse(buf, cmd) == ParseStatus::kOk);
  REQUIRE(cmd.args.size() == 4);
  REQUIRE(cmd.args[0].data() == buf.data());
  REQUIRE(cmd.args[1].data() == buf.data() + 4);
  REQUIRE(cmd.args[2] == "quoted value");
  REQUIRE(cmd.args[3].data() == buf.data() + buf.find("tail"));
}

TEST_CASE("unbalanced quotes", "[resp][parser]") {
  // protocol.tcl "Unbalanced number of quotes".
  check("set \"\"\"test-key\"\"\" test-value\r\nping\r\n", err(kUnbalanced));
  check("ECHO \"abc\r\n", err(kUnbalanced));
  check("ECHO 'abc\n", err(kUnbalanced));
  check("ECHO \"abc\\\r\n", err(kUnbalanced));  // a trailing backslash escapes nothing
  check("ECHO \"a\"b\n", err(kUnbalanced));     // closing quote not followed by a blank
  check("ECHO 'a'b\n", err(kUnbalanced));
  check("ECHO 'a\\'\n", err(kUnbalanced));
  check("ECHO it's'x y'\n", err(kUnbalanced));  // the closing ' is followed by 'x'
  check("PING\r\nECHO \"x\n", err(kUnbalanced, {{"PING"}}));
}

TEST_CASE("empty inline lines are skipped", "[resp][parser]") {
  // protocol.tcl "Handle an empty query".
  check("\r\nPING\r\n", ok({{"PING"}}));
  check("\n\n   \r\n\t\n\r\r\nPING\n", ok({{"PING"}}));
  check("\r\n", ok({}));
  check("  \t", waiting("  \t"));
  check("\n\n*1\r\n", ok({}, 4));  // the skipped newlines are dropped, the header is kept
}

TEST_CASE("pipelined commands in one buffer", "[resp][parser]") {
  std::string input;
  std::vector<Args> want;
  for (int i = 0; i < 4; ++i) {
    const Args set = {"SET", "key:" + std::to_string(i), std::string(i * 7, 'x')};
    input += multibulk(set);
    want.push_back(set);
    input += "GET key:" + std::to_string(i) + "\r\n";
    want.push_back({"GET", "key:" + std::to_string(i)});
    input += "\r\n*0\r\n";
  }
  // A partial command stays with the caller; the skipped "\r\n*0\r\n" before it do not.
  const std::string partial = "*2\r\n$3\r\nGET\r\n$2\r\nk";
  input += partial;
  check(input, ok(want, partial.size()));

  // A long pipeline fed in arbitrary 7-byte pieces.
  std::string many;
  std::vector<Args> all;
  for (int i = 0; i < 1000; ++i) {
    all.push_back({"SET", "k" + std::to_string(i), std::to_string(i * i)});
    many += multibulk(all.back());
  }
  std::vector<std::string_view> pieces;
  for (std::size_t i = 0; i < many.size(); i += 7)
    pieces.push_back(std::string_view(many).substr(i, 7));
  REQUIRE(feed(pieces) == ok(all));
  REQUIRE(feed({many}) == ok(all));
}

TEST_CASE("many arguments", "[resp][parser]") {
  // protocol.tcl "test large number of args": MSET with 20002 arguments.
  Args args = {"MSET"};
  for (int i = 0; i < 10000; ++i) {
    args.push_back("k");
    args.push_back("v");
  }
  args.push_back("{k}2");
  args.push_back("v2");
  const std::string input = multibulk(args);
  REQUIRE(feed({input}) == ok({args}));
  std::vector<std::string_view> pieces;
  for (std::size_t i = 0; i < input.size(); i += 1000)
    pieces.push_back(std::string_view(input).substr(i, 1000));
  REQUIRE(feed(pieces) == ok({args}));
}

TEST_CASE("multibulk count errors", "[resp][parser]") {
  // protocol.tcl "Out of range multibulk length".
  check("*3000000000\r\n", err(kInvalidMbulk));
  check("*2147483648\r\n", err(kInvalidMbulk));          // Redis 7: above INT_MAX
  check("*2147483647\r\n", waiting("*2147483647\r\n"));  // INT_MAX itself is accepted
  // string2ll's rules, verified against redis-server 7.0.
  for (const char* bad : {"*\r\n", "*-0\r\n", "*01\r\n", "*+1\r\n", "*1x\r\n", "* 1\r\n", "*-\r\n",
                          "*123456789012345678901\r\n", "*99999999999999999999\r\n",
                          "*-9223372036854775809\r\n", "*1\n\r\n"}) {
    check(bad, err(kInvalidMbulk));
  }
  check("*1xPING\r\n", err(kInvalidMbulk));
}

TEST_CASE("multibulk element errors", "[resp][parser]") {
  // protocol.tcl "Wrong multibulk payload header".
  check("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", err("Protocol error: expected '$', got 'f'", {}));
  // protocol.tcl "Multi bulk request not followed by bulk arguments".
  check("*1\r\nfoo\r\n", err("Protocol error: expected '$', got 'f'"));
  check("*1\r\n:1\r\n", err("Protocol error: expected '$', got ':'"));
  // \r and \n become spaces, so the error reply stays one line (redis-server 7.0 does this).
  check("*1\r\n\r\r\n", err("Protocol error: expected '$', got ' '"));
  check("*1\r\n\n\r\n", err("Protocol error: expected '$', got ' '"));
  check("*1\r\n\0\r\n"s, err("Protocol error: expected '$', got ' '"));
  // The element prefix is only judged once its line is complete.
  check("*1\r\nfoo", waiting("*1\r\nfoo"));
  // protocol.tcl "Negative / Out of range / Non-number multibulk payload length".
  check("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", err(kInvalidBulk));
  check("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n", err(kInvalidBulk));
  check("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n", err(kInvalidBulk));
  for (const char* bad : {"*1\r\n$\r\n", "*1\r\n$-0\r\n", "*1\r\n$01\r\n", "*1\r\n$-1\r\n",
                          "*1\r\n$+1\r\n", "*1\r\n$1 \r\n"}) {
    check(bad, err(kInvalidBulk));
  }
  // proto-max-bulk-len defaults to 512 MB: at the limit waits for the payload, above fails.
  check("*1\r\n$536870912\r\n", waiting("*1\r\n$536870912\r\n"));
  check("*1\r\n$536870913\r\n", err(kInvalidBulk));
  // Earlier complete commands are still delivered before the error.
  check("PING\r\n*1\r\n$x\r\n", err(kInvalidBulk, {{"PING"}}));
}

TEST_CASE("configured limits", "[resp][parser]") {
  const Limits l = small_limits();
  check_one("*3\r\n$1\r\na\r\n$10\r\n0123456789\r\n$0\r\n\r\n", {"a", "0123456789", ""}, l);
  check("*1\r\n$11\r\n", err(kInvalidBulk), l);
  check("*4\r\n", err(kInvalidMbulk), l);
  check("*-4\r\n", ok({}), l);

  // Inline: the line before '\n' (a '\r' included) may be max_inline_len bytes long.
  check_one("0123456789abcdef\n", {"0123456789abcdef"}, l);
  check_one("0123456789abcde\r\n", {"0123456789abcde"}, l);
  check("0123456789abcdef\r\n", err(kTooBigInline), l);
  check("0123456789abcdefg\n", err(kTooBigInline), l);
  check("0123456789abcdef", waiting("0123456789abcdef"), l);  // still waiting at the limit
  check("0123456789abcdefg", err(kTooBigInline), l);          // no '\n' yet, already too long
  check("PING\n0123456789abcdefg", err(kTooBigInline, {{"PING"}}), l);

  // Header lines: the bytes before '\r' may be max_inline_len long.
  check("*000000000000001\r\n", err(kInvalidMbulk), l);  // 16 bytes: judged on its value
  check("*0000000000000001\r\n", err(kTooBigMbulk), l);  // 17 bytes
  check("*000000000000001", waiting("*000000000000001"), l);
  check("*0000000000000001", err(kTooBigMbulk), l);
  check("*1\r\n$000000000000001\r\n", err(kInvalidBulk), l);  // 16 bytes
  check("*1\r\n$0000000000000001\r\n", err(kTooBigBulk), l);  // 17 bytes
  check("*1\r\n$000000000000001", waiting("*1\r\n$000000000000001"), l);
  check("*1\r\n$0000000000000001", err(kTooBigBulk), l);
  // The size cap applies before the element's first byte is judged.
  check("*1\r\nXXXXXXXXXXXXXXXXX", err(kTooBigBulk), l);
  check("*1\r\nXXXXXXXXXXXXXXXX", waiting("*1\r\nXXXXXXXXXXXXXXXX"), l);
}

TEST_CASE("default 64 KB line limits and protocol desync", "[resp][parser]") {
  // protocol.tcl "Protocol desync regression test #1..3": after "\x00", "*\x00" or "$\x00"
  // the client streams 1 KB lines of junk; the server must give up, not buffer forever.
  const std::string junk_line = std::string(1024, 'A') + "\n";
  const std::string junk = std::string(1024, 'A');
  const std::pair<std::string, const char*> cases[] = {
      {"\0"s, kTooBigInline}, {"*\0"s, kTooBigMbulk}, {"$\0"s, kTooBigInline}};
  for (const auto& [seq, text] : cases) {
    std::vector<std::string_view> pieces = {seq};
    for (int i = 0; i < 70; ++i) pieces.push_back(seq[0] == '*' ? junk_line : junk);
    INFO("sequence " << show(seq));
    REQUIRE(feed(pieces) == err(text));
  }
  const std::size_t max = 64 * 1024;
  REQUIRE(feed({std::string(max, 'a')}) == ok({}, max));
  REQUIRE(feed({std::string(max + 1, 'a')}) == err(kTooBigInline));
  REQUIRE(feed({std::string(max - 1, 'a') + "\r\n"}) == ok({{std::string(max - 1, 'a')}}));
  REQUIRE(feed({std::string(max, 'a') + "\r\n"}) == err(kTooBigInline));
  REQUIRE(feed({"*" + std::string(max - 1, '1') + "\r\n"}) == err(kInvalidMbulk));
  REQUIRE(feed({"*" + std::string(max, '1')}) == err(kTooBigMbulk));
  REQUIRE(feed({"*1\r\n$" + std::string(max, '1')}) == err(kTooBigBulk));
}

TEST_CASE("a huge bulk fed in 4 KB pieces is not rescanned", "[resp][parser]") {
  // 100 MB in 25600 reads. Were the parser to rescan the buffer from its start on every call,
  // this would touch ~1.3 TB and never finish; with remembered offsets it is linear.
  const std::size_t size = 100u * 1024 * 1024;
  const std::string header = "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$" + std::to_string(size) + "\r\n";
  std::string chunk(4096, 'v');
  chunk[100] = '\r';
  chunk[101] = '\n';
  std::string pending;
  pending.reserve(header.size() + size + 64);
  Parser parser;
  Command cmd;
  pending += header;
  REQUIRE(parser.parse(pending, cmd) == ParseStatus::kNeedMore);
  std::size_t fed = 0;
  std::size_t calls = 0;
  while (fed < size) {
    const std::size_t n = std::min(chunk.size(), size - fed);
    pending.append(chunk, 0, n);
    fed += n;
    REQUIRE(parser.parse(pending, cmd) == ParseStatus::kNeedMore);
    ++calls;
  }
  REQUIRE(calls == size / 4096);
  pending += "\r\n*1\r\n$4\r\nPI";
  REQUIRE(parser.parse(pending, cmd) == ParseStatus::kOk);
  REQUIRE(cmd.consumed == header.size() + size + 2);
  REQUIRE(cmd.args.size() == 3);
  REQUIRE(cmd.args[2].size() == size);
  REQUIRE(cmd.args[2].data() == pending.data() + header.size());  // not copied
  pending.erase(0, cmd.consumed);
  REQUIRE(parser.parse(pending, cmd) == ParseStatus::kNeedMore);
  pending += "NG\r\n";
  REQUIRE(parser.parse(pending, cmd) == ParseStatus::kOk);
  REQUIRE(cmd.args == std::vector<std::string_view>{"PING"});
}

TEST_CASE("a long inline line fed byte by byte is not rescanned", "[resp][parser]") {
  const std::string line = "SET k " + std::string(60000, 'x') + "\r\n";
  Parser parser;
  Command cmd;
  std::string pending;
  for (std::size_t i = 0; i + 1 < line.size(); ++i) {
    pending.push_back(line[i]);
    REQUIRE(parser.parse(pending, cmd) == ParseStatus::kNeedMore);
  }
  pending.push_back('\n');
  REQUIRE(parser.parse(pending, cmd) == ParseStatus::kOk);
  REQUIRE(cmd.args.size() == 3);
  REQUIRE(cmd.args[2] == std::string(60000, 'x'));
}

TEST_CASE("reset forgets partial commands and errors", "[resp][parser]") {
  Parser parser;
  Command cmd;
  REQUIRE(parser.parse("*2\r\n$3\r\nGET\r\n", cmd) == ParseStatus::kNeedMore);
  parser.reset();
  REQUIRE(parser.parse("PING\r\n", cmd) == ParseStatus::kOk);
  REQUIRE(cmd.args == std::vector<std::string_view>{"PING"});

  REQUIRE(parser.parse("*x\r\n", cmd) == ParseStatus::kError);
  REQUIRE(parser.error() == kInvalidMbulk);
  REQUIRE(parser.error_reply() == "ERR Protocol error: invalid multibulk length");
  REQUIRE(parser.parse("PING\r\n", cmd) == ParseStatus::kError);
  parser.reset();
  REQUIRE(parser.error().empty());
  REQUIRE(parser.error_reply().empty());
  REQUIRE(parser.parse("PING\r\n", cmd) == ParseStatus::kOk);
}

TEST_CASE("limits are reported back", "[resp][parser]") {
  const Limits l = small_limits();
  Parser parser(l);
  REQUIRE(parser.limits().max_bulk_len == 10);
  REQUIRE(parser.limits().max_multibulk_len == 3);
  REQUIRE(parser.limits().max_inline_len == 16);
  const Limits d;
  REQUIRE(d.max_bulk_len == 512u * 1024 * 1024);
  REQUIRE(d.max_multibulk_len == 2147483647u);
  REQUIRE(d.max_inline_len == 65536u);
}
