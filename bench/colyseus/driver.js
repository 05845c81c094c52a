// The load of the game bench's Colyseus run: N players on Colyseus' own SDK, joining "arena"
// rooms by matchmaking (joinOrCreate: rooms of 32) at --ramp per second, each steering like a
// tickwire bot (wander, chase the nearest pickup or ship, boost in bursts and when far) from
// the state it decoded, and sending one input per patch, as tickwire's bots send one per
// snapshot. Once all joined it writes --ready-file (bench-watch waits for it), lets --warmup
// pass, then measures --duration: patches per player per second and socket bytes per player
// per second (WebSocket headers included, as tickwire-bots counts them). The report uses
// tickwire-bots' field names, so `bench-table game-row` reads either.
//
//   node bench/colyseus/driver.js --url ws://127.0.0.1:18120 --players 500 --ramp 500 \
//       --warmup 3 --duration 10 --json report.json --ready-file ready
'use strict';

const fs = require('fs');
const { Client } = require('@colyseus/sdk');

function fail(message) {
  process.stderr.write(`colyseus driver: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = {
    url: 'ws://127.0.0.1:18120', players: 100, ramp: 500, warmup: 3, duration: 10, seed: 1,
    json: null, 'ready-file': null,
  };
  const numbers = new Set(['players', 'ramp', 'warmup', 'duration', 'seed']);
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !(name in options)) {
      fail(`unknown flag ${argv[i]} (flags: ${Object.keys(options).map((k) => `--${k}`).join(', ')})`);
    }
    const value = argv[i + 1];
    if (value === undefined) fail(`--${name} needs a value`);
    if (numbers.has(name)) {
      const number = Number(value);
      if (!Number.isFinite(number) || number <= 0) fail(`--${name}: \`${value}\` is not a positive number`);
      options[name] = number;
    } else {
      options[name] = value;
    }
  }
  if (!/^wss?:\/\//.test(options.url)) fail(`--url: \`${options.url}\` is not a ws:// URL`);
  if (!Number.isInteger(options.players)) fail('--players: a whole number');
  return options;
}

// A small seeded generator (mulberry32): each player's choices are reproducible.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// tickwire-bots' behaviour (bots/src/behaviour.rs), on Colyseus' state (positions in 1/16 unit).
const BOOST_DISTANCE = 300 * 16;
class Behaviour {
  constructor(seed) {
    this.random = rng(seed);
    this.mode = 'wander';
    this.modeUntil = 0;
    this.heading = [1, 0];
    this.boostUntil = 0;
  }

  newHeading() {
    const angle = this.random() * 2 * Math.PI;
    this.heading = [Math.cos(angle), Math.sin(angle)];
  }

  steer(now, state, me) {
    if (now >= this.modeUntil) {
      const roll = Math.floor(this.random() * 10);
      this.mode = roll <= 3 ? 'wander' : roll <= 7 ? 'pickup' : 'ship';
      this.modeUntil = now + 1000 + this.random() * 3000;
      this.newHeading();
    }
    const self = state && state.ships ? state.ships.get(me) : undefined;
    let target;
    if (self && this.mode === 'pickup') {
      target = nearest(state.pickups, self, (p) => p.active);
    } else if (self && this.mode === 'ship') {
      target = nearest(state.ships, self, (s) => s !== self);
    }
    let x;
    let y;
    let far = false;
    if (target) {
      const dx = target.x - self.x;
      const dy = target.y - self.y;
      const len = Math.max(1, Math.hypot(dx, dy));
      [x, y, far] = [dx / len, dy / len, len > BOOST_DISTANCE];
    } else {
      if (this.random() < 0.02) this.newHeading();
      [x, y] = this.heading;
    }
    if (now >= this.boostUntil && this.random() < 0.01) {
      this.boostUntil = now + 200 + this.random() * 700;
    }
    return { x, y, b: far || now < this.boostUntil };
  }
}

function nearest(collection, self, keep) {
  let best;
  let bestDistance = Infinity;
  collection.forEach((item) => {
    if (!keep(item)) return;
    const d = (item.x - self.x) ** 2 + (item.y - self.y) ** 2;
    if (d < bestDistance) {
      bestDistance = d;
      best = item;
    }
  });
  return best;
}

