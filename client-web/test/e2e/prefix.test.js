// The game and the dashboard behind a reverse proxy that serves the server under a path prefix
// (`/tw/`), in real headless Chromium: every URL the pages use (assets, /rooms, /invite, /ws,
// the HTTP fallback, /stats, the links between pages) stays under the prefix. The proxy
// answers anything outside it with a 404 and keeps a list, which must stay empty. The server
// is told the prefix as deploy/README.md says (`--public-url`), so the invite links and their
// QR codes keep it too: the server never sees the prefix in a request.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startHttpProxy } from '../support/server.js';
import { launch, openPage, gameState } from '../support/browser.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {Awaited<ReturnType<typeof startHttpProxy>>} */
let proxy;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  // The proxy first, for its URL; it is asked nothing before the server listens.
  let upstream = 0;
  proxy = await startHttpProxy(() => upstream, { prefix: '/tw', websocket: true });
  server = await startServer(['--view-radius', '0', '--seed', '7', '--public-url', proxy.http]);
  upstream = server.port;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.stop();
});

test('under a path prefix, the lobby, a game over WebSocket and over HTTP, and the dashboard work', async () => {
  const { context, page, errors } = await openPage(browser);
  try {
    await page.goto(`${proxy.http}/`);
    await page.waitForSelector('#lobby:not([hidden])');
    await page.waitForFunction(() => /open · live/.test(document.querySelector('#rooms-status')?.textContent ?? ''));
    await page.waitForFunction(() => {
      const img = /** @type {HTMLImageElement} */ (document.querySelector('#lobby-qr'));
      return img.complete && img.naturalWidth > 0;
    });
    await page.waitForFunction(() => document.querySelector('#lobby-link')?.textContent);
    const lobbyLink = new URL(await page.$eval('#lobby-link', (a) => /** @type {HTMLAnchorElement} */ (a).href));
    assert.equal(lobbyLink.origin, new URL(proxy.http).origin);
    assert.equal(lobbyLink.pathname, '/tw/', 'the lobby\'s invite keeps the prefix');

    await page.fill('#name', 'prefixed');
    await page.fill('#room-name', 'e2e-prefix');
    await page.click('#create-form button[type="submit"]');
    await page.waitForSelector('#game[data-state="joined"]');
    assert.equal((await gameState(page)).transport, 'ws');
    const deepLink = new URL(page.url());
    assert.equal(deepLink.pathname, '/tw/', 'the deep link keeps the prefix');
    assert.equal(deepLink.searchParams.get('room'), 'e2e-prefix');
    await page.click('#invite-btn');
    await page.waitForFunction(() => {
      const img = /** @type {HTMLImageElement} */ (document.querySelector('#invite-qr'));
      return img.complete && img.naturalWidth > 0;
    });
    await page.waitForFunction(() => document.querySelector('#invite-link')?.textContent);
    const inviteLink = new URL(await page.$eval('#invite-link', (a) => /** @type {HTMLAnchorElement} */ (a).href));
    assert.match(inviteLink.pathname, /^\/tw\//, 'the room\'s invite keeps the prefix');
    assert.equal(inviteLink.searchParams.get('room'), 'e2e-prefix');
    await page.click('#leave-btn');
    await page.waitForSelector('#lobby:not([hidden])');
    assert.equal(new URL(page.url()).pathname, '/tw/');

    // The HTTP fallback is found next to the WebSocket URL, under the prefix too.
    await page.goto(`${proxy.http}/?room=e2e-prefix-http&transport=stream`);
    await page.waitForSelector('#game[data-state="joined"]');
    assert.equal((await gameState(page)).transport, 'stream');
    await page.click('#leave-btn');
    await page.waitForSelector('#lobby:not([hidden])');

    // The lobby's link to the dashboard, and the dashboard's polls.
    await page.click('a:has-text("Operator dashboard")');
    await page.waitForURL(`${proxy.http}/dashboard`);
    await page.waitForFunction(() => Number(document.body.dataset.samples) >= 2);
    await page.waitForSelector('#status.live');
    await page.waitForSelector('#rooms-body tr:has-text("e2e-prefix")');
    const links = await page.$$eval('nav a, #rooms-body a', (anchors) => anchors.map((a) => new URL(/** @type {HTMLAnchorElement} */ (a).href).pathname));
    assert.ok(links.length >= 5, links.join(' '));
    for (const path of links) assert.match(path, /^\/tw\//, `a link leaves the prefix: ${links.join(' ')}`);

    assert.deepEqual(proxy.strays(), [], 'requests outside the prefix');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
