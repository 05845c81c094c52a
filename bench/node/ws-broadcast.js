// The Node `ws` peer of the fan-out bench: every tick, one binary message of --payload-bytes
// (its tick in the first four bytes, little-endian, zeros after: what bench-swarm --server raw
// reads) sent to every open client with ws's own `send`, as ws's README broadcasts. No
// permessage-deflate (tickwire negotiates none either).
//
//   node bench/node/ws-broadcast.js --port 18103 --payload-bytes 80 --tick-rate 30
'use strict';

const { WebSocketServer, WebSocket } = require('ws');

function parseArgs(argv) {
  const options = { port: 18103, 'payload-bytes': 230, 'tick-rate': 30 };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const name = flag.replace(/^--/, '');
    if (!flag.startsWith('--') || !(name in options)) {
      fail(`unknown flag ${flag} (flags: --port, --payload-bytes, --tick-rate)`);
    }
    const value = Number(argv[i + 1]);
    if (!Number.isInteger(value) || value < 1) {
      fail(`${flag}: \`${argv[i + 1]}\` is not a positive integer`);
    }
    options[name] = value;
  }
  if (options['payload-bytes'] < 4) fail('--payload-bytes: at least 4 (the tick)');
  if (options['tick-rate'] > 1000) fail('--tick-rate: at most 1000');
  return options;
}

function fail(message) {
  process.stderr.write(`ws-broadcast: ${message}\n`);
  process.exit(2);
}

const options = parseArgs(process.argv.slice(2));
const server = new WebSocketServer({
  host: '127.0.0.1',
  port: options.port,
  path: '/ws',
  perMessageDeflate: false,
  clientTracking: true,
});
server.on('listening', () => {
  process.stderr.write(
    `ws-broadcast: ws://127.0.0.1:${options.port}/ws, ${options['payload-bytes']} B every 1/${options['tick-rate']} s\n`,
  );
});
server.on('error', (error) => fail(`--port ${options.port}: ${error.message}`));
server.on('connection', (socket) => {
  socket.on('error', () => socket.terminate());
});

// setInterval rounds to whole milliseconds (33 ms: 30.3 Hz); schedule each tick from the
// start instead, as a fixed-rate game loop does, skipping ticks that are already past.
const periodMs = 1000 / options['tick-rate'];
const start = performance.now();
let tick = 0;
function broadcast() {
  tick += 1;
  const payload = Buffer.alloc(options['payload-bytes']);
  payload.writeUInt32LE(tick >>> 0, 0);
  for (const client of server.clients) {
    if (client.readyState === WebSocket.OPEN) client.send(payload, { binary: true });
  }
  // Tick k is due at start + k x period; one already past is skipped, not sent late.
  const now = performance.now();
  const nextTick = Math.max(tick + 1, Math.ceil((now - start) / periodMs));
  tick = nextTick - 1;
  setTimeout(broadcast, start + nextTick * periodMs - now);
}
setTimeout(broadcast, periodMs);