const count = (map, key) => map.set(key, (map.get(key) || 0) + 1);

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const players = [];
  const failures = new Map();
  const drops = new Map();
  let measuring = false;
  const started = Date.now();

  async function startPlayer(index) {
    const client = new Client(options.url);
    const player = { room: null, patches: 0, joinedBeforeWindow: false, left: false };
    try {
      player.room = await client.joinOrCreate('arena', {});
    } catch (error) {
      count(failures, `join-${error.code || error.message || 'error'}`);
      return;
    }
    players.push(player);
    const behaviour = new Behaviour(options.seed + index);
    const room = player.room;
    room.onStateChange((state) => {
      if (measuring) player.patches += 1;
      room.send('input', behaviour.steer(Date.now(), state, room.sessionId));
    });
    room.onLeave((code) => {
      if (!player.left) {
        player.left = true;
        if (!stopping) count(drops, `close-${code}`);
      }
    });
  }

  let stopping = false;
  const pending = [];
  for (let i = 0; i < options.players; i++) {
    const due = started + (i * 1000) / options.ramp;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(startPlayer(i));
  }
  await Promise.all(pending);
  const joined = players.length;
  const rampS = (Date.now() - started) / 1000;
  process.stderr.write(`colyseus driver: ${joined} of ${options.players} joined in ${rampS.toFixed(2)} s\n`);
  if (options['ready-file']) fs.writeFileSync(options['ready-file'], `${joined}\n`);

  await new Promise((resolve) => setTimeout(resolve, options.warmup * 1000));
  const socket = (p) => p.room.connection.transport.ws._socket;
  const bytes = () => players.reduce((sum, p) => {
    const s = socket(p);
    return s ? [sum[0] + s.bytesRead, sum[1] + s.bytesWritten] : sum;
  }, [0, 0]);
  for (const p of players) p.joinedBeforeWindow = !p.left;
  const bytesStart = bytes();
  const cpuStart = process.cpuUsage();
  const windowStart = process.hrtime.bigint();
  measuring = true;
  await new Promise((resolve) => setTimeout(resolve, options.duration * 1000));
  measuring = false;
  const windowS = Number(process.hrtime.bigint() - windowStart) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  const bytesEnd = bytes();

  const stayed = players.filter((p) => p.joinedBeforeWindow && !p.left);
  const fps = stayed.map((p) => p.patches / windowS).sort((a, b) => a - b);
  const open = players.filter((p) => !p.left).length || 1;
  const report = {
    run: { url: options.url, players: options.players, ramp_per_s: options.ramp, ramp_s: rampS,
      window_s: windowS, seed: options.seed, server: 'colyseus' },
    bots: {
      started: options.players,
      joined,
      failures: Object.fromEntries(failures),
      drops: Object.fromEntries(drops),
      stayed: stayed.length,
    },
    frames: {
      received: stayed.reduce((sum, p) => sum + p.patches, 0),
      per_bot_fps: fps.length === 0 ? null : {
        bots: fps.length,
        mean: fps.reduce((a, b) => a + b, 0) / fps.length,
        min: fps[0],
        p1: fps[Math.floor((fps.length - 1) / 100)],
        p50: fps[Math.floor(fps.length / 2)],
      },
    },
    bytes_per_bot_per_s: {
      in: (bytesEnd[0] - bytesStart[0]) / open / windowS,
      out: (bytesEnd[1] - bytesStart[1]) / open / windowS,
    },
    resources: { bots_cpu_percent: (100 * (cpu.user + cpu.system)) / 1e6 / windowS },
  };
  stopping = true;
  await Promise.all(players.filter((p) => !p.left).map((p) => p.room.leave(true).catch(() => {})));
  const text = JSON.stringify(report);
  if (options.json) fs.writeFileSync(options.json, `${text}\n`);
  else process.stdout.write(`${text}\n`);
  process.stderr.write(
    `colyseus driver: ${stayed.length} stayed, ${report.frames.per_bot_fps ? report.frames.per_bot_fps.mean.toFixed(2) : '-'} patches/s each, ` +
      `${report.bytes_per_bot_per_s.in.toFixed(0)} B/s in, ${report.bytes_per_bot_per_s.out.toFixed(0)} B/s out per player, ` +
      `driver CPU ${report.resources.bots_cpu_percent.toFixed(0)}%\n`,
  );
  process.exit(0);
}

main().catch((error) => fail(error.stack || String(error)));
