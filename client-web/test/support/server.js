// Test support: the real tickwire-server binary on 127.0.0.1 port 0, and a TCP proxy that can
// cut connections without a close frame (a network blip, as the server sees it).

import { spawn, spawnSync } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../..');

let built = false;

/** Builds the server with cargo (a no-op when up to date) and returns the binary's path. */
export function serverBinary() {
  if (process.env.TICKWIRE_SERVER_BIN) return process.env.TICKWIRE_SERVER_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? join(REPO, 'target');
  const bin = join(target, 'debug', 'tickwire-server');
  if (!built) {
    const result = spawnSync('cargo', ['build', '--quiet', '-p', 'tickwire-server', '--bin', 'tickwire-server'], { cwd: REPO, stdio: 'inherit' });
    if (result.status !== 0) throw new Error('cargo build -p tickwire-server failed');
    built = true;
  }
  if (!existsSync(bin)) throw new Error(`no server binary at ${bin}`);
  return bin;
}

/**
 * Starts a server on 127.0.0.1:0 (or the `--bind` among `args`) and resolves once it listens.
 * @param {string[]} [args] extra flags
 * @returns {Promise<{ port: number, http: string, ws: string, output: () => string, stop: () => Promise<number | null> }>}
 */
export function startServer(args = []) {
  const bind = args.includes('--bind') ? [] : ['--bind', '127.0.0.1:0'];
  const child = spawn(serverBinary(), [...bind, ...args], {
    cwd: REPO,
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr.on('data', (d) => { out += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20000);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${out}`)));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      const port = Number(m[1]);
      resolve({
        port,
        http: `http://127.0.0.1:${port}`,
        ws: `ws://127.0.0.1:${port}/ws`,
        output: () => out,
        stop: () => new Promise((done) => {
          if (child.exitCode !== null) return done(child.exitCode);
          child.once('exit', (code) => done(code));
          child.kill('SIGTERM');
        }),
      });
    });
  });
}

/**
 * A TCP proxy on 127.0.0.1:0 to `port`. `cut()` destroys every connection through it at
 * once (no close frame either way), like a dropped Wi-Fi link. While `hold()` holds, a new
 * connection is taken (its bytes wait unread) but carried to the server only at `release()`,
 * so a client reconnecting meanwhile waits at its socket's opening for as long as a test needs.
 * While `stallDown()` stalls, what the server sends is kept and delivered at once at
 * `resumeDown()`, as a downlink that stalled and let the backlog through does (TCP keeps it).
 * `deafen()` lets nothing more through either way on the connections it has, and closes none
 * of them, as a phone's network switch leaves its old connections (new ones pass).
 * @param {number} port
 * @returns {Promise<{ port: number, cut: () => number, hold: () => void, release: () => void, stallDown: () => void, resumeDown: () => void, deafen: () => number, close: () => Promise<void> }>}
 */
export function startProxy(port) {
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();
  /** @type {import('node:net').Socket[] | null} */
  let held = null;
  /** What each connection's server sent while the downlink stalled; `null` while it flows. @type {Map<import('node:net').Socket, Buffer[]> | null} */
  let stalled = null;
  /** The connections whose server ended while the downlink stalled. @type {Set<import('node:net').Socket>} */
  const ended = new Set();
  /** Both ends of the connections `deafen()` cut off. @type {WeakSet<import('node:net').Socket>} */
  const deaf = new WeakSet();
  /** @param {import('node:net').Socket} client */
  const carry = (client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const [a, b] of [[client, upstream], [upstream, client]]) {
      sockets.add(a);
      a.on('close', () => { sockets.delete(a); if (!deaf.has(a)) b.destroy(); });
      a.on('error', () => b.destroy());
    }
    client.on('data', (chunk) => { if (!deaf.has(client)) upstream.write(chunk); });
    client.on('end', () => { if (!deaf.has(client)) upstream.end(); });
    upstream.on('data', (chunk) => {
      if (deaf.has(upstream)) return;
      const kept = stalled?.get(client);
      if (kept) kept.push(chunk);
      else if (stalled) stalled.set(client, [chunk]);
      else client.write(chunk);
    });
    // What a stall kept goes first.
    upstream.on('end', () => { if (!deaf.has(upstream)) (stalled ? ended.add(client) : client.end()); });
  };
  const server = createServer((client) => {
    if (!held) return carry(client);
    held.push(client);
    sockets.add(client);
    client.on('error', () => {});
    client.on('close', () => sockets.delete(client));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = /** @type {import('node:net').AddressInfo} */ (server.address());
      resolve({
        port: address.port,
        cut: () => {
          const n = sockets.size;
          for (const s of sockets) s.resetAndDestroy();
          return n;
        },
        hold: () => { held ??= []; },
        release: () => {
          const waiting = held ?? [];
          held = null;
          for (const client of waiting) if (!client.destroyed) carry(client);
        },
        stallDown: () => { stalled ??= new Map(); },
        deafen: () => {
          const n = sockets.size;
          for (const s of sockets) deaf.add(s);
          return n;
        },
        resumeDown: () => {
          const kept = stalled ?? new Map();
          stalled = null;
          for (const [client, chunks] of kept) if (!client.destroyed) client.write(Buffer.concat(chunks));
          for (const client of ended) client.end();
          ended.clear();
        },
        close: () => new Promise((done) => {
          for (const s of sockets) s.destroy();
          server.close(() => done());
        }),
      });
    });
  });
}

