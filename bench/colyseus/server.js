// The Colyseus server of the game bench: the arena room (arena.js) on @colyseus/core with the
// ws transport, one Node process (run it pinned to one core, as tickwire is).
//
//   node bench/colyseus/server.js --port 18120
'use strict';

const { Server } = require('@colyseus/core');
const { WebSocketTransport } = require('@colyseus/ws-transport');
const { ArenaRoom } = require('./arena.js');

function fail(message) {
  process.stderr.write(`colyseus server: ${message}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
let port = 18120;
for (let i = 0; i < args.length; i += 2) {
  if (args[i] !== '--port') fail(`unknown flag ${args[i]} (flags: --port)`);
  port = Number(args[i + 1]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--port: \`${args[i + 1]}\` is not a port`);
}

const server = new Server({
  greet: false,
  // Heartbeats as tickwire's (5 s); no compression (ws's default is off, tickwire has none).
  transport: new WebSocketTransport({ pingInterval: 5000, pingMaxRetries: 3, perMessageDeflate: false }),
});
server.define('arena', ArenaRoom);
server
  .listen(port, '127.0.0.1')
  .then(() => process.stderr.write(`colyseus server: ws://127.0.0.1:${port}, room "arena" (32 players, 30 Hz)\n`))
  .catch((error) => fail(`--port ${port}: ${error.message}`));
