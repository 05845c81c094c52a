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
