// The game page in real headless Chromium where WebSocket cannot be opened: every request goes
// through a proxy that refuses upgrades (as some corporate and school filters do). The page
// falls back to HTTP by itself, joins, plays (checked on the server's own view) and says so in
// its HUD; behind a proxy that also buffers streamed responses it plays over long polling;
// `?transport=` forces one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, startHttpProxy, until, getJson } from '../support/server.js';
import { launch, openPage, watch, gameState, SCREENSHOTS } from '../support/browser.js';

assert.ok(globalThis.WebSocket, 'run with node --experimental-websocket (Node 20) or Node 22+');

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  server = await startServer(['--view-radius', '0', '--seed', '5']);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * Joins `room` on the page at `base`, steers right or left until the server (a WebSocket
 * spectator, not through the proxy) saw the ship move 80 units, and returns the page's state.
 * @param {import('playwright-core').Page} page
 * @param {string} url
 * @param {string} room
 */
async function joinAndSteer(page, url, room) {
  await page.goto(url);
  await page.waitForSelector('#game[data-state="joined"]', { timeout: 20000 });
  const state = await gameState(page);
  const entity = Number(state.entity);
  const referee = await watch(server.ws, room);
  const start = await until(() => referee.ship(entity), 'the ship in the server view');
  const direction = start.pos.x < 800 * 16 ? 1 : -1;
  await page.keyboard.down(direction > 0 ? 'KeyD' : 'KeyA');
  await until(() => {
    const now = referee.ship(entity);
    return now && (now.pos.x - start.pos.x) * direction > 80 * 16;
  }, 'the server moving the ship the way the page steers it');
  await page.keyboard.up(direction > 0 ? 'KeyD' : 'KeyA');
  await referee.leave();
  return state;
}

test('with WebSocket blocked, the page falls back to the HTTP stream, plays, and shows it', async () => {
  const proxy = await startHttpProxy(server.port);
  const { context, page, errors } = await openPage(browser);
  try {
    const state = await joinAndSteer(page, `${proxy.http}/?room=e2e-fb`, 'e2e-fb');
    assert.equal(state.transport, 'stream');
    assert.ok(proxy.upgrades() >= 1, 'the page tried WebSocket first');
    assert.equal(await page.textContent('#hud-transport'), 'HTTP stream');
    await page.waitForFunction(() => Number(document.querySelector('#hud-fps')?.textContent) > 0);
    const row = (await getJson(`${server.http}/rooms`)).find((/** @type {any} */ r) => r.id === 'e2e-fb');
    assert.equal(row.transports.stream, 1);
    assert.equal(row.transports.ws, 0);
    // Chat goes out over POSTs and comes back over the stream.
    await page.fill('#chat-input', 'over http');
    await page.press('#chat-input', 'Enter');
    await page.waitForFunction(() => document.querySelector('#chat-log')?.textContent?.includes('over http'));
    await page.screenshot({ path: join(SCREENSHOTS, 'fallback-stream.png') });
    await page.click('#leave-btn');
    await page.waitForSelector('#lobby:not([hidden])');
    await until(async () => !(await getJson(`${server.http}/rooms`)).some((/** @type {any} */ r) => r.id === 'e2e-fb' && r.players > 0),
      'the seat freed at once by the close record');
    // Console errors of the refused WebSocket are the browser's own; nothing else may fail.
    assert.deepEqual(errors.filter((e) => !/WebSocket/.test(e)), []);
  } finally {
    await context.close();
    await proxy.close();
  }
});

test('behind a middlebox that takes the upgrade and passes nothing on, the page plays over the stream; a reload goes back to its seat over it at once', async () => {
  const proxy = await startHttpProxy(server.port, { blackhole: true });
  const { context, page, errors } = await openPage(browser);
  try {
    await page.goto(`${proxy.http}/?room=e2e-hole`);
    await until(() => proxy.upgrades() >= 1, 'the page tried WebSocket first');
    await page.waitForTimeout(500);
    // The WebSocket opened, but nothing came over it: the HUD does not name it.
    assert.equal(await page.textContent('#hud-transport'), '–');
    await page.waitForSelector('#game[data-state="joined"]', { timeout: 25000 });
    const first = await gameState(page);
    assert.equal(first.transport, 'stream');
    assert.equal(await page.textContent('#hud-transport'), 'HTTP stream');
    const upgrades = proxy.upgrades();

    // The reload starts from the stream it joined over this tab: no WebSocket, no seconds lost
    // to it, and the seat is still held (the server's resume grace is 10 s).
    const started = Date.now();
    await page.reload();
    await page.waitForSelector('#game[data-state="joined"]', { timeout: 10000 });
    const took = Date.now() - started;
    const again = await gameState(page);
    assert.equal(again.transport, 'stream');
    assert.equal(again.resumed, 'true', 'the same ship');
    assert.equal(again.playerId, first.playerId);
    assert.equal(proxy.upgrades(), upgrades, 'WebSocket not probed again');
    assert.ok(took < 4000, `the reload joined in ${took} ms`);
    assert.deepEqual(errors.filter((e) => !/WebSocket/.test(e)), []);
  } finally {
    await context.close();
    await proxy.close();
  }
});

test('forced onto WebSocket where a proxy blocks it, the page says WebSocket is blocked, not that the server is unreachable', async () => {
  const proxy = await startHttpProxy(server.port);
  const { context, page } = await openPage(browser);
  try {
    await page.goto(`${proxy.http}/?room=e2e-blocked&transport=ws`);
    // The proxy refuses every upgrade (403) and passes the plain GET of /ws on: the server's 426.
    await page.waitForSelector('#failure:not([hidden])', { timeout: 30000 });
    assert.equal(await page.textContent('#failure-title'), 'WebSocket blocked');
    assert.match(await page.textContent('#failure-text') ?? '', /^WebSocket is blocked on this network/);
    assert.equal(await page.textContent('#hud-transport'), '–', 'no transport named: nothing came over one');
  } finally {
    await context.close();
    await proxy.close();
  }
});

test('behind a proxy that also buffers responses, the page plays over long polling', async () => {
  const proxy = await startHttpProxy(server.port, { buffer: true });
  const { context, page, errors } = await openPage(browser);
  try {
    const state = await joinAndSteer(page, `${proxy.http}/?room=e2e-poll`, 'e2e-poll');
    assert.equal(state.transport, 'poll');
    assert.equal(await page.textContent('#hud-transport'), 'long polling');
    await page.screenshot({ path: join(SCREENSHOTS, 'fallback-poll.png') });
    assert.deepEqual(errors.filter((e) => !/WebSocket/.test(e)), []);
  } finally {
    await context.close();
    await proxy.close();
  }
});

test('?transport= forces a transport, and the HUD says WebSocket by default', async () => {
  const { context, page, errors } = await openPage(browser);
  try {
    await page.goto(`${server.http}/?room=e2e-force&transport=poll`);
    await page.waitForSelector('#game[data-state="joined"]');
    assert.equal((await gameState(page)).transport, 'poll');
    assert.equal(await page.textContent('#hud-transport'), 'long polling');
    await page.goto(`${server.http}/?room=e2e-force`);
    await page.waitForSelector('#game[data-state="joined"]');
    assert.equal((await gameState(page)).transport, 'ws');
    assert.equal(await page.textContent('#hud-transport'), 'WebSocket');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
