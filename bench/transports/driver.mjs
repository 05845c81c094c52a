// One transport, N players, through the JavaScript SDK against a running tickwire server:
// bytes on the wire per tick per client both ways (from the kernel's per-socket counters of the
// server's port, so HTTP heads, chunk sizes and WebSocket frame headers are all in; TCP/IP
// headers are not), input-to-ack latency (from the SDK queuing an input to the first snapshot
// that says the server applied it) and snapshots delivered. Loopback only, bounded in time.
//
//   node --experimental-websocket driver.mjs --port 8080 --transport stream --clients 500 \
//        --seconds 15 [--server-pid PID]
// Prints one JSON line.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { TickwireClient } from '../../client-web/sdk/index.js';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => {
  if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
  return pairs;
}, /** @type {[string, string][]} */ ([])));
const port = Number(args.port ?? 8080);
const transport = /** @type {'ws' | 'stream' | 'poll'} */ (args.transport ?? 'ws');
const clients = Number(args.clients ?? 1);
const seconds = Number(args.seconds ?? 15);
const serverPid = args['server-pid'] ? Number(args['server-pid']) : null;
const tickRate = 30;

/** Bytes the server's sockets on `port` sent and received so far (established ones). */
function socketBytes() {
  const out = execFileSync('ss', ['-tinH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8', maxBuffer: 64 << 20 });
  let sent = 0;
  let received = 0;
  for (const m of out.matchAll(/bytes_sent:(\d+)/g)) sent += Number(m[1]);
  for (const m of out.matchAll(/bytes_received:(\d+)/g)) received += Number(m[1]);
  return { sent, received };
}

/** CPU seconds a process used so far (user + system), from /proc. @param {number} pid */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** @type {number[]} */
let latencies = [];
let snapshots = 0;
let measuring = false;
/** @type {TickwireClient[]} */
const all = [];
for (let i = 0; i < clients; i++) {
  const c = new TickwireClient({ url: `ws://127.0.0.1:${port}/ws`, name: `b${i}`, transport, reconnect: { maxAttempts: 1 } });
  const s = c.session;
  /** @type {Map<number, number>} */
  const sent = new Map();
  const send = s.sendInput.bind(s);
  s.sendInput = (/** @type {number} */ now) => {
    send(now);
    sent.set(s.inputSeq, now);
  };
  c.on('welcome', () => sent.clear());
  c.on('snapshot', (e) => {
    if (measuring) snapshots += 1;
    for (const [seq, at] of sent) {
      if (seq > e.snapshot.lastInput) break;
      if (measuring) latencies.push(performance.now() - at);
      sent.delete(seq);
    }
  });
  c.on('error', (e) => console.error(`client ${i}: ${e.error.message}`));
  c.connect();
  all.push(c);
  if (i % 50 === 49) await new Promise((r) => setTimeout(r, 100));
}
// Steer: a new random stick every second, so inputs change and ships move.
const steer = setInterval(() => {
  for (const c of all) c.setInput({ x: Math.random() * 2 - 1, y: Math.random() * 2 - 1 });
}, 1000);
const deadline = Date.now() + 30000;
while (all.some((c) => !c.session.isJoined())) {
  if (Date.now() > deadline) throw new Error(`${all.filter((c) => !c.session.isJoined()).length} clients did not join`);
  await new Promise((r) => setTimeout(r, 100));
}
await new Promise((r) => setTimeout(r, 3000)); // warm-up: full snapshots, then deltas
latencies = [];
snapshots = 0;
measuring = true;
const before = socketBytes();
const cpuBefore = cpuSeconds(process.pid);
const serverBefore = serverPid ? cpuSeconds(serverPid) : 0;
const started = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
const elapsed = (performance.now() - started) / 1000;
const after = socketBytes();
measuring = false;
const cpu = (cpuSeconds(process.pid) - cpuBefore) / elapsed;
const serverCpu = serverPid ? (cpuSeconds(serverPid) - serverBefore) / elapsed : null;
clearInterval(steer);
latencies.sort((a, b) => a - b);
const pct = (/** @type {number} */ p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
const ticks = elapsed * tickRate * clients;
console.log(JSON.stringify({
  transport, clients, seconds: Number(elapsed.toFixed(1)),
  down_bytes_per_tick: Number(((after.sent - before.sent) / ticks).toFixed(1)),
  up_bytes_per_tick: Number(((after.received - before.received) / ticks).toFixed(1)),
  latency_p50_ms: Number(pct(0.5).toFixed(1)),
  latency_p99_ms: Number(pct(0.99).toFixed(1)),
  snapshots_per_s: Number((snapshots / elapsed / clients).toFixed(1)),
  driver_cpu: Number(cpu.toFixed(2)),
  server_cpu: serverCpu === null ? null : Number(serverCpu.toFixed(2)),
}));
await Promise.all(all.map((c) => Promise.race([c.leave(), new Promise((r) => setTimeout(r, 3000))])));
process.exit(0);
