#!/usr/bin/env python3
"""Checks (or writes) the expected replies of golden scripts against a real redis-server.

A development tool, not a test: ctest never runs it, the committed golden files are the
reference. Usage:

    tests/server/redis_oracle.py golden/*.txt              compare, report differences
    tests/server/redis_oracle.py --generate golden/x.txt   rewrite the replies from Redis

It starts its own redis-server (default port 21990, within the server tests' range 21900-21999)
and FLUSHALLs before each file. "@now" is ignored (Redis keeps its own clock), "@advance N"
sleeps N ms, and replies of ">~" commands are not compared (they depend on the exact clock).
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def split_args(line):
    """redis-cli style splitting, as golden.cc's split_args."""
    args, i, n = [], 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        mode = None
        while True:
            if mode == '"':
                c = line[i]
                if c == '\\' and i + 3 < n and line[i + 1] == 'x':
                    cur.append(int(line[i + 2:i + 4], 16))
                    i += 4
                elif c == '\\' and i + 1 < n:
                    e = line[i + 1]
                    cur += {'n': b'\n', 'r': b'\r', 't': b'\t', '0': b'\0'}.get(e, e.encode())
                    i += 2
                elif c == '"':
                    i += 1
                    break
                else:
                    cur += c.encode()
                    i += 1
            elif mode == "'":
                c = line[i]
                if c == '\\' and i + 1 < n and line[i + 1] == "'":
                    cur += b"'"
                    i += 2
                elif c == "'":
                    i += 1
                    break
                else:
                    cur += c.encode()
                    i += 1
            else:
                if i >= n or line[i].isspace():
                    break
                if line[i] in '"\'':
                    mode = line[i]
                else:
                    cur += line[i].encode()
                i += 1
        args.append(bytes(cur))


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port))
        self.buf = b''

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError('redis closed the connection')
        self.buf += data

    def _line(self):
        while b'\r\n' not in self.buf:
            self._fill()
        i = self.buf.index(b'\r\n')
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply_lines(self):
        """One reply as a list of text lines (the golden format)."""
        line = self._line()
        out = [line.decode('latin-1')]
        kind = line[:1]
        if kind in (b'$', b'*'):
            n = int(line[1:])
            if n >= 0 and kind == b'$':
                payload = self._bytes(n)
                if b'\n' in payload or b'\r' in payload:
                    raise ValueError('bulk reply with a line break: not representable')
                out.append(payload.decode('latin-1'))
            elif n >= 0:
                for _ in range(n):
                    out += self.reply_lines()
        return out

    def call(self, args):
        req = b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)
        self.sock.sendall(req)
        return self.reply_lines()


def take_reply(lines, i):
    """Skips one framed reply in the file; returns the index after it."""
    line = lines[i]
    i += 1
    if line[:1] in '$*':
        n = int(line[1:])
        if n >= 0 and line[0] == '$':
            i += 1
        elif n >= 0:
            for _ in range(n):
                i = take_reply(lines, i)
    return i


def run_file(path, conn, generate):
    conn.call([b'FLUSHALL'])
    lines = open(path, encoding='latin-1').read().split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    out, problems, i = [], 0, 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.startswith('>'):
            out.append(line)
            if line.startswith('@advance '):
                time.sleep(int(line.split()[1]) / 1000.0)
            continue
        cmd_text = line[line.index(' ') + 1:]
        got = conn.call(split_args(cmd_text))
        has_expected = i < len(lines) and lines[i][:1] in '+-:$*'
        expected_end = take_reply(lines, i) if has_expected else i
        expected = lines[i:expected_end]
        i = expected_end
        out.append(line)
        if generate:
            out += expected if (line.startswith('>~') and expected) else got
        else:
            out += expected
            if not line.startswith('>~') and got != expected:
                problems += 1
                print(f'{path}:{i}: {cmd_text}\n  redis: {got}\n  file:  {expected}')
    if generate:
        with open(path, 'w', encoding='latin-1') as f:
            f.write('\n'.join(out) + '\n')
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--port', type=int, default=21990)
    ap.add_argument('--generate', action='store_true')
    ap.add_argument('files', nargs='+')
    opts = ap.parse_args()
    if not shutil.which('redis-server'):
        sys.exit('redis-server not found')
    workdir = tempfile.mkdtemp(prefix='raftd-oracle-')
    server = subprocess.Popen(
        ['redis-server', '--port', str(opts.port), '--bind', '127.0.0.1', '--save', '',
         '--appendonly', 'no', '--dir', workdir],
        stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                conn = Conn(opts.port)
                conn.call([b'PING'])
                break
            except (OSError, EOFError):
                if time.time() > deadline:
                    sys.exit('redis-server did not start')
                time.sleep(0.05)
        problems = sum(run_file(p, conn, opts.generate) for p in opts.files)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    if problems:
        sys.exit(f'{problems} difference(s) from Redis')
    print('all replies match Redis' if not opts.generate else 'written')


if __name__ == '__main__':
    main()