/**
 * An HTTP proxy on 127.0.0.1:0 to `port` that blocks WebSocket: an upgrade request gets a 403
 * (as from a corporate filter), every other request is passed on. With `buffer`, it holds each
 * response until it is complete (as a proxy that scans downloads does), so a streamed response
 * delivers nothing until it ends. With `prefix` (e.g. `/tw`) it serves the server under that
 * path, as a reverse proxy routing by path does: the prefix is taken off, and a request outside
 * it gets a 404 and is kept in `strays()`. With `websocket`, upgrades are carried, not refused.
 * With `blackhole`, an upgrade is answered 101 and then nothing passes either way (as an
 * antivirus or TLS inspection box that takes WebSocket and swallows it).
 * `port` may be a function that gives the server's port when a request comes: a proxy started
 * before the server, whose URL the server is told (`--public-url`).
 * @param {number | (() => number)} port
 * @param {{ buffer?: boolean, prefix?: string, websocket?: boolean, blackhole?: boolean }} [options]
 * @returns {Promise<{ port: number, http: string, ws: string, upgrades: () => number, strays: () => string[], close: () => Promise<void> }>}
 */
export function startHttpProxy(port, options = {}) {
  const upstreamPort = () => (typeof port === 'function' ? port() : port);
  let upgrades = 0;
  const prefix = options.prefix ?? '';
  /** @type {string[]} */
  const strays = [];
  /** @param {string | undefined} url @returns {string | null} the server's path, null if outside the prefix */
  const route = (url = '/') => {
    if (!prefix) return url;
    if (!url.startsWith(`${prefix}/`)) return null;
    return url.slice(prefix.length);
  };
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();
  const server = createHttpServer((req, res) => {
    const path = route(req.url);
    if (path === null) {
      strays.push(`${req.method} ${req.url}`);
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`not under ${prefix}/\n`);
      return;
    }
    const upstream = httpRequest({ host: '127.0.0.1', port: upstreamPort(), method: req.method, path, headers: req.headers }, (up) => {
      if (options.buffer) {
        /** @type {Buffer[]} */
        const chunks = [];
        up.on('data', (c) => chunks.push(c));
        up.on('end', () => {
          const body = Buffer.concat(chunks);
          const headers = { ...up.headers, 'content-length': String(body.length) };
          delete headers['transfer-encoding'];
          res.writeHead(up.statusCode ?? 502, headers);
          res.end(body);
        });
      } else {
        res.writeHead(up.statusCode ?? 502, up.headers);
        res.flushHeaders();
        up.pipe(res);
      }
    });
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('upgrade', (req, socket, head) => {
    upgrades += 1;
    const path = route(req.url);
    if (path === null) strays.push(`${req.method} ${req.url} (upgrade)`);
    if (path !== null && options.blackhole) {
      const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      const protocol = req.headers['sec-websocket-protocol']?.split(',')[0].trim();
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n`
        + `${protocol ? `sec-websocket-protocol: ${protocol}\r\n` : ''}\r\n`);
      const client = /** @type {import('node:net').Socket} */ (socket);
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      client.on('error', () => {});
      client.resume(); // whatever the page sends goes nowhere
      return;
    }
    if (path === null || !options.websocket) {
      const body = path === null ? `not under ${prefix}/\n` : 'WebSocket is blocked by this proxy\n';
      const status = path === null ? '404 Not Found' : '403 Forbidden';
      socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
      return;
    }
    // The request again, at the server's path, then the two sockets joined.
    const lines = [`${req.method} ${path} HTTP/${req.httpVersion}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    const upstream = connect(upstreamPort(), '127.0.0.1');
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    upstream.write(head);
    const client = /** @type {import('node:net').Socket} */ (socket);
    for (const [a, b] of [[client, upstream], [upstream, client]]) {
      sockets.add(a);
      a.on('close', () => { sockets.delete(a); b.destroy(); });
      a.on('error', () => b.destroy());
      a.pipe(b);
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = /** @type {import('node:net').AddressInfo} */ (server.address());
      resolve({
        port: address.port,
        http: `http://127.0.0.1:${address.port}${prefix}`,
        ws: `ws://127.0.0.1:${address.port}${prefix}/ws`,
        upgrades: () => upgrades,
        strays: () => [...strays],
        close: () => new Promise((done) => {
          for (const s of sockets) s.destroy();
          server.close(() => done());
        }),
      });
    });
  });
}

/**
 * Waits until `check()` returns a truthy value (polled every 20 ms), or fails after `ms`.
 * @template T
 * @param {() => T | Promise<T>} check
 * @param {string} what
 * @param {number} [ms]
 * @returns {Promise<NonNullable<T>>}
 */
export async function until(check, what, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return /** @type {NonNullable<T>} */ (value);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** @param {string} url */
export async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}
