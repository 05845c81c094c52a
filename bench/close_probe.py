"""The closing handshake, measured from outside: N strict clients (Python `websockets`, close
timeout 3 s) join with the golden `hello_player` / `hello_spectator` vectors, read two frames,
then all close with 1000 at once; ROUNDS rounds. Prints how many got the server's close frame.

    pip install websockets
    cargo run --release -p tickwire-server -- --bind 127.0.0.1:18080 \
        --max-connections-per-ip 1000 --max-spectators 1000 &
    python3 bench/close_probe.py ws://127.0.0.1:18080/ws 200 10 shared/testdata 1024

The last argument is websockets' `max_queue` (default 16): with 16, a client that has 16 unread
messages stops reading its socket, and its `close()` does not read on, so it never sees an
answer that is queued behind them (a client-side stall, whatever the server does).
"""
import asyncio, sys, time, pathlib
import websockets
from websockets.exceptions import ConnectionClosed
URL = sys.argv[1]; N = int(sys.argv[2]); ROUNDS = int(sys.argv[3])
data = pathlib.Path(sys.argv[4])
HELLOS = [(data / "hello_player.bin").read_bytes(), (data / "hello_spectator.bin").read_bytes()]

async def one(i):
    async with websockets.connect(URL, subprotocols=["tickwire.v1"], close_timeout=3, max_size=None, max_queue=int(sys.argv[5]) if len(sys.argv) > 5 else 16) as ws:
        await ws.send(HELLOS[i % 2])
        for _ in range(2):
            await ws.recv()
        t = time.monotonic()
        await ws.close(1000)
        took = time.monotonic() - t
        rcvd = ws.protocol.close_rcvd
        return (rcvd is not None and rcvd.code == 1000, took)

async def main():
    answered = 0; total = 0; hung = 0; worst = 0.0
    for _ in range(ROUNDS):
        results = await asyncio.gather(*(one(i) for i in range(N)), return_exceptions=True)
        for r in results:
            total += 1
            if isinstance(r, Exception): continue
            ok, took = r
            answered += ok; worst = max(worst, took); hung += took >= 2.9
    print(f"{N} at once x {ROUNDS}: {answered}/{total} answered with 1000, {total-answered} unanswered, {hung} hung to the timeout, slowest close {worst*1000:.0f} ms")
asyncio.run(main())
