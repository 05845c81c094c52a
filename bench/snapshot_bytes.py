"""Snapshot bytes per player, measured from outside as the bandwidth issue did: N players in one
named room steering randomly (a new stick position about every third of a second, boost now and
then) at 30 inputs per second; each acks every snapshot (or never, with --no-ack: full
snapshots). Counts the bytes of snapshot messages received, WebSocket header included.

    pip install websockets
    cargo run --release -p tickwire-server -- --bind 127.0.0.1:18080 --seed 7 \\
        --max-connections-per-ip 1000 &
    python3 bench/snapshot_bytes.py ws://127.0.0.1:18080/ws 32 20          # acking
    python3 bench/snapshot_bytes.py ws://127.0.0.1:18080/ws 32 20 --no-ack # full snapshots

The client reads only what it needs: a snapshot's tick (to ack it) is the LEB128 number after
the header's head byte and the age bytes it announces (PROTOCOL.md 2.4).
"""
import asyncio, pathlib, random, struct, sys, time
import websockets

URL, PLAYERS, SECONDS = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ACK = "--no-ack" not in sys.argv
ROOM = b"bytes-%d" % random.randrange(10**6)
# The version this checkout speaks, from its golden `Hello` (byte 1: a varint under 251).
VERSION = (pathlib.Path(__file__).resolve().parent.parent / "shared/testdata/hello_player.bin").read_bytes()[1]

def varint(v):
    if v < 251: return bytes([v])
    if v < 1 << 16: return b"\xfb" + struct.pack("<H", v)
    return b"\xfc" + struct.pack("<I", v)

def read_leb128(b, i):
    v = shift = 0
    while True:
        v |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if b[i - 1] < 0x80:
            return v, i

def snapshot_tick(msg):
    head = msg[1]
    i = 2 + ((head & 0x0F) == 15) + (((head >> 4) & 0x07) == 7)
    return read_leb128(msg, i)[0]

def hello(name):
    # tag 0, version, role Player, name, room Named, no resume
    return b"\x00" + varint(VERSION) + b"\x00" + varint(len(name)) + name + b"\x01" + varint(len(ROOM)) + ROOM + b"\x00"

def ws_header(n):
    return 2 if n < 126 else 4 if n < 65536 else 10

async def player(i, stats, start_at):
    rng = random.Random(7 + i)
    async with websockets.connect(URL, subprotocols=["tickwire.v1"], max_size=None, max_queue=None) as ws:
        await ws.send(hello(b"p%d" % i))
        seq = 0
        stick = (0, 0, 0)
        async def inputs():
            nonlocal seq, stick
            while True:
                if rng.random() < 0.1:
                    stick = (rng.randint(-127, 127), rng.randint(-127, 127), 1 if rng.random() < 0.2 else 0)
                seq += 1
                x, y, b = stick
                await ws.send(b"\x01" + varint(seq) + struct.pack("<bbB", x, y, b))
                await asyncio.sleep(1 / 30)
        sender = asyncio.create_task(inputs())
        try:
            async for msg in ws:
                if msg[0] != 1:
                    continue
                tick = snapshot_tick(msg)
                now = time.monotonic()
                if start_at[0] <= now < start_at[1]:
                    stats[0] += len(msg) + ws_header(len(msg))
                    stats[1] += 1
                if now >= start_at[1]:
                    break
                if ACK:
                    await ws.send(b"\x02" + varint(tick))
        finally:
            sender.cancel()

async def main():
    stats = [0, 0]
    t0 = time.monotonic()
    window = [t0 + 3, t0 + 3 + SECONDS]  # 3 s to join and settle
    await asyncio.gather(*(player(i, stats, window) for i in range(PLAYERS)))
    per_snapshot = stats[0] / stats[1]
    print(f"{PLAYERS} players, {'acking' if ACK else 'never acking'}: {per_snapshot:.0f} B per snapshot, "
          f"{stats[0] / SECONDS / PLAYERS:.0f} B/s per player ({stats[1]} snapshots)")

asyncio.run(main())
