#!/usr/bin/env python3
"""What one matchmaking (`Any`) join costs the fleet's Redis as the number of rooms grows.

Starts its own redis-server on a free loopback port, loads the directory's scripts from
server/src/cluster/lua (the same text the server sends), lists N rooms of one node (each with
one of its 4 seats promised, so every room is open), then times Any joins one after another
and prints the median and p99 time per call, as the server's Redis sees them (one client,
loopback, no pipelining).

    python3 bots/scripts/directory-join.py [ROOMS...]      # default: 10 100 1000 3000
"""
import os, socket, statistics, subprocess, sys, time

LUA = os.path.join(os.path.dirname(__file__), "..", "..", "server", "src", "cluster", "lua")


def script(name):
    with open(os.path.join(LUA, "common.lua")) as common, open(os.path.join(LUA, name)) as body:
        return common.read() + body.read()


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def read(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind in b"+:":
            return rest
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            return [self.read() for _ in range(max(int(rest), 0))]
        raise RuntimeError(f"unexpected reply {line!r}")


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [10, 100, 1000, 3000]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                redis = Redis(port)
                redis.call("PING")
                break
            except OSError:
                time.sleep(0.05)
        heartbeat = redis.call("SCRIPT", "LOAD", script("heartbeat.lua"))
        join = redis.call("SCRIPT", "LOAD", script("join.lua"))
        redis.call("EVALSHA", heartbeat, 0, "n1", "ws://n1/ws", 600000, 0, 0, 1000000, "secret")
        for rooms in sizes:
            have = int(redis.call("SCARD", "tickwire:rooms"))
            for i in range(have, rooms):
                redis.call("EVALSHA", join, 0, "n1", "named", f"r{i}", "0", "1", 4, 10, 600000, f"p{i}", "0")
            samples, filled = [], {}
            for i in range(300):
                start = time.perf_counter()
                room = redis.call("EVALSHA", join, 0, "n1", "any", "", "0", "1", 4, 10, 600000, f"q{rooms}-{i}", "0")[0]
                samples.append(time.perf_counter() - start)
                filled[room] = filled.get(room, 0) + 1
            samples.sort()
            print(f"{rooms:5} rooms listed: Any join median {statistics.median(samples) * 1e3:.3f} ms, "
                  f"p99 {samples[int(len(samples) * 0.99)] * 1e3:.3f} ms; the 300 joins went to {len(filled)} rooms, "
                  f"at most {max(filled.values())} into one (capacity 4, one seat already promised in each listed room)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
