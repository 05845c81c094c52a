// The game page and the dashboard end to end, in real headless Chromium against the real server
// binary (which serves the copy of client-web/ compiled into it). Assertions about movement are
// made on the server's view (a spectator), not only on the page's.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { startServer, startProxy, until, getJson } from '../support/server.js';
import { launch, openPage, watch, gameState, SCREENSHOTS, REMEMBERED_NAME } from '../support/browser.js';
import { TickwireClient, PROTOCOL_VERSION, worldEntity, Arena } from '../../sdk/index.js';

assert.ok(globalThis.WebSocket, 'run with node --experimental-websocket (Node 20) or Node 22+');

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  // Everything visible to everyone, so "see each other" does not depend on where ships spawn.
  server = await startServer(['--view-radius', '0', '--seed', '11']);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** @param {string} name */
const shot = (name) => join(SCREENSHOTS, `${name}.png`);

/**
 * Holds a direction on the page long enough for the server to move the ship, and returns how
 * far the server saw it move along x.
 * @param {Awaited<ReturnType<typeof watch>>} referee
 * @param {number} entity
 * @param {(direction: 1 | -1) => Promise<void>} press starts holding the control
 * @param {() => Promise<void>} release
 */
async function pushAndMeasure(referee, entity, press, release) {
  const start = await until(() => referee.ship(entity), 'the ship in the server view');
  const direction = start.pos.x < 800 * 16 ? 1 : -1;
  await press(direction);
  const moved = await until(() => {
    const now = referee.ship(entity);
    return now && (now.pos.x - start.pos.x) * direction > 80 * 16 ? now : null;
  }, 'the server moving the ship 80 units the way it was steered');
  await release();
  return (moved.pos.x - start.pos.x) * direction / 16;
}

test('the lobby loads with no console errors and lists rooms live, with a QR code', async () => {
  const { context, page, errors } = await openPage(browser);
  const other = new TickwireClient({ url: server.ws, name: 'early', room: 'lobby-seen' });
  other.connect();
  await page.goto(server.http);
  await page.waitForSelector('#lobby:not([hidden])');
  assert.equal(await page.title(), 'tickwire arena');
  await page.waitForSelector('#rooms-body tr[data-room="lobby-seen"]', { timeout: 10000 });
  assert.match(await page.textContent('#rooms-status') ?? '', /open · live/);
  const qr = await page.waitForFunction(() => {
    const img = /** @type {HTMLImageElement} */ (document.querySelector('#lobby-qr'));
    return img.complete && img.naturalWidth > 0 ? img.naturalWidth : 0;
  });
  assert.ok(Number(await qr.jsonValue()) >= 100, 'the QR code rendered');
  await page.click('#rooms-body tr[data-room="lobby-seen"]');
  await page.waitForFunction(() => document.querySelector('#lobby-link')?.textContent?.includes('room=lobby-seen'));
  await page.screenshot({ path: shot('lobby') });
  await other.leave();
  assert.deepEqual(errors, []);
  await context.close();
});

test('a player joins from the lobby and key presses move the ship on the server', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(server.http);
  await page.fill('#name', 'keyboard');
  await page.fill('#room-name', 'e2e-keys');
  await page.click('#create-form button[type="submit"]');
  await page.waitForSelector('#game[data-state="joined"]');
  const state = await gameState(page);
  assert.equal(state.room, 'e2e-keys');
  assert.equal(state.role, 'Player');
  assert.equal(new URL(page.url()).searchParams.get('room'), 'e2e-keys', 'the URL is a deep link to the room');
  const entity = Number(state.entity);
  const referee = await watch(server.ws, 'e2e-keys');
  const moved = await pushAndMeasure(referee, entity,
    (dir) => page.keyboard.down(dir > 0 ? 'KeyD' : 'KeyA'),
    async () => { await page.keyboard.up('KeyD'); await page.keyboard.up('KeyA'); });
  assert.ok(moved > 80);
  // Boost is a held button the server reports in the ship's flags.
  await page.keyboard.down('Space');
  await until(() => (referee.ship(entity)?.flags ?? 0) & 2, 'the server sees the boost');
  await page.keyboard.up('Space');
  await page.waitForFunction(() => Number(document.querySelector('#hud-fps')?.textContent) > 0);
  assert.match(await page.textContent('#hud-tick') ?? '', /^\d+$/);
  assert.match(await page.textContent('#scoreboard') ?? '', /keyboard/);
  await page.screenshot({ path: shot('keys') });
  await referee.leave();
  await page.click('#leave-btn');
  await page.waitForSelector('#lobby:not([hidden])');
  await until(async () => !(await getJson(`${server.http}/rooms`)).some((/** @type {any} */ r) => r.id === 'e2e-keys' && r.players > 0),
    'the seat freed at once by the close 1000');
  // The next room starts clean: nothing of the last one's chat or scoreboard.
  await page.fill('#room-name', 'e2e-keys-next');
  await page.click('#create-form button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('#chat-log')?.textContent?.includes('You joined e2e-keys-next.'));
  const log = await page.textContent('#chat-log') ?? '';
  assert.ok(!log.includes('You joined e2e-keys.'), `the last room's chat is gone: ${log}`);
  await page.click('#leave-btn');
  await page.waitForSelector('#lobby:not([hidden])');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a gamepad (Gamepad API) steers and boosts', async () => {
  const { context, page, errors } = await openPage(browser);
  // A standard-mapping pad, as navigator.getGamepads() reports a connected one.
  await context.addInitScript(() => {
    const pad = {
      id: 'virtual pad', index: 0, connected: true, mapping: 'standard', timestamp: 0, axes: [0, 0, 0, 0],
      buttons: Array.from({ length: 17 }, () => ({ pressed: false, touched: false, value: 0 })),
    };
    Object.defineProperty(globalThis, 'virtualPad', { value: pad });
    Object.defineProperty(navigator, 'getGamepads', { value: () => [pad, null, null, null] });
  });
  await page.goto(`${server.http}/?room=e2e-pad`);
  await page.waitForSelector('#game[data-state="joined"]');
  const entity = Number((await gameState(page)).entity);
  const referee = await watch(server.ws, 'e2e-pad');
  const setPad = (/** @type {number} */ x, /** @type {boolean} */ a) => page.evaluate(([x, a]) => {
    const pad = /** @type {any} */ (globalThis).virtualPad;
    pad.axes[0] = x;
    pad.buttons[0].pressed = a;
  }, /** @type {[number, boolean]} */ ([x, a]));
  const moved = await pushAndMeasure(referee, entity, (dir) => setPad(dir * 0.9, false), () => setPad(0, false));
  assert.ok(moved > 80);
  await setPad(0, true);
  await until(() => (referee.ship(entity)?.flags ?? 0) & 2, 'the server sees the pad boost');
  await setPad(0, false);
  // The view says what the pad's buttons do while it steers.
  await page.waitForSelector('#pad-hint:visible');
  assert.match(await page.textContent('#pad-hint') ?? '', /Start.*chat/);
  // Start opens the chat box, and closes it again.
  const start = (/** @type {boolean} */ down) => page.evaluate((down) => {
    /** @type {any} */ (globalThis).virtualPad.buttons[9].pressed = down;
  }, down);
  for (const open of [true, false]) {
    await start(true);
    await page.waitForFunction((open) => (document.activeElement?.id === 'chat-input') === open, open);
    await start(false);
    // Let go as a frame sees it: pressed again before, it would be the same press still.
    await page.waitForFunction(() => globalThis.tickwire.game?.controls.startHeld === false);
  }
  await referee.leave();
  assert.deepEqual(errors, []);
  await context.close();
});

test('two browsers see each other and chat goes across', async () => {
  const a = await openPage(browser);
  const b = await openPage(browser);
  await a.page.goto(server.http);
  await a.page.fill('#name', 'alice');
  await a.page.evaluate(() => localStorage.setItem('tickwire.name', 'alice'));
  await a.page.goto(`${server.http}/?room=e2e-two`);
  await b.page.goto(server.http);
  await b.page.evaluate(() => localStorage.setItem('tickwire.name', 'bob'));
  await b.page.goto(`${server.http}/?room=e2e-two`);
  await a.page.waitForSelector('#game[data-state="joined"]');
  await b.page.waitForSelector('#game[data-state="joined"]');
  const aEntity = Number((await gameState(a.page)).entity);
  const bEntity = Number((await gameState(b.page)).entity);
  assert.notEqual(aEntity, bEntity);
  const sees = (/** @type {import('playwright-core').Page} */ page, /** @type {number} */ id) => page.waitForFunction(
    (other) => globalThis.tickwire.game?.lastEntities.some((/** @type {any} */ e) => e.id === other), id);
  await sees(a.page, bEntity);
  await sees(b.page, aEntity);
  await a.page.waitForFunction(() => /bob/.test(document.querySelector('#scoreboard')?.textContent ?? ''));
  await b.page.waitForFunction(() => /alice/.test(document.querySelector('#scoreboard')?.textContent ?? ''));

  await a.page.keyboard.press('Enter');
  await a.page.keyboard.type('hello from alice ✨');
  await a.page.keyboard.press('Enter');
  await b.page.waitForFunction(() => [...document.querySelectorAll('#chat-log li')]
    .some((li) => li.textContent === 'alicehello from alice ✨'));
  assert.equal(await a.page.inputValue('#chat-input'), '', 'the chat box clears after sending');
  await b.page.screenshot({ path: shot('two-players') });
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  await a.context.close();
  await b.context.close();
});

test('a dropped connection shows "reconnecting" and resumes the same ship', async () => {
  const proxy = await startProxy(server.port);
  const { context, page, errors } = await openPage(browser);
  await page.goto(`http://127.0.0.1:${proxy.port}/?room=e2e-drop`);
  await page.waitForSelector('#game[data-state="joined"]');
  const before = await gameState(page);
  const referee = await watch(server.ws, 'e2e-drop');
  await until(() => referee.ship(Number(before.entity)), 'the ship in the server view');
  // The reconnect is held at the proxy until the banner has been seen and photographed: it
  // stays up until the next Welcome, which cannot come before then, however slow the machine.
  proxy.hold();
  assert.ok(proxy.cut() >= 1);
  await page.waitForSelector('#banner:not([hidden]):has-text("Reconnecting")');
  await page.screenshot({ path: shot('reconnecting') });
  proxy.release();
  await page.waitForSelector('#game[data-connections="2"][data-state="joined"]');
  const after = await gameState(page);
  assert.equal(after.resumed, 'true');
  assert.equal(after.playerId, before.playerId);
  assert.equal(after.entity, before.entity);
  // The page tells the player, in the Welcome's handler (the one that counted the connection);
  // it hides that banner 2.5 s later, so the test asks for its text, shown or hidden by then.
  await page.waitForSelector('#banner.ok:has-text("your ship is back")', { state: 'attached' });
  assert.ok(referee.ship(Number(before.entity)), 'the ship never left the server');
  assert.ok(!referee.events.some((e) => e.type === 'Left' && e.player === Number(before.playerId)), 'no Left event');
  // Still steerable after the resume.
  const moved = await pushAndMeasure(referee, Number(after.entity),
    (dir) => page.keyboard.down(dir > 0 ? 'ArrowRight' : 'ArrowLeft'),
    async () => { await page.keyboard.up('ArrowRight'); await page.keyboard.up('ArrowLeft'); });
  assert.ok(moved > 80);
  await referee.leave();
  // The 1006 of the cut WebSocket is the only error Chromium may log; nothing else.
  assert.deepEqual(errors.filter((e) => !/WebSocket connection to .* failed/.test(e)), []);
  await context.close();
  await proxy.close();
});

test('through a stalled downlink the other ships move on, then ease back, and the HUD says the link stalled', async (t) => {
  const proxy = await startProxy(server.port);
  // The other ship: a bot chasing a point that goes round the arena's middle, so it is always
  // moving and never at a wall, wherever it spawned.
  const mover = new TickwireClient({ url: server.ws, name: 'mover', room: 'e2e-stall' });
  mover.connect();
  let angle = 0;
  const steer = setInterval(() => {
    angle += 0.05;
    const world = mover.session.world;
    const own = mover.session.welcome?.entity;
    const ship = world && own !== undefined && own !== null ? worldEntity(world, own) : undefined;
    if (!ship) return;
    const [x, y] = [ship.pos.x / 16, ship.pos.y / 16];
    const [toX, toY] = [800 + 300 * Math.cos(angle) - x, 500 + 300 * Math.sin(angle) - y];
    const length = Math.hypot(toX, toY) || 1;
    mover.setInput({ x: toX / length, y: toY / length, buttons: 0 });
  }, 50);
  // Whatever fails, nothing of this test keeps the run alive.
  t.after(async () => {
    clearInterval(steer);
    mover.leave();
    await proxy.close();
  });
  await until(() => mover.session.welcome?.entity ?? null, 'the mover joined');
  const moverShip = Number(mover.session.welcome?.entity);
  const { context, page, errors } = await openPage(browser);
  t.after(() => context.close());
  await page.goto(`http://127.0.0.1:${proxy.port}/?room=e2e-stall&spectate=1`);
  await page.waitForSelector('#game[data-state="joined"]');
  // Every frame: the mover as drawn, as the snapshots alone put it (the SDK's interpolation
  // without the settling), how far past the newest snapshot the frame is, and the ping cell.
  await page.evaluate((id) => {
    /** @type {any[]} */
    const log = [];
    /** @type {any} */ (globalThis).stallLog = log;
    const record = () => {
      const game = /** @type {any} */ (globalThis).tickwire.game;
      const now = performance.now();
      const drawn = game?.lastEntities.find((/** @type {any} */ e) => e.id === id);
      const raw = game?.interp?.interpolate(game.interp.renderTick(now)).entities.find((/** @type {any} */ e) => e.id === id);
      if (drawn && raw) {
        log.push({ now, x: drawn.x, y: drawn.y, vx: drawn.vx, vy: drawn.vy, rawX: raw.x, rawY: raw.y, stale: game.staleMs, ping: document.querySelector('#hud-ping')?.textContent });
      }
      requestAnimationFrame(record);
    };
    requestAnimationFrame(record);
  }, moverShip);
  await page.waitForFunction(() => /** @type {any} */ (globalThis).stallLog.length > 60, undefined, { timeout: 10000 });
  const pause = (/** @type {number} */ ms) => new Promise((done) => setTimeout(done, ms));
  await pause(1000); // the interpolation's delay settles on the link
  // Long enough that the frames go past the extrapolation's 250 ms by about as much again,
  // however far behind a loaded machine made the page draw; short enough that a ship at full
  // speed is eased back, not jumped (under 200 units off).
  const delayMs = await page.evaluate(() => /** @type {any} */ (globalThis).tickwire.game.interp.delayTicks * (1000 / 30));
  proxy.stallDown();
  await pause(500 + delayMs);
  proxy.resumeDown();
  await pause(700);
  /** @type {{ now: number, x: number, y: number, vx: number, vy: number, rawX: number, rawY: number, stale: number, ping: string }[]} */
  const log = await page.evaluate(() => /** @type {any} */ (globalThis).stallLog);
  const stalled = log.findIndex((f) => f.stale > 0 && f.stale <= 200 && log.some((g) => g.stale > 300));
  assert.ok(stalled > 0, 'frames were drawn past the newest snapshot');
  // Moved on by its velocity through the first 200 ms past the newest snapshot, every frame
  // (a ship against a wall, held there, is left out).
  const clear = (/** @type {typeof log[0]} */ f) => f.x > 30 && f.x < 1570 && f.y > 30 && f.y < 970 && Math.hypot(f.vx, f.vy) > 30;
  const extrapolated = log.filter((f, i) => i > 0 && f.stale > 0 && f.stale <= 200 && clear(f) && clear(log[i - 1]));
  const stood = extrapolated.filter((f) => f.x === log[log.indexOf(f) - 1].x && f.y === log[log.indexOf(f) - 1].y);
  assert.ok(extrapolated.length > 0, `some frames extrapolated, clear of the walls: ${JSON.stringify(log.filter((f) => f.stale > 0 && f.stale <= 200).slice(0, 3))}`);
  assert.deepEqual(stood, [], 'no frame stood still while extrapolating');
  // Past the extrapolation the ping cell said so; once the snapshots came, the round trip again.
  assert.ok(log.some((f) => /^stalled \d\.\d s$/.test(f.ping)), `the ping cell said stalled: ${[...new Set(log.map((f) => f.ping))]}`);
  assert.doesNotMatch(log.at(-1)?.ping ?? '', /stalled/);
  // When the snapshots came, the ship was not jumped to where they put it but eased there.
  const back = log.findIndex((f, i) => i > 0 && log[i - 1].stale > 250 && f.stale === 0);
  assert.ok(back > 0, 'the snapshots came back');
  const gap = Math.hypot(log[back].x - log[back].rawX, log[back].y - log[back].rawY);
  const heldGap = Math.hypot(log[back - 1].x - log[back].rawX, log[back - 1].y - log[back].rawY);
  assert.ok(heldGap < 5 || gap > 0.5, `settling from ${heldGap.toFixed(1)} units: ${gap.toFixed(1)} left in the first frame back`);
  // Then where they put it, once the 200 ms are over (a frame at least: a loaded machine's
  // link may hiccup again, and that is eased from too).
  const off = log.filter((f) => f.now > log[back].now + 220).map((f) => Math.hypot(f.x - f.rawX, f.y - f.rawY));
  assert.ok(off.some((d) => d < 0.5), `then drawn where the snapshots put it: ${off.map((d) => d.toFixed(2))}`);
  assert.deepEqual(errors, []);
});

test('back from the background on another network, the page checks its link at once and takes its seat back', async (t) => {
  const proxy = await startProxy(server.port);
  t.after(() => proxy.close());
  const { context, page, errors } = await openPage(browser);
  t.after(() => context.close());
  await page.goto(`http://127.0.0.1:${proxy.port}/?room=e2e-away`);
  await page.waitForSelector('#game[data-state="joined"]');
  const before = await gameState(page);
  const pause = (/** @type {number} */ ms) => new Promise((done) => setTimeout(done, ms));
  // When the page was shown again, and each state it went through: a resume on this machine
  // takes a few ms, too brief to poll for.
  await page.evaluate(() => {
    /** @type {{ state: string | undefined, at: number }[]} */
    const states = [];
    /** @type {any} */ (globalThis).states = states;
    const game = /** @type {HTMLElement} */ (document.querySelector('#game'));
    new MutationObserver(() => states.push({ state: game.dataset.state, at: performance.now() }))
      .observe(game, { attributes: true, attributeFilter: ['data-state'] });
  });
  /** @param {boolean} hidden */
  const setHidden = (hidden) => page.evaluate((hidden) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
    if (!hidden) /** @type {any} */ (globalThis).shownAt = performance.now();
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
  // A phone: the page hidden, then its scripts frozen; the network switched while away, which
  // leaves the old connection open and silent both ways. Snapshots of before the switch wait
  // in the browser for the page to come back.
  await setHidden(true);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Debugger.enable');
  await cdp.send('Debugger.pause');
  await pause(1000);
  assert.ok(proxy.deafen() >= 2, 'the game\'s connection went deaf');
  await pause(2000);
  await cdp.send('Debugger.resume');
  await setHidden(false);
  await page.waitForSelector('#game[data-connections="2"][data-state="joined"]', { timeout: 15000 });
  const noticed = await page.evaluate(() => {
    const g = /** @type {any} */ (globalThis);
    const lost = g.states.find((/** @type {{ state: string, at: number }} */ s) => s.state === 'reconnecting');
    return lost ? lost.at - g.shownAt : null;
  });
  // The waiting messages passed for news from the server: nothing said the link was dead until
  // the silence timeout, 5 s after they were handled.
  assert.ok(noticed !== null && noticed < 3500, `the dead link was given up on ${noticed} ms after the page came back`);
  const after = await gameState(page);
  assert.equal(after.resumed, 'true');
  assert.equal(after.entity, before.entity);
  assert.deepEqual(errors.filter((e) => !/WebSocket connection to .* failed/.test(e)), []);
});

test('on a phone held upright, the longest banner takes two lines and keeps clear of the ping cell and the scoreboard', async () => {
  const { context, page, errors } = await openPage(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await page.goto(`${server.http}/?room=e2e-banner`);
  await page.waitForSelector('#game[data-state="joined"]');
  await page.waitForSelector('#scoreboard li');
  const boxes = await page.evaluate(() => {
    const banner = /** @type {HTMLElement} */ (document.querySelector('#banner'));
    banner.className = 'banner ok';
    banner.textContent = 'Reconnected as a new ship: the server no longer had your seat (it may have restarted).';
    const rect = (/** @type {Element | null} */ el) => {
      const r = /** @type {Element} */ (el).getBoundingClientRect();
      return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, height: r.height };
    };
    return {
      banner: rect(banner), lineHeight: parseFloat(getComputedStyle(banner).fontSize) * 1.5,
      ping: rect(document.querySelector('#hud-ping')?.closest('.netstats') ?? null), scores: rect(document.querySelector('#scoreboard')),
    };
  });
  const { banner, ping, scores } = boxes;
  // Half the screen wide (a box placed at 50%), it wrapped to six lines over both.
  assert.ok(banner.height < 2.4 * boxes.lineHeight + 16, `two lines at most: ${banner.height} px high`);
  assert.ok(banner.left >= 0 && banner.right <= 390, `on the screen: ${banner.left}..${banner.right}`);
  for (const [what, box] of /** @type {const} */ ([['ping cell', ping], ['scoreboard', scores]])) {
    const overlaps = banner.left < box.right && box.left < banner.right && banner.top < box.bottom && box.top < banner.bottom;
    assert.ok(!overlaps, `clear of the ${what}: ${JSON.stringify({ banner, box })}`);
  }
  await page.screenshot({ path: shot('banner-portrait') });
  assert.deepEqual(errors, []);
  await context.close();
});

test('a kick shows its reason instead of retrying', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(`${server.http}/?room=e2e-kick`);
  await page.waitForSelector('#game[data-state="joined"]');
  // Flood the chat past its rate limit (2 lines per second, burst 5), as a page whose chat is
  // not paced would: the SDK paces `chat()`, so the lines go out through the session directly.
  await page.evaluate(() => {
    const client = globalThis.tickwire.game?.client;
    for (let i = 0; i < 10; i++) client?.session.send({ type: 'Chat', text: `spam ${i}` });
    client?.drive();
  });
  await page.waitForSelector('#failure:not([hidden])');
  assert.match(await page.textContent('#failure-text') ?? '', /too fast/);
  assert.equal((await gameState(page)).failure, 'RateLimited');
  // A screen reader announces the dialog by its title and, as its description, the reason.
  const cdp = await context.newCDPSession(page);
  const { root } = await cdp.send('DOM.getDocument');
  const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: '#failure' });
  const [dialog] = (await cdp.send('Accessibility.getPartialAXTree', { nodeId, fetchRelatives: false })).nodes;
  assert.equal(dialog.role?.value, 'alertdialog');
  assert.equal(dialog.name?.value, 'Disconnected');
  assert.match(String(dialog.description?.value ?? ''), /too fast/, 'the reason is the dialog\'s description');
  await page.waitForTimeout(800);
  assert.equal((await gameState(page)).state, 'failed', 'no reconnect after a kick');
  await page.screenshot({ path: shot('kicked') });
  await page.click('#failure-lobby');
  await page.waitForSelector('#lobby:not([hidden])');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a page restored from the back/forward cache takes its seat back', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(`${server.http}/?room=e2e-bfcache`);
  await page.waitForSelector('#game[data-state="joined"]');
  const players = async () => (await getJson(`${server.http}/rooms`)).find((/** @type {any} */ r) => r.id === 'e2e-bfcache')?.players ?? 0;
  const first = await gameState(page);
  // What the browser fires when it puts the page into the cache: the page closes its
  // connection with a code that keeps the seat, and the server holds it. (Not frozen here, the
  // page reconnects at once, to the same seat.)
  await page.evaluate(() => window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true })));
  await page.waitForSelector('#game[data-connections="2"][data-state="joined"]');
  assert.equal(await players(), 1, 'the seat was held');
  await page.evaluate(() => window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true })));
  const state = await gameState(page);
  assert.equal(state.room, 'e2e-bfcache');
  assert.equal(state.resumed, 'true');
  assert.equal(state.playerId, first.playerId, 'the same seat');
  assert.equal(state.entity, first.entity, 'the same ship');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tickwire.seat')), null, 'the restored page took its seat back: nothing for a reload');
  // The page still plays: snapshots keep coming.
  const tick = await page.evaluate(() => globalThis.tickwire.game?.client.session.world?.tick ?? 0);
  await until(() => page.evaluate((t) => (globalThis.tickwire.game?.client.session.world?.tick ?? 0) > t + 10, tick), 'snapshots after the restore');
  assert.equal(await players(), 1);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a reload comes back to the same ship with its score; after Leave, a reload does not', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(`${server.http}/?room=e2e-reload`);
  await page.waitForSelector('#game[data-state="joined"]');
  const before = await gameState(page);
  const entity = Number(before.entity);
  const referee = await watch(server.ws, 'e2e-reload');
  // Flies to the nearest orb until the ship scores: a score a new seat would not have.
  /** @type {string[]} */
  let held = [];
  const steer = async (/** @type {string[]} */ keys) => {
    for (const key of held) if (!keys.includes(key)) await page.keyboard.up(key);
    for (const key of keys) if (!held.includes(key)) await page.keyboard.down(key);
    held = keys;
  };
  const scored = await until(async () => {
    const ship = referee.ship(entity);
    if (!ship) return null;
    if (ship.value > 0) return ship.value;
    const orbs = referee.client.session.world?.entities.filter((e) => e.kind === Arena.KIND_PICKUP) ?? [];
    const near = orbs.sort((a, b) => Math.hypot(a.pos.x - ship.pos.x, a.pos.y - ship.pos.y) - Math.hypot(b.pos.x - ship.pos.x, b.pos.y - ship.pos.y))[0];
    if (near) {
      const dx = near.pos.x - ship.pos.x;
      const dy = near.pos.y - ship.pos.y;
      await steer([...(Math.abs(dx) > 16 * 8 ? [dx > 0 ? 'ArrowRight' : 'ArrowLeft'] : []), ...(Math.abs(dy) > 16 * 8 ? [dy > 0 ? 'ArrowDown' : 'ArrowUp'] : [])]);
    }
    return null;
  }, 'the ship scoring', 45000);
  await steer([]);
  await page.reload();
  await page.waitForSelector('#game[data-state="joined"]');
  const after = await gameState(page);
  assert.equal(after.resumed, 'true');
  assert.equal(after.playerId, before.playerId, 'the same player');
  assert.equal(after.entity, before.entity, 'the same ship');
  await page.waitForSelector('#banner.ok:has-text("your ship is back")', { state: 'attached' });
  const score = referee.ship(entity)?.value ?? -1;
  assert.ok(score >= scored, `the score kept: ${score}, ${scored} before the reload`);
  await page.waitForFunction((s) => document.querySelector('#scoreboard li.me .pts')?.textContent === String(s), score);
  assert.ok(!referee.events.some((e) => e.type === 'Left' && e.player === Number(before.playerId)), 'the ship never left');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tickwire.seat')), null, 'the seat token was taken once');
  // Leave gives the seat up; the lobby a reload then shows joins nobody.
  await page.click('#leave-btn');
  await page.waitForSelector('#lobby:not([hidden])');
  await until(() => referee.events.some((e) => e.type === 'Left' && e.player === Number(before.playerId)), 'the seat given up at once');
  await page.reload();
  await page.waitForSelector('#lobby:not([hidden])');
  assert.equal(await page.isHidden('#game'), true);
  await page.goto(`${server.http}/?room=e2e-reload`);
  await page.waitForSelector('#game[data-state="joined"]');
  const again = await gameState(page);
  assert.equal(again.resumed, 'false');
  assert.notEqual(again.playerId, before.playerId, 'a new seat');
  await referee.leave();
  assert.deepEqual(errors, []);
  await context.close();
});

test('the chat box and the name field stop at the bytes the protocol takes; a phone\'s lobby has no QR code for phones', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(server.http);
  await page.waitForSelector('#lobby:not([hidden])');
  assert.equal(await page.isVisible('.phone-card'), true, 'a computer shows it');
  await page.fill('#name', 'Al👨‍👩‍👧‍👦');
  assert.equal(await page.inputValue('#name'), 'Al', 'the family emoji left out whole, not cut to a dangling joiner');
  await page.goto(`${server.http}/?room=e2e-bytes`);
  await page.waitForSelector('#game[data-state="joined"]');
  const referee = await watch(server.ws, 'e2e-bytes');
  await page.keyboard.press('Enter');
  await page.fill('#chat-input', 'é'.repeat(200));
  assert.equal(await page.inputValue('#chat-input'), 'é'.repeat(100), 'the box holds what is sent: 200 bytes');
  await page.keyboard.press('Enter');
  await until(() => referee.events.some((e) => e.type === 'Chat' && e.text === 'é'.repeat(100)), 'the line arriving as it was shown');
  await referee.leave();
  assert.deepEqual(errors, []);
  await context.close();
  const phone = await openPage(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await phone.page.goto(server.http);
  await phone.page.waitForSelector('#lobby:not([hidden])');
  assert.equal(await phone.page.isVisible('.phone-card'), false, 'the phone is where the QR code would bring the game');
  assert.deepEqual(phone.errors, []);
  await phone.context.close();
});

test('a version mismatch shows its reason instead of retrying, and reloads the page for the game the server runs', async () => {
  const { context, page, errors } = await openPage(browser);
  // An out-of-date page: the scripts of the protocol version before the server's.
  await context.route('**/sdk/src/constants.js', async (route) => {
    const response = await route.fetch();
    const body = (await response.text()).replace(/PROTOCOL_VERSION = \d+;/, `PROTOCOL_VERSION = ${PROTOCOL_VERSION - 1};`);
    await route.fulfill({ response, body });
  });
  await page.goto(`${server.http}/?room=e2e-old`);
  await page.waitForSelector('#failure:not([hidden])');
  assert.equal(await page.textContent('#failure-title'), 'Game updated');
  const said = new RegExp(`^The game was updated: the server now speaks protocol version ${PROTOCOL_VERSION}, and this page version ${PROTOCOL_VERSION - 1}\\. Reload`);
  assert.match(await page.textContent('#failure-text') ?? '', said);
  assert.equal((await gameState(page)).failure, 'VersionMismatch');
  // "Try again" would join with the same scripts: Reload is the way on, and has the focus.
  assert.equal(await page.isHidden('#failure-retry'), true);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'failure-reload');
  await page.waitForTimeout(800);
  assert.equal((await gameState(page)).state, 'failed', 'no reconnect after a version mismatch');
  const reloaded = page.waitForEvent('load');
  await page.keyboard.press('Enter');
  await reloaded;
  await page.waitForSelector('#failure:not([hidden])');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a deep-linked spectator sees the match', async () => {
  const bots = ['comet', 'nova', 'vega'].map((name, i) => {
    const bot = new TickwireClient({ url: server.ws, name, room: 'e2e-watch' });
    bot.connect();
    let angle = i * 2;
    const timer = setInterval(() => { angle += 0.3; bot.setInput({ x: Math.cos(angle), y: Math.sin(angle), buttons: i === 1 ? 1 : 0 }); }, 150);
    return { bot, timer };
  });
  await until(() => bots.every(({ bot }) => bot.session.isJoined()), 'bots joined');
  const { context, page, errors } = await openPage(browser);
  await page.goto(`${server.http}/?room=e2e-watch&spectate=1`);
  await page.waitForSelector('#game[data-state="joined"][data-role="Spectator"]');
  assert.equal(await page.textContent('#hud-role'), 'watching');
  // The page counts itself among the spectators (Event::Audience), not as a roster entry.
  await page.waitForFunction(() => document.querySelector('#hud-audience')?.textContent === '1');
  await page.waitForFunction(() => (globalThis.tickwire.game?.lastEntities.filter((/** @type {any} */ e) => e.kind === 0).length ?? 0) >= 3);
  const shipIds = await page.evaluate(() => (globalThis.tickwire.game?.lastEntities ?? []).filter((/** @type {any} */ e) => e.kind === 0).map((/** @type {any} */ e) => e.id).sort());
  assert.deepEqual(shipIds, bots.map(({ bot }) => bot.session.welcome?.entity).sort());
  assert.equal(await page.isHidden('#touch'), true, 'no touch controls on a desktop');
  await page.waitForFunction(() => /comet/.test(document.querySelector('#scoreboard')?.textContent ?? ''));
  await page.waitForTimeout(1500);
  await page.screenshot({ path: shot('spectator') });
  for (const { bot, timer } of bots) {
    clearInterval(timer);
    await bot.leave();
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test('on a phone, the virtual stick moves the ship', async () => {
  const { context, page, errors } = await openPage(browser, {
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
  });
  await page.goto(`${server.http}/?room=e2e-touch`);
  await page.waitForSelector('#game[data-state="joined"]');
  await page.waitForSelector('#touch:not([hidden])');
  const entity = Number((await gameState(page)).entity);
  const referee = await watch(server.ws, 'e2e-touch');
  const cdp = await context.newCDPSession(page);
  /** @param {'touchStart' | 'touchMove' | 'touchEnd'} type @param {number} x @param {number} y */
  const touch = async (type, x, y) => {
    await cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x, y, id: 1 }] });
  };
  const moved = await pushAndMeasure(referee, entity, async (dir) => {
    await touch('touchStart', 120, 600);
    await touch('touchMove', 120 + dir * 30, 600);
    await touch('touchMove', 120 + dir * 70, 602);
    await page.screenshot({ path: shot('phone') });
  }, () => touch('touchEnd', 0, 0));
  assert.ok(moved > 80);
  const boost = await page.$('#boost-btn');
  const box = await boost?.boundingBox();
  assert.ok(box, 'the boost button is on screen');
  await touch('touchStart', box.x + box.width / 2, box.y + box.height / 2);
  await until(() => (referee.ship(entity)?.flags ?? 0) & 2, 'the server sees the touch boost');
  await touch('touchEnd', 0, 0);
  await referee.leave();
  assert.deepEqual(errors, []);
  await context.close();
});

test('on a phone with a notch, the HUD keeps clear of the unsafe edges', async () => {
  const { context, page, errors } = await openPage(browser, {
    viewport: { width: 844, height: 390 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
  });
  await page.goto(`${server.http}/?room=e2e-notch`);
  await page.waitForSelector('#game[data-state="joined"]');
  await page.waitForSelector('#touch:not([hidden])');
  await page.waitForSelector('#scoreboard li');
  await page.click('#invite-btn');
  await page.waitForSelector('#invite:not([hidden])');
  /**
   * The HUD pieces that reach into the insets, set as an iPhone's are (Chromium has none of
   * its own). @param {Record<string, string>} insets
   */
  const unsafe = (insets) => page.evaluate((insets) => {
    const root = document.documentElement.style;
    for (const [side, px] of Object.entries(insets)) root.setProperty(`--safe-${side}`, px);
    const inset = (/** @type {string} */ side) => parseFloat(insets[side] ?? '0');
    /** @type {string[]} */
    const out = [];
    for (const selector of ['#leave-btn', '#invite-btn', '.hud-left', '.hud-top', '#scoreboard', '#chat', '#invite', '#boost-btn']) {
      const el = document.querySelector(selector);
      if (!el || !(el instanceof HTMLElement) || el.offsetParent === null) continue;
      const box = el.getBoundingClientRect();
      if (box.left < inset('l') || box.top < inset('t') || box.right > innerWidth - inset('r') || box.bottom > innerHeight - inset('b')) {
        out.push(`${selector} ${JSON.stringify(box)}`);
      }
    }
    return out;
  }, insets);
  // Held sideways, the notch on the left: the insets of an iPhone 14 in landscape.
  assert.deepEqual(await unsafe({ t: '0px', r: '47px', b: '21px', l: '47px' }), []);
  await page.screenshot({ path: shot('notch') });
  // Upright (the narrow layout): the notch on top, the home indicator below.
  await page.setViewportSize({ width: 390, height: 844 });
  assert.deepEqual(await unsafe({ t: '47px', r: '0px', b: '34px', l: '0px' }), []);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a name is cut to 24 bytes, and a game that cannot start leaves the lobby as it was', async () => {
  const { context, page, errors } = await openPage(browser);
  // Window and document listeners still attached (not aborted): what a failed game must not leave.
  await context.addInitScript(() => {
    /** @type {{ type: string, signal?: AbortSignal }[]} */
    const added = [];
    const add = EventTarget.prototype.addEventListener;
    /** @param {string} type @param {any} listener @param {any} [options] */
    EventTarget.prototype.addEventListener = function (type, listener, options) {
      if (this === window || this === document) added.push({ type, signal: typeof options === 'object' ? options.signal : undefined });
      return add.call(this, type, listener, options);
    };
    Object.defineProperty(globalThis, 'liveListeners', { value: () => added.filter((l) => !l.signal?.aborted).map((l) => l.type) });
  });
  await page.goto(server.http);
  // Saved by an older page: 29 letters, 55 bytes. Every reload and deep link started with it.
  await page.evaluate(() => localStorage.setItem('tickwire.name', 'Игорь Святославович Рюрикович'));
  await page.goto(`${server.http}/?room=e2e-name`);
  await page.waitForSelector('#game[data-state="joined"]');
  await page.waitForFunction(() => document.querySelector('#scoreboard')?.textContent?.includes('Игорь Святос'));
  await page.click('#leave-btn');
  await page.waitForSelector('#lobby:not([hidden])');
  assert.equal(await page.inputValue('#name'), 'Игорь Святос');
  // Typed: 9 CJK characters are 27 bytes, within maxlength's 24 characters.
  await page.fill('#name', '東京都渋谷区神宮前一丁目');
  await page.fill('#room-name', 'e2e-name');
  await page.click('#create-form button[type="submit"]');
  await page.waitForSelector('#game[data-state="joined"]');
  await page.waitForFunction(() => document.querySelector('#scoreboard')?.textContent?.includes('東京都渋谷区神宮'));
  await page.click('#leave-btn');
  await page.waitForSelector('#lobby:not([hidden])');

  // A game that throws as it starts (here: WebSocket forced, and none in this browser).
  await page.evaluate(() => Object.defineProperty(globalThis, 'WebSocket', { value: undefined }));
  await page.evaluate(() => history.replaceState(null, '', '/?transport=ws'));
  const before = await page.evaluate(() => /** @type {any} */ (globalThis).liveListeners());
  await page.click('#quick-play');
  await page.waitForSelector('#join-error:not([hidden])');
  assert.match(await page.textContent('#join-error') ?? '', /Could not start the game: no WebSocket/);
  assert.equal(await page.isVisible('#lobby'), true, 'the lobby, not a black screen');
  assert.equal(await page.isHidden('#game'), true);
  assert.deepEqual(await page.evaluate(() => /** @type {any} */ (globalThis).liveListeners()), before, 'no listener left behind');
  assert.deepEqual(errors, []);
  await context.close();
});

test('keyboard players press the game\'s buttons; a mouse click gives the keys back to the game', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(`${server.http}/?room=e2e-tab`);
  await page.waitForSelector('#game[data-state="joined"]');
  const held = () => page.evaluate(() => globalThis.tickwire.game?.controls.read());
  const focused = () => page.evaluate(() => document.activeElement?.id);
  // Reached with the keyboard, Space and Enter press the button, and open no chat.
  await page.focus('#invite-btn');
  await page.keyboard.press('Space');
  await page.waitForSelector('#invite:not([hidden])');
  assert.equal(await page.getAttribute('#invite-btn', 'aria-expanded'), 'true');
  // The keyboard goes into the invite (after Leave in the page), Tab reaches its link and its
  // box, and Escape closes it, back on Invite.
  assert.equal(await focused(), 'invite');
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'invite-link');
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'invite-spectate');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#invite', { state: 'hidden' });
  assert.equal(await focused(), 'invite-btn');
  assert.equal(await page.getAttribute('#invite-btn', 'aria-expanded'), 'false');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#invite:not([hidden])');
  assert.notEqual(await focused(), 'chat-input');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#invite', { state: 'hidden' });
  // Escape again gives the keys back to the game: Space boosts.
  await page.keyboard.press('Escape');
  await page.keyboard.down('Space');
  assert.equal((await held())?.buttons, 1);
  await page.keyboard.up('Space');
  // Clicked with the mouse, the checkbox of the invite steals nothing: keys steer, Space boosts.
  await page.click('#invite-btn');
  await page.click('label:has(#invite-spectate)');
  assert.equal(await page.isChecked('#invite-spectate'), true);
  await page.waitForFunction(() => document.activeElement === document.body);
  await page.keyboard.down('KeyD');
  await page.keyboard.down('Space');
  assert.deepEqual(await held(), { x: 1, y: 0, buttons: 1 });
  await page.keyboard.up('Space');
  await page.keyboard.up('KeyD');
  assert.equal(await page.isChecked('#invite-spectate'), true, 'Space did not untick it');
  assert.equal(await page.isVisible('#invite'), true, 'nor close the invite');
  // Enter on the page chats; on Leave, it leaves.
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'chat-input');
  await page.keyboard.press('Escape');
  await page.focus('#leave-btn');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#lobby:not([hidden])');
  // Leave went with the game: the keyboard is on the lobby's first control, not lost on the body.
  assert.equal(await focused(), 'quick-play');
  assert.deepEqual(errors, []);
  await context.close();
});

test('the room list keeps the keyboard focus across refreshes, and rows are chosen by keyboard', async () => {
  // Room b has more players than a, so it is listed above it.
  const a = new TickwireClient({ url: server.ws, name: 'a1', room: 'e2e-list-a' });
  const b = ['b1', 'b2'].map((name) => new TickwireClient({ url: server.ws, name, room: 'e2e-list-b' }));
  for (const c of [a, ...b]) c.connect();
  const { context, page, errors } = await openPage(browser);
  await page.goto(server.http);
  const order = () => page.$$eval('#rooms-body tr', (rows) => rows.map((r) => /** @type {HTMLElement} */ (r).dataset.room)
    .filter((room) => room === 'e2e-list-a' || room === 'e2e-list-b'));
  await until(async () => (await order()).join() === 'e2e-list-b,e2e-list-a', 'b listed above a');
  const watchA = '#rooms-body tr[data-room="e2e-list-a"] .btn.ghost';
  await page.focus(watchA);
  // Room a climbs above b (two more players) while the lobby refreshes every 2 s.
  const more = ['a2', 'a3'].map((name) => new TickwireClient({ url: server.ws, name, room: 'e2e-list-a' }));
  for (const c of more) c.connect();
  await until(async () => (await order()).join() === 'e2e-list-a,e2e-list-b', 'a listed above b');
  await page.waitForTimeout(2500); // and one refresh more
  assert.equal(await page.evaluate(() => {
    const focused = document.activeElement;
    return `${focused?.closest('tr')?.dataset.room} ${focused?.textContent}`;
  }), 'e2e-list-a Watch', 'still on the same button');
  // Named with its room, for a screen reader moving from button to button.
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Watch e2e-list-a');
  assert.equal(await page.getByRole('button', { name: 'Join e2e-list-b', exact: true }).count(), 1);
  // The row's name is a button: Enter on it shows that room's QR code.
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#qr-target')?.textContent === 'room e2e-list-a');
  assert.equal(await page.getAttribute('#rooms-body tr[data-room="e2e-list-a"] .room-pick', 'aria-pressed'), 'true');
  for (const c of [a, ...b, ...more]) await c.leave();
  assert.deepEqual(errors, []);
  await context.close();
});

test('"X left." names who left', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(`${server.http}/?room=e2e-left`);
  await page.waitForSelector('#game[data-state="joined"]');
  const bot = new TickwireClient({ url: server.ws, name: 'zed', room: 'e2e-left' });
  bot.connect();
  await page.waitForFunction(() => document.querySelector('#chat-log')?.textContent?.includes('zed joined.'));
  await bot.leave();
  const said = await page.waitForFunction(() => [...document.querySelectorAll('#chat-log li')]
    .map((li) => li.textContent ?? '').find((text) => /^(zed|Player \d+) left\.$/.test(text)));
  assert.equal(await said.jsonValue(), 'zed left.');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a server that turns the page away says so at once, not "connection lost"', async () => {
  const strict = await startServer(['--join-secret', 'e2e-secret']);
  const { context, page, errors } = await openPage(browser);
  try {
    // Quicker retries than a player's, so the test does not wait 8 s for the end.
    const hurry = () => page.waitForFunction(() => {
      const s = globalThis.tickwire.game?.client.session;
      if (s) Object.assign(s.reconnect, { initialDelayMs: 50, maxDelayMs: 100 });
      return s;
    });
    await page.goto(`${strict.http}/?room=e2e-denied&token=expired`);
    await hurry();
    // The fallback sees the 401, which every retry would meet too: the join ends at once.
    await page.waitForSelector('#failure:not([hidden])');
    assert.doesNotMatch(await page.textContent('#banner') ?? '', /Connection lost/);
    assert.equal(await page.textContent('#failure-title'), 'Turned away');
    assert.match(await page.textContent('#failure-text') ?? '', /^The server turned this page away \(HTTP 401: the join token/);
    assert.equal((await gameState(page)).failure, 'UnreachableError');
    // The dialog has the focus: Enter tries again, and Tab, Enter goes to the lobby.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'failure-retry');
    // The retry meets the same 401 at once: the dialog may hide and come back within one
    // frame, too briefly for a selector's polling to see, so its hiding is watched for.
    await page.evaluate(() => {
      const failure = /** @type {HTMLElement} */ (document.querySelector('#failure'));
      Object.assign(globalThis, { failureHid: false });
      new MutationObserver(() => {
        if (failure.hidden) Object.assign(globalThis, { failureHid: true });
      }).observe(failure, { attributes: true, attributeFilter: ['hidden'] });
    });
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /** @type {any} */ (globalThis).failureHid === true);
    await hurry();
    await page.waitForSelector('#failure:not([hidden])');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'failure-lobby');
    // The dialog is modal: Tab never reaches the game's controls behind it.
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      const outside = await page.evaluate(() => {
        const focused = document.activeElement;
        const inDialog = !focused || focused === document.body || document.querySelector('#failure')?.contains(focused);
        return inDialog ? null : focused.id || focused.tagName;
      });
      assert.equal(outside, null);
    }
    await page.focus('#failure-lobby');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#lobby:not([hidden])');
    // The browser's own reports of the refused upgrade and fetches; nothing else.
    assert.deepEqual(errors.filter((e) => !/WebSocket connection to .* failed|status of 401/.test(e)), []);
  } finally {
    await context.close();
    await strict.stop();
  }
});

/**
 * A join token as a game backend mints one (HS256, `--join-secret`).
 * @param {string} secret @param {Record<string, unknown>} claims
 */
function mintToken(secret, claims) {
  const part = (/** @type {object} */ o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const signed = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

test('the join token and a forced transport stay in the URL into games and back out, without URLSearchParams.size', async () => {
  const strict = await startServer(['--join-secret', 'e2e-secret']);
  const { context, page, errors } = await openPage(browser);
  try {
    // As in Safari before 17, Chrome before 113 and Firefox before 112.
    await context.addInitScript(() => { delete (/** @type {any} */ (URLSearchParams.prototype)).size; });
    const token = mintToken('e2e-secret', { sub: 'keeper', exp: Math.floor(Date.now() / 1000) + 600 });
    const kept = (/** @type {string} */ url) => {
      const params = new URL(url).searchParams;
      return { token: params.get('token'), transport: params.get('transport') };
    };
    // From the lobby into a matchmade room: the game connects with the token the URL carries.
    await page.goto(`${strict.http}/?token=${token}&transport=ws`);
    await page.waitForSelector('#lobby:not([hidden])');
    await page.click('#quick-play');
    assert.deepEqual(kept(page.url()), { token, transport: 'ws' });
    await page.waitForSelector('#game[data-state="joined"]');
    assert.equal(new URL(page.url()).searchParams.get('room'), (await gameState(page)).room);
    assert.deepEqual(kept(page.url()), { token, transport: 'ws' });
    await page.click('#leave-btn');
    await page.waitForSelector('#lobby:not([hidden])');
    await page.waitForFunction(() => !location.search.includes('room='));
    assert.deepEqual(kept(page.url()), { token, transport: 'ws' });
    // Deep linked, Leave writes the lobby over the room's entry: the token stays for the next game.
    await page.goto(`${strict.http}/?room=e2e-kept&token=${token}&transport=ws`);
    await page.waitForSelector('#game[data-state="joined"][data-room="e2e-kept"]');
    await page.click('#leave-btn');
    await page.waitForSelector('#lobby:not([hidden])');
    await page.waitForFunction(() => !location.search.includes('room='));
    assert.deepEqual(kept(page.url()), { token, transport: 'ws' });
    await page.click('#quick-play');
    await page.waitForSelector('#game[data-state="joined"]');
    assert.deepEqual(kept(page.url()), { token, transport: 'ws' });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await strict.stop();
  }
});

test('Back leaves the room for the lobby, Forward joins it again', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(server.http);
  await page.fill('#room-name', 'e2e-back');
  await page.click('#create-form button[type="submit"]');
  await page.waitForSelector('#game[data-state="joined"]');
  const seated = async () => (await getJson(`${server.http}/rooms`)).some((/** @type {any} */ r) => r.id === 'e2e-back' && r.players > 0);
  await page.goBack();
  await page.waitForSelector('#lobby:not([hidden])');
  assert.equal(new URL(page.url()).search, '');
  await until(async () => !(await seated()), 'the seat freed by the close 1000');
  await page.goForward();
  await page.waitForSelector('#game[data-state="joined"][data-room="e2e-back"]');
  // A reload of the room's entry is a deep link: in again.
  await page.reload();
  await page.waitForSelector('#game[data-state="joined"][data-room="e2e-back"]');
  await page.click('#leave-btn');
  await page.waitForSelector('#lobby:not([hidden])');
  await page.waitForFunction(() => !location.search);
  assert.deepEqual(errors, []);
  await context.close();
});

test('Leave clicked twice, or a lobby URL naming an invalid room, leave history as Back expects', async () => {
  const { context, page, errors } = await openPage(browser);
  // A double click on Leave: one exit, one step back, the room's entry still ahead.
  await page.goto(server.http);
  await page.fill('#room-name', 'e2e-twice');
  await page.click('#create-form button[type="submit"]');
  await page.waitForSelector('#game[data-state="joined"]');
  await page.dblclick('#leave-btn');
  await page.waitForSelector('#lobby:not([hidden])');
  await page.waitForFunction(() => !location.search);
  await page.goForward();
  await page.waitForSelector('#game[data-state="joined"][data-room="e2e-twice"]');
  await page.click('#leave-btn');
  await page.waitForSelector('#lobby:not([hidden])');

  // The lobby opened on a room name it would not join: Back from a game still leaves it.
  await page.goto(`${server.http}/?room=bad!`);
  await page.waitForSelector('#lobby:not([hidden])');
  await page.fill('#room-name', 'e2e-bad-back');
  await page.click('#create-form button[type="submit"]');
  await page.waitForSelector('#game[data-state="joined"]');
  await page.goBack();
  await page.waitForSelector('#lobby:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#game')?.hasAttribute('hidden'));
  assert.equal(await page.evaluate(() => /** @type {any} */ (globalThis).tickwire.game), null);
  assert.deepEqual(errors, []);
  await context.close();
});

test('touch: chat lines do not block the stick, spectators get none, and a key press brings the chat box back', async () => {
  const phone = await openPage(browser, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await phone.page.goto(`${server.http}/?room=e2e-thumb`);
  await phone.page.waitForSelector('#game[data-state="joined"]');
  await phone.page.waitForSelector('#touch:not([hidden])');
  const line = await (await phone.page.waitForSelector('#chat-log li'))?.boundingBox();
  assert.ok(line, 'a chat line on screen');
  const cdp = await phone.context.newCDPSession(phone.page);
  const at = { x: line.x + 10, y: line.y + line.height / 2 };
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ ...at, id: 1 }] });
  await phone.page.waitForSelector('#stick-base:not([hidden])');
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await phone.page.goto(`${server.http}/?room=e2e-thumb&spectate=1`);
  await phone.page.waitForSelector('#game[data-state="joined"][data-role="Spectator"]');
  assert.equal(await phone.page.isHidden('#touch'), true, 'nothing to steer');
  assert.deepEqual(phone.errors, []);
  await phone.context.close();

  // A laptop with a touch screen: a touch, then the keyboard.
  const laptop = await openPage(browser, { hasTouch: true });
  await laptop.page.goto(`${server.http}/?room=e2e-thumb`);
  await laptop.page.waitForSelector('#game[data-state="joined"]');
  await laptop.page.touchscreen.tap(900, 300);
  await laptop.page.waitForSelector('#game.touching');
  await laptop.page.keyboard.press('KeyD');
  await laptop.page.waitForSelector('#game:not(.touching)');
  await laptop.page.keyboard.press('Enter');
  assert.equal(await laptop.page.evaluate(() => document.activeElement?.id), 'chat-input');
  assert.equal(await laptop.page.isVisible('#chat-input'), true);
  assert.deepEqual(laptop.errors, []);
  await laptop.context.close();
});

test('the dashboard charts live, non-zero data', async () => {
  const players = ['p1', 'p2'].map((name) => {
    const c = new TickwireClient({ url: server.ws, name, room: 'e2e-dash' });
    c.connect();
    c.setInput({ x: 0.7, y: 0.7 });
    return c;
  });
  const watcher = new TickwireClient({ url: server.ws, name: 'w', room: 'e2e-dash', role: 'Spectator' });
  watcher.connect();
  await until(() => players.every((c) => c.session.world) && watcher.session.world, 'the room is busy');
  const { context, page, errors } = await openPage(browser);
  await page.goto(`${server.http}/dashboard`);
  await page.waitForFunction(() => Number(document.body.dataset.samples) >= 3);
  await page.waitForFunction(() => Number(document.querySelector('#t-clients')?.textContent) >= 3);
  const tiles = await page.evaluate(() => Object.fromEntries(['#t-clients', '#t-rooms', '#t-p99', '#t-bytes']
    .map((id) => [id, document.querySelector(id)?.textContent ?? ''])));
  assert.ok(Number(tiles['#t-clients']) >= 3, JSON.stringify(tiles));
  assert.ok(Number(tiles['#t-rooms']) >= 1, JSON.stringify(tiles));
  assert.match(tiles['#t-p99'], /ms$/);
  assert.doesNotMatch(tiles['#t-bytes'], /^0 B/, 'bytes are flowing');
  // The charts drew something: the clients chart's canvas has non-background pixels.
  const drawn = await page.$eval('#c-clients canvas', (canvas) => {
    const ctx = /** @type {HTMLCanvasElement} */ (canvas).getContext('2d');
    if (!ctx) return 0;
    const { data } = ctx.getImageData(0, 0, /** @type {HTMLCanvasElement} */ (canvas).width, /** @type {HTMLCanvasElement} */ (canvas).height);
    let lit = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0) lit++;
    return lit;
  });
  assert.ok(drawn > 500, `the clients chart drew ${drawn} pixels`);
  // What the canvas shows, in words, for a screen reader: kept current with the chart.
  await page.waitForFunction(() => /players now [1-9]/.test(document.querySelector('#c-clients-summary')?.textContent ?? ''));
  assert.match(await page.textContent('#c-clients-summary') ?? '', /^Over the last \d+ (s|min): players now \d+, lowest \d+, highest \d+; spectators now/);
  assert.match(await page.textContent('#c-bytes-summary') ?? '', /bytes\/s now [\d.]+ [KMG]?B\/s/);
  // The ships' round trips, which the server samples from the two players' acks once a second.
  await page.waitForFunction(() => /p50 now/.test(document.querySelector('#c-round-trip-summary')?.textContent ?? ''));
  assert.match(await page.textContent('#c-round-trip-summary') ?? '', /^Over the last \d+ (s|min): p50 now [\d.]+, lowest [\d.]+, highest [\d.]+; p95 now [\d.]+/);
  // Their late inputs, counted a window of 32 ticks at a time: the SDK sends one every tick.
  await page.waitForFunction(() => /late inputs now/.test(document.querySelector('#c-late-inputs-summary')?.textContent ?? ''));
  assert.match(await page.textContent('#c-late-inputs-summary') ?? '', /^Over the last \d+ (s|min): late inputs now [\d.]+%, lowest [\d.]+%, highest [\d.]+%\.$/);
  await page.waitForSelector('#closes-body tr', { timeout: 10000 });
  assert.match(await page.textContent('#closes-body') ?? '', /1000/, 'earlier leaves are counted as closes 1000');
  await page.waitForSelector('#rooms-body tr:has-text("e2e-dash")');
  // A room's players count its controllers (and seats held for a resume) too, unlike the
  // clients tile's: the column says seats.
  assert.match(await page.textContent('table.rooms thead') ?? '', /seats.*of them controllers/);
  // The room's clients by transport, those in use only: all three came over WebSocket.
  assert.match(await page.textContent('table.rooms thead') ?? '', /transports/);
  const dash = await page.textContent('#rooms-body tr:has-text("e2e-dash")') ?? '';
  assert.match(dash, /ws [1-9]/);
  assert.doesNotMatch(dash, /stream|poll/);
  await page.screenshot({ path: shot('dashboard'), fullPage: true });
  // On a phone (375 px) nothing makes the page scroll sideways: the charts shrink to the
  // screen and a wide table scrolls within its panel.
  await page.setViewportSize({ width: 375, height: 800 });
  await page.waitForFunction(() => document.documentElement.scrollWidth <= innerWidth, undefined, { timeout: 5000 }).catch(() => {});
  const narrow = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: innerWidth }));
  assert.ok(narrow.page <= narrow.screen, `at ${narrow.screen} px the page is ${narrow.page} px wide`);
  // The server restarts: the new process numbers its samples from 1 again and answers the
  // old process's `since` with nothing. The dashboard starts over with the new history.
  await page.route('**/stats*', async (route) => {
    const real = await (await route.fetch({ url: `${server.http}/stats` })).json();
    const since = Number(new URL(route.request().url()).searchParams.get('since') ?? 0);
    const samples = real.samples.slice(-2).map((/** @type {any} */ s, /** @type {number} */ i) => ({ ...s, seq: i + 1 }))
      .filter((/** @type {any} */ s) => s.seq > since);
    await route.fulfill({ json: { ...real, started_unix_ms: real.started_unix_ms + 1, samples, more: false } });
  });
  await page.waitForFunction(() => Number(document.body.dataset.samples) === 2, undefined, { timeout: 10000 });
  await page.unroute('**/stats*');
  for (const c of [...players, watcher]) await c.leave();
  assert.deepEqual(errors, []);
  await context.close();
});

test('the dashboard draws a long history at once, and the nodes panel follows the fleet\'s list', async () => {
  const real = await until(async () => {
    const reply = await getJson(`${server.http}/stats`);
    return reply.samples.length ? reply : null;
  }, 'a first sample');
  const template = real.samples[real.samples.length - 1];
  const { context, page, errors } = await openPage(browser);
  // A server up for a while: more history than one reply carries, so the dashboard pages.
  const total = 150;
  /** @type {(string | undefined)[]} */
  const drawnWhilePaging = [];
  await page.route('**/stats*', async (route) => {
    const since = Number(new URL(route.request().url()).searchParams.get('since') ?? 0);
    const rest = Array.from({ length: Math.max(0, total - since) }, (_, i) => since + i + 1)
      .map((seq) => ({ ...template, seq, unix_ms: template.unix_ms - (total - seq) * 1000 }));
    if (since > 0 && rest.length > 0) drawnWhilePaging.push(await page.evaluate(() => document.body.dataset.samples));
    await route.fulfill({ json: { ...real, samples: rest.slice(0, 60), more: rest.length > 60 } });
  });
  /** @type {object[]} */
  let nodes = [];
  let nodeAsks = 0;
  await page.route('**/nodes', (route) => {
    nodeAsks += 1;
    return route.fulfill({ json: nodes });
  });
  await page.goto(`${server.http}/dashboard`);
  await page.waitForFunction((n) => Number(document.body.dataset.samples) === n, total);
  // The later pages were asked for at once, before anything was drawn: the first draw has
  // the whole history, not a minute of it.
  assert.deepEqual(drawnWhilePaging, [undefined, undefined]);

  // In a fleet, /nodes is empty for a moment when Redis comes back empty: the dashboard asks
  // again, and shows the panel once the nodes have registered again.
  await until(() => nodeAsks >= 2, 'the dashboard asking /nodes again after an empty list');
  assert.equal(await page.isHidden('#nodes-panel'), true);
  // b runs the release before, of another protocol version (a fleet part way through an
  // upgrade); d is of a release before nodes said either.
  nodes = [
    { id: 'a', draining: false, rooms: 3, local: true, join_keys: 'same', protocol: 7, release: '0.1.0' },
    { id: 'b', draining: true, rooms: 0, local: false, join_keys: 'key_in_common', protocol: 6, release: '0.0.9' },
    { id: 'c', draining: false, rooms: 1, local: false, join_keys: 'no_key_in_common', protocol: 7, release: '0.1.0' },
    { id: 'd', draining: false, rooms: 1, local: false },
  ];
  await page.waitForSelector('#nodes-panel', { state: 'visible', timeout: 10000 });
  assert.match(await page.textContent('#nodes-body') ?? '', /a \(this node\)3servingsame0\.1\.0 \(protocol 7\)b0draininga key in common, not all0\.0\.9 \(protocol 6\)c1servingno key in common with this node0\.1\.0 \(protocol 7\)d1serving——/);
  assert.equal(await page.locator('#nodes-body td.warn').count(), 2, 'c shares no key, b speaks another protocol');
  assert.match(await page.textContent('#nodes-body tr:nth-child(2) td.warn') ?? '', /protocol 6/);
  assert.match(await page.textContent('table.nodes thead') ?? '', /rooms in use/);
  nodes = [];
  await page.waitForSelector('#nodes-panel', { state: 'hidden', timeout: 10000 });
  assert.equal(await page.isHidden('#nodes-link'), true);
  assert.deepEqual(errors, []);
  await context.close();
});

test('while its node cannot read the room directory, the dashboard says the rooms are that node\'s only and greys the nodes of before', async () => {
  const { context, page, errors } = await openPage(browser);
  // As a fleet's node answers while Redis is away: /rooms marked, /nodes 503.
  let roomsPartial = false;
  let nodesAway = false;
  await page.route('**/rooms', async (route) => {
    const real = await route.fetch();
    await route.fulfill({ response: real, headers: { ...real.headers(), ...(roomsPartial ? { 'x-tickwire-directory': 'unavailable' } : {}) } });
  });
  await page.route('**/nodes', (route) => (nodesAway
    ? route.fulfill({ status: 503, contentType: 'text/plain', body: 'room directory unavailable\n' })
    : route.fulfill({ json: [{ id: 'a', draining: false, rooms: 1, local: true, join_keys: 'same' }, { id: 'b', draining: false, rooms: 2, local: false, join_keys: 'same' }] })));
  await page.goto(`${server.http}/dashboard`);
  await page.waitForSelector('#nodes-panel', { state: 'visible', timeout: 10000 });
  await page.waitForSelector('#status.live', { timeout: 10000 });
  assert.equal(await page.isHidden('#directory-note'), true);
  roomsPartial = true;
  await page.waitForSelector('#directory-note:visible', { timeout: 10000 });
  assert.equal(await page.textContent('#directory-note'), 'Room directory unavailable: the Rooms table lists this node’s rooms only.');
  assert.equal(await page.getAttribute('#directory-note', 'role'), 'status');
  await page.waitForSelector('#status.live.degraded', { timeout: 10000 });
  nodesAway = true;
  await page.waitForSelector('#nodes-panel.stale', { timeout: 10000 });
  assert.match(await page.textContent('#nodes-stale') ?? '', /^Stale: the room directory is unavailable\. These are the nodes as listed at /);
  assert.match(await page.textContent('#nodes-body') ?? '', /a \(this node\)1servingsame.*b2servingsame/, 'the list of before, kept');
  // Back: current again.
  roomsPartial = false;
  nodesAway = false;
  await page.waitForSelector('#nodes-panel:not(.stale)', { timeout: 10000 });
  await page.waitForSelector('#directory-note', { state: 'hidden', timeout: 10000 });
  await page.waitForSelector('#status.live:not(.degraded)', { timeout: 10000 });
  assert.equal(await page.isHidden('#nodes-stale'), true);
  assert.deepEqual(errors.filter((e) => !/status of 503/.test(e)), []);
  await context.close();
});

test('the dashboard tells a browser that left from a server that shut down, by /metrics', async () => {
  // A player who leaves: a close 1000 the client started, as the real /metrics counts it.
  const leaver = new TickwireClient({ url: server.ws, name: 'leaver', room: 'e2e-closes' });
  leaver.connect();
  await until(() => leaver.session.isJoined(), 'the leaver joined');
  await leaver.leave();
  const { context, page, errors } = await openPage(browser);
  await page.goto(`${server.http}/dashboard`);
  await page.waitForSelector('#closes-body tr:has-text("normal (client left)")', { timeout: 10000 });
  // Browser tabs that quit (1001 from the client) and a shutdown (1001 from the server).
  await page.route('**/metrics', (route) => route.fulfill({
    contentType: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
    body: 'tickwire_closes_total{code="1001",initiator="client"} 3\ntickwire_closes_total{code="1001",initiator="server"} 1\n# EOF\n',
  }));
  await page.waitForSelector('#closes-body tr:has-text("going away (client left)")', { timeout: 10000 });
  const rows = await page.$$eval('#closes-body tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent).filter(Boolean).join(' ')));
  assert.deepEqual(rows, ['1001 going away (client left) 3', '1001 going away (server shutdown) 1']);
  await page.unroute('**/metrics');
  assert.deepEqual(errors, []);
  await context.close();
});

test('while the server cannot be reached, the dashboard\'s tiles and closes show as stale, the shutdown row kept, and live again after', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(`${server.http}/dashboard`);
  await page.waitForFunction(() => document.querySelector('#t-clients')?.textContent !== '–');
  await page.route('**/metrics', (route) => route.fulfill({
    contentType: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
    body: 'tickwire_closes_total{code="1001",initiator="server"} 4\n# EOF\n',
  }));
  await page.waitForSelector('#closes-body tr:has-text("going away (server shutdown)")', { timeout: 10000 });
  assert.equal(await page.isHidden('#tiles-stale'), true);
  // The server goes away: every poll fails.
  const down = (/** @type {URL} */ url) => ['/stats', '/metrics', '/rooms', '/nodes'].some((p) => url.pathname.endsWith(p));
  await page.unroute('**/metrics');
  await page.route(down, (route) => route.abort('connectionrefused'));
  await page.waitForSelector('#tiles.stale', { timeout: 10000 });
  assert.match(await page.textContent('#tiles-stale') ?? '', /^Stale: the server is not answering\. These are its numbers of /);
  assert.notEqual(await page.textContent('#t-clients'), '–', 'the last numbers, greyed');
  await page.waitForSelector('#closes-panel.stale', { timeout: 10000 });
  const rows = await page.$$eval('#closes-body tr', (trs) => trs.map((tr) => tr.textContent));
  assert.ok(rows.some((r) => r?.includes('going away (server shutdown)')), `the shutdown row kept: ${rows}`);
  await page.screenshot({ path: shot('dashboard-stale') });
  // Back: live again.
  await page.unroute(down);
  await page.waitForSelector('#tiles:not(.stale)', { timeout: 10000 });
  await page.waitForSelector('#closes-panel:not(.stale)', { timeout: 10000 });
  assert.equal(await page.isHidden('#tiles-stale'), true);
  // Only the failed requests of the outage may be logged.
  assert.deepEqual(errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(e)), []);
  await context.close();
});

test('the dashboard\'s time axes never draw one label over another', async () => {
  const { context, page, errors } = await openPage(browser, { timezoneId: 'UTC', locale: 'en-US' });
  await page.goto(`${server.http}/dashboard`);
  await page.waitForFunction(() => Number(document.body.dataset.samples) >= 1);
  // Histories of 1.5 to 10 minutes, starting at every 5 s of a minute (where a tick lands just
  // before a new minute), on a chart as narrow as the page lays one out: every label of the
  // time axis, line by line, against the next one's.
  const overlaps = await page.evaluate(async () => {
    const { charts } = /** @type {any} */ (globalThis).tickwireDashboard;
    const measure = /** @type {CanvasRenderingContext2D} */ (document.createElement('canvas').getContext('2d'));
    /** @type {string[]} */
    const found = [];
    for (const [name, u] of Object.entries(charts)) {
      u.setSize({ width: 420, height: 200 });
      for (const span of [90, 150, 240, 600]) {
        for (let offset = 0; offset < 60; offset += 5) {
          const start = Date.UTC(2026, 11, 5, 15, 28, 0) / 1000 + offset;
          const t = Array.from({ length: span + 1 }, (_, i) => start + i);
          u.setData([t, ...u.series.slice(1).map(() => t.map(() => 1))]);
          // uPlot lays its axes out in a microtask, before this continues.
          await Promise.resolve();
          const axis = u.axes[0];
          measure.font = axis.font[0].replace(/[0-9.]+px/, `${axis.font[2]}px`);
          /** @type {Map<number, { left: number, right: number, text: string }[]>} */
          const rows = new Map();
          axis._values.forEach((/** @type {string | null} */ value, /** @type {number} */ i) => {
            if (value === null) return;
            const x = u.valToPos(axis._splits[i], 'x');
            String(value).split('\n').forEach((text, line) => {
              const half = measure.measureText(text).width / 2;
              rows.set(line, [...(rows.get(line) ?? []), { left: x - half, right: x + half, text }]);
            });
          });
          for (const labels of rows.values()) {
            labels.sort((a, b) => a.left - b.left);
            for (let i = 1; i < labels.length; i++) {
              if (labels[i - 1].right > labels[i].left) found.push(`${name} ${span} s from +${offset} s: "${labels[i - 1].text}" over "${labels[i].text}"`);
            }
          }
        }
      }
    }
    return found;
  });
  assert.deepEqual(overlaps.slice(0, 5), []);
  assert.deepEqual(errors, []);
  await context.close();
});

/**
 * The HUD pieces on screen that overlap another, or leave the window, with the readings at
 * their widest (a long poll's transport, a busy server's rates, ten minutes on the clock).
 * @param {import('playwright-core').Page} page
 */
function hudClashes(page) {
  return page.evaluate(() => {
    const worst = {
      '#hud-transport': 'long polling', '#hud-ping': '999 ms', '#hud-tick': '9999999', '#hud-fps': '144',
      '#hud-in': '999 KB/s', '#hud-out': '999 KB/s', '#hud-audience': '3,000', '#hud-round': 'Intermission', '#hud-timer': '10:00',
    };
    for (const [selector, text] of Object.entries(worst)) /** @type {HTMLElement} */ (document.querySelector(selector)).textContent = text;
    const pieces = ['#hud-round', '#hud-timer', '#hud-room', '#hud-role', '.netstats', '#scoreboard', '#chat-log li', '#chat-input',
      '#chat-btn', '#invite-btn', '#leave-btn', '#boost-btn'];
    const boxes = pieces.flatMap((selector) => [...document.querySelectorAll(selector)].flatMap((el) => {
      const box = el.getBoundingClientRect();
      return /** @type {HTMLElement} */ (el).offsetParent !== null && box.width > 0 && box.height > 0 ? [{ selector, box }] : [];
    }));
    /** @type {string[]} */
    const clashes = [];
    boxes.forEach(({ selector, box }, i) => {
      if (box.left < 0 || box.top < 0 || box.right > innerWidth || box.bottom > innerHeight) clashes.push(`${selector} leaves the window`);
      for (const other of boxes.slice(i + 1)) {
        const b = other.box;
        if (box.left < b.right && b.left < box.right && box.top < b.bottom && b.top < box.bottom) clashes.push(`${selector} over ${other.selector}`);
      }
    });
    // The own row's marker is its own box, whole, inside the row: the name is what gets cut.
    const you = document.querySelector('#scoreboard li.me .you');
    const row = you?.closest('li')?.getBoundingClientRect();
    const marker = you?.getBoundingClientRect();
    if (!you || !row || !marker || you.textContent !== '(you)' || marker.width < 10 || marker.right > row.right || you.scrollWidth > you.clientWidth + 1) {
      clashes.push('"(you)" is not shown whole');
    }
    return clashes;
  });
}

test('the HUD\'s clock, readings, scores, chat and buttons never overlap, from 320 to 1920 px wide', async () => {
  const others = ['Quasar the Unstoppable', 'bo'].map((name) => new TickwireClient({ url: server.ws, name, room: 'e2e-hud' }));
  for (const c of others) c.connect();
  const { context, page, errors } = await openPage(browser);
  await page.goto(server.http);
  await page.evaluate(() => localStorage.setItem('tickwire.name', 'Comet-42 the Magnificent'));
  await page.goto(`${server.http}/?room=e2e-hud`);
  await page.waitForSelector('#game[data-state="joined"]');
  await page.waitForFunction(() => document.querySelectorAll('#scoreboard li').length === 3);
  // A long chat line, wrapped in the chat's column.
  others[1].chat('anyone up for another round after this one? the orbs by the top wall respawn fast, watch out for shoves');
  await page.waitForSelector('#chat-log li:has-text("anyone up for another round")');
  /** @type {string[]} */
  const clashes = [];
  for (const [width, height] of [[320, 640], [390, 844], [480, 800], [640, 700], [641, 700], [768, 1024], [900, 700],
    [1000, 700], [1024, 768], [1200, 800], [1280, 760], [1920, 1080]]) {
    await page.setViewportSize({ width, height });
    for (const clash of await hudClashes(page)) clashes.push(`${width}x${height}: ${clash}`);
  }
  await page.setViewportSize({ width: 1024, height: 768 });
  await page.screenshot({ path: shot('hud-1024') });
  await context.close();
  // A phone, its touch layout: the boost button and the chat button too, either way up.
  const phone = await openPage(browser, { viewport: { width: 844, height: 390 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await phone.page.goto(server.http);
  await phone.page.evaluate(() => localStorage.setItem('tickwire.name', 'Comet-42 the Magnificent'));
  await phone.page.goto(`${server.http}/?room=e2e-hud`);
  await phone.page.waitForSelector('#game[data-state="joined"]');
  await phone.page.waitForSelector('#touch:not([hidden])');
  await phone.page.waitForFunction(() => document.querySelectorAll('#scoreboard li').length === 3);
  others[0].chat('the orbs by the top wall respawn fast, and the corners are where the shoves happen, so mind them');
  await phone.page.waitForSelector('#chat-log li:has-text("the orbs by the top wall")');
  for (const [width, height] of [[844, 390], [390, 844], [320, 568]]) {
    await phone.page.setViewportSize({ width, height });
    for (const clash of await hudClashes(phone.page)) clashes.push(`phone ${width}x${height}: ${clash}`);
  }
  assert.deepEqual(clashes, []);
  await phone.page.screenshot({ path: shot('hud-phone') });
  for (const c of others) await c.leave();
  assert.deepEqual(errors, []);
  assert.deepEqual(phone.errors, []);
  await phone.context.close();
});

test('old chat lines dim to a colour still read at 4.5:1, and the last round\'s result outlasts the chatter', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(`${server.http}/?room=e2e-fade`);
  await page.waitForSelector('#game[data-state="joined"]');
  // A round's result, then a busy chat: every player colour speaks, twice over.
  await page.evaluate(() => {
    const game = /** @type {any} */ (globalThis).tickwire.game;
    game.onEvent({ type: 'RoundOver', round: 1, winner: null, score: 0 });
    for (let from = 0; from < 20; from++) game.onEvent({ type: 'Chat', from, name: `pilot ${from}`, text: 'gg' });
  });
  assert.equal(await page.locator('#chat-log li').count(), 8);
  assert.match(await page.textContent('#chat-log li:first-child') ?? '', /^Round 1 over: nobody scored\.$/);
  // Shown, not read out: the centre message says the result.
  assert.equal(await page.getAttribute('#chat-log li:first-child', 'aria-hidden'), 'true');
  // Dimmed, as after 12 s (30 s for the result), and done fading in and dimming.
  await page.evaluate(() => { for (const li of document.querySelectorAll('#chat-log li')) li.classList.add('old'); });
  await page.waitForFunction(() => document.getAnimations().length === 0);
  const ratios = await page.evaluate(() => {
    /** @param {string} css @returns {number[]} r, g, b, a */
    const rgba = (css) => {
      const [r, g, b, a = 1] = (css.match(/[\d.]+/g) ?? []).map(Number);
      return [r, g, b, a];
    };
    /** @param {number[]} top @param {number[]} under */
    const over = (top, under) => under.map((c, i) => top[i] * top[3] + c * (1 - top[3])).slice(0, 3).concat(1);
    /** @param {number[]} c */
    const luminance = (c) => {
      const [r, g, b] = c.slice(0, 3).map((v) => (v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    /** @param {number[]} a @param {number[]} b */
    const ratio = (a, b) => {
      const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
      return (hi + 0.05) / (lo + 0.05);
    };
    const floor = [10, 18, 38, 1]; // #0a1226, the arena's floor
    /** @type {{ text: string, ratio: number }[]} */
    const out = [];
    for (const li of document.querySelectorAll('#chat-log li')) {
      // Opacity anywhere up the tree fades text and backing alike.
      let opacity = 1;
      for (let el = /** @type {Element | null} */ (li); el; el = el.parentElement) opacity *= Number(getComputedStyle(el).opacity);
      // The line's backing over the floor, then the text over that; the whole line at its opacity.
      const backing = over(rgba(getComputedStyle(li).backgroundColor), floor);
      const shown = (/** @type {number[]} */ c) => over([...over(c, backing).slice(0, 3), opacity], floor);
      const bg = over([...backing.slice(0, 3), opacity], floor);
      const parts = [li, ...li.querySelectorAll('.from')];
      for (const part of parts) out.push({ text: `${li.textContent} ${part === li ? 'text' : 'name'}`, ratio: ratio(shown(rgba(getComputedStyle(part).color)), bg) });
    }
    return out;
  });
  assert.equal(ratios.length, 8 + 7, 'seven players\' lines and the result');
  const low = ratios.filter((r) => r.ratio < 4.5).map((r) => `${r.text}: ${r.ratio.toFixed(2)}`);
  assert.deepEqual(low, []);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a connection given up on says so in a player\'s words, keeps the details apart, and a chat line typed meanwhile waits', async () => {
  const proxy = await startProxy(server.port);
  const { context, page, errors } = await openPage(browser);
  await page.goto(`http://127.0.0.1:${proxy.port}/?room=e2e-gone&transport=ws`);
  await page.waitForSelector('#game[data-state="joined"]');
  // Two quick retries, not twenty over a minute.
  await page.evaluate(() => Object.assign(globalThis.tickwire.game?.client.session.reconnect ?? {}, { initialDelayMs: 400, maxDelayMs: 400, maxAttempts: 2 }));
  proxy.hold();
  proxy.cut();
  await page.waitForSelector('#game[data-state="reconnecting"]');
  await page.keyboard.press('Enter');
  await page.keyboard.type('brb');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#chat-log li.warn:has-text("Not connected: message not sent")');
  assert.equal(await page.inputValue('#chat-input'), 'brb', 'kept, to send once back');
  await proxy.close();
  await page.waitForSelector('#failure:not([hidden])', { timeout: 20000 });
  assert.equal(await page.textContent('#failure-title'), 'Connection lost');
  const text = await page.textContent('#failure-text') ?? '';
  assert.match(text, /^Lost the connection to the server/);
  assert.doesNotMatch(text, /1006|attempts|code/);
  assert.match(await page.textContent('#failure-details') ?? '', /^Details: closed with 1006: gave up after 2 attempts/);
  const [textSize, detailsSize] = await page.evaluate(() => ['#failure-text', '#failure-details'].map((s) => parseFloat(getComputedStyle(/** @type {Element} */ (document.querySelector(s))).fontSize)));
  assert.ok(detailsSize < textSize, 'the details in smaller print');
  await page.screenshot({ path: shot('connection-lost') });
  // The WebSocket's failures, and the SDK's question why to a server that is gone.
  assert.deepEqual(errors.filter((e) => !/WebSocket connection to .* failed|net::ERR_CONNECTION_REFUSED/.test(e)), []);
  await context.close();
});

test('a server at its connection limit says it is full, not that it cannot be reached', async () => {
  const small = await startServer(['--max-connections', '2']);
  const players = ['one', 'two'].map((name) => new TickwireClient({ url: small.ws, name, room: 'e2e-crowd' }));
  for (const c of players) c.connect();
  const { context, page, errors } = await openPage(browser);
  try {
    await until(() => players.every((c) => c.session.isJoined()), 'two players in');
    await page.goto(`${small.http}/?room=e2e-crowd`);
    await page.waitForFunction(() => {
      const s = globalThis.tickwire.game?.client.session;
      if (s) Object.assign(s.reconnect, { initialDelayMs: 200, maxDelayMs: 200 });
      return s;
    });
    await page.waitForSelector('#banner:not([hidden]):has-text("The server is full or restarting. Retrying")');
    await page.waitForSelector('#failure:not([hidden])', { timeout: 20000 });
    assert.equal(await page.textContent('#failure-title'), 'Server full or restarting');
    assert.match(await page.textContent('#failure-text') ?? '', /^The server is up, but it cannot take another connection right now.*try again/);
    assert.match(await page.textContent('#failure-details') ?? '', /HTTP 503/);
    assert.equal(await page.isHidden('#failure-watch'), true, 'no seat for a spectator either');
    assert.deepEqual(errors.filter((e) => !/WebSocket connection to .* failed|status of 503/.test(e)), []);
  } finally {
    for (const c of players) await c.leave();
    await context.close();
    await small.stop();
  }
});

test('a full room offers to watch it instead', async () => {
  const small = await startServer(['--room-capacity', '1']);
  const player = new TickwireClient({ url: small.ws, name: 'first', room: 'e2e-full' });
  player.connect();
  const { context, page, errors } = await openPage(browser);
  try {
    await until(() => player.session.isJoined(), 'the room filled');
    await page.goto(`${small.http}/?room=e2e-full`);
    await page.waitForSelector('#failure:not([hidden])');
    assert.equal(await page.textContent('#failure-title'), 'Room full');
    await page.click('#failure-watch');
    await page.waitForSelector('#game[data-state="joined"][data-role="Spectator"][data-room="e2e-full"]');
    assert.equal(new URL(page.url()).searchParams.get('spectate'), '1');
    await page.waitForFunction(() => /first/.test(document.querySelector('#scoreboard')?.textContent ?? ''));
    assert.deepEqual(errors, []);
  } finally {
    await player.leave();
    await context.close();
    await small.stop();
  }
});

test('a player an operator removes and bans is told why, and the page does not rejoin', async () => {
  const token = 'e2e-operator-token-of-32-bytes-x';
  const moderated = await startServer(['--admin-token', token]);
  const auth = { authorization: `Bearer ${token}` };
  const seats = async () => (await (await fetch(`${moderated.http}/rooms/e2e-mod/seats`, { headers: auth })).json()).seats;
  const { context, page, errors } = await openPage(browser);
  try {
    await page.goto(`${moderated.http}/?room=e2e-mod&transport=ws`);
    await page.waitForSelector('#game[data-state="joined"][data-room="e2e-mod"]');
    const [seat] = await seats();
    assert.equal(seat.role, 'player');
    const kicked = await fetch(`${moderated.http}/rooms/e2e-mod/kick`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ player: seat.player, reason: 'spamming the chat', ban: '10m' }),
    });
    assert.equal(kicked.status, 200, await kicked.text());
    await page.waitForSelector('#failure:not([hidden])');
    assert.equal(await page.textContent('#failure-title'), 'Removed by an operator');
    assert.match(await page.textContent('#failure-text') ?? '', /banned for 10 more minutes: spamming the chat/);
    assert.equal(await page.isHidden('#failure-retry'), true, 'no one-click way back in');
    // No reconnect behind the dialog: the room stays without the player.
    await new Promise((done) => setTimeout(done, 1500));
    assert.deepEqual(await seats(), []);
    // Back in through the lobby, the ban answers, saying for how long.
    await page.goto(`${moderated.http}/?room=e2e-mod&transport=ws`);
    await page.waitForSelector('#failure:not([hidden])');
    assert.match(await page.textContent('#failure-text') ?? '', /banned for 10 more minutes: spamming the chat/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await moderated.stop();
  }
});

test('an operator mutes, removes, bans and lifts from the dashboard', async () => {
  // Without --admin-token the panel says how to turn moderation on, and asks for no token.
  {
    const { context, page } = await openPage(browser);
    await page.goto(`${server.http}/dashboard`);
    await page.waitForSelector('#mod-off:visible');
    assert.match(await page.textContent('#mod-off') ?? '', /Moderation is off\. Start the server with TICKWIRE_ADMIN_TOKEN/);
    assert.equal(await page.isVisible('#mod-token'), false);
    await context.close();
  }
  const token = 'e2e-operator-token-of-32-bytes-x';
  const moderated = await startServer(['--admin-token', token]);
  const room = 'e2e-mod-dash';
  // A name with markup in it: shown as text, never parsed.
  const [alice, mallory] = ['Alice', '<i>Mallory</i>'].map((name) => {
    const c = new TickwireClient({ url: moderated.ws, name, room });
    c.connect();
    return c;
  });
  const { context, page, errors } = await openPage(browser);
  try {
    await until(() => alice.session.world && mallory.session.world, 'both players seated');
    const aliceSeat = /** @type {any} */ (alice.session.welcome).playerId;
    await page.goto(`${moderated.http}/dashboard`);
    // A wrong token is refused in the server's words, and nothing is unlocked.
    await page.fill('#mod-token', 'not-the-token');
    await page.click('#mod-unlock button[type=submit]');
    await page.waitForSelector('#mod-result.bad');
    assert.match(await page.textContent('#mod-result') ?? '', /^The server refused the token: wrong admin token/);
    assert.equal(await page.isHidden('#mod-on'), true);
    await page.fill('#mod-token', token);
    await page.check('#mod-keep');
    await page.click('#mod-unlock button[type=submit]');
    await page.waitForSelector('#mod-on:visible');
    // On to where moderation starts: the room's "moderate".
    await page.waitForFunction(() => /** @type {HTMLElement} */ (document.activeElement).dataset.focus === 'moderate:e2e-mod-dash');
    assert.equal(await page.isVisible('#mod-bans-empty'), true, 'no bans yet');
    // The room's seats, from its row of the rooms table.
    await page.click(`#rooms-body tr:has-text("${room}") button:text-is("moderate")`);
    await page.waitForFunction(() => document.querySelectorAll('#mod-seats-body tr').length === 2);
    assert.equal(await page.textContent('#mod-seats-room'), room);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'mod-seats-title', 'the keyboard follows to the seats');
    const row = (/** @type {string} */ name) => `#mod-seats-body tr:has(td.name:text-is("${name}"))`;
    assert.match(await page.textContent(row('Alice')) ?? '', /player.*127\.0\.0\.1.*connected/);
    // Each seat's round trip as the server last measured it, beside its link: a number of ms,
    // or "–" before the first sample (once a second).
    assert.match(await page.textContent('table.seats thead') ?? '', /link.*round trip.*late inputs.*chat/);
    const cell = (/** @type {string} */ heading) => page.$eval(row('Alice'), (tr, heading) => {
      const headings = Array.from(document.querySelectorAll('table.seats thead th'), (th) => th.textContent);
      return tr.children[headings.indexOf(heading)]?.textContent ?? '';
    }, heading);
    assert.match(await cell('round trip'), /^(–|\d+(\.\d)? ms)$/);
    // Her late inputs, the same way: "–" before her first window of 32 ticks.
    assert.match(await cell('late inputs'), /^(–|\d+%( · \+\d+ ms)?)$/);
    assert.equal(await page.locator(row('<i>Mallory</i>')).count(), 1, 'the name as text');
    assert.equal(await page.locator('#mod-seats-body i').count(), 0, 'no markup made from a name');
    // Mute from the keyboard, seen in the row; the focus stays on Alice's button through the
    // action and the table's refreshes, and a filter finds her.
    await page.focus(`${row('Alice')} button:text-is("mute")`);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`${row('Alice')} td:has-text("muted, 1 h left")`);
    assert.match(await page.textContent('#mod-result') ?? '', /^Muted Alice \(seat \d+\) for 1 h/);
    // Refreshes update the rows in place, though the mute's seconds left change in every
    // answer: the same elements, so a click or a selection spanning one is not lost.
    await page.$eval(row('Alice'), (tr) => { /** @type {any} */ (tr).marked = true; });
    await page.waitForTimeout(2500);
    assert.equal(await page.$eval(row('Alice'), (tr) => /** @type {any} */ (tr).marked), true);
    const focused = () => page.evaluate(() => /** @type {HTMLElement} */ (document.activeElement).dataset.focus ?? '');
    assert.equal(await focused(), `mute:${room}:${aliceSeat}`);
    assert.equal(await page.getAttribute(`${row('Alice')} button:text-is("unmute")`, 'aria-label'), `Unmute Alice (seat ${aliceSeat})`);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`${row('Alice')} button:text-is("mute")`);
    assert.equal(await focused(), `mute:${room}:${aliceSeat}`, 'still on the button after the action');
    assert.match(await page.textContent('#mod-result') ?? '', /Alice \(seat \d+\) may chat again/);
    await page.fill('#mod-seats-filter', 'ALI');
    await page.waitForFunction(() => document.querySelectorAll('#mod-seats-body tr').length === 1);
    await page.fill('#mod-seats-filter', '');
    // Removed without a ban, with a double click on Remove: one removal, told once; the client
    // is told why and does not come back. Escape closed the form before, and gave the focus back.
    await page.click(`${row('<i>Mallory</i>')} button:has-text("remove")`);
    await page.keyboard.press('Escape');
    assert.equal(await page.isHidden('#mod-remove'), true);
    assert.match(await focused(), /^remove:e2e-mod-dash:\d+$/);
    await page.click(`${row('<i>Mallory</i>')} button:has-text("remove")`);
    assert.match(await page.textContent('#mod-remove-who') ?? '', /^Remove <i>Mallory<\/i> \(seat \d+\) from e2e-mod-dash \(127\.0\.0\.1\)/);
    await page.fill('#mod-reason', 'spamming the chat');
    await page.dblclick('#mod-remove-submit');
    await page.waitForFunction(() => document.querySelectorAll('#mod-seats-body tr').length === 1);
    await page.waitForTimeout(500);
    assert.match(await page.textContent('#mod-result') ?? '', /^Removed <i>Mallory<\/i> \(seat \d+\) from e2e-mod-dash\.$/);
    assert.equal(await page.getAttribute('#mod-result', 'class'), '', 'no error from a second press');
    await until(() => mallory.session.error, 'Mallory told');
    assert.equal(/** @type {any} */ (mallory.session.error).reason, 'Removed');
    assert.match(/** @type {any} */ (mallory.session.error).serverMessage, /spamming the chat/);
    assert.equal(await page.isHidden('#mod-remove'), true);
    // A reason longer than the player's Kick carries is refused before it is sent.
    await page.click(`${row('Alice')} button:has-text("remove")`);
    await page.fill('#mod-reason', 'é'.repeat(33));
    await page.click('#mod-remove-submit');
    assert.equal(await page.textContent('#mod-result'), 'The reason is 66 bytes; at most 64 (the player sees it whole).');
    // Removed with a ban: the address is in the bans, with the time left and the reason.
    await page.fill('#mod-reason', 'griefing');
    await page.selectOption('#mod-remove-ban', '10m');
    await page.click('#mod-remove-submit');
    await page.waitForSelector('#mod-bans-body tr:has-text("127.0.0.1")');
    assert.match(await page.textContent('#mod-result') ?? '', /^Removed Alice \(seat \d+\) from e2e-mod-dash\. Banned 127\.0\.0\.1 for 10 min\./);
    assert.match(await page.textContent('#mod-bans-body') ?? '', /address 127\.0\.0\.1\s*10 min\s*griefing/);
    assert.equal(await page.textContent('#mod-seats-note'), 'Nobody is seated in this room.');
    await until(() => alice.session.error, 'Alice told');
    assert.match(/** @type {any} */ (alice.session.error).serverMessage, /banned for 10 more minutes: griefing/);
    await page.click('#mod-bans-body tr:has-text("127.0.0.1") button:has-text("lift")');
    await page.waitForSelector('#mod-bans-empty:visible');
    assert.equal(await page.textContent('#mod-result'), 'Lifted the ban of address 127.0.0.1.');
    // The focus left with the row, for the Undo it offers.
    await page.waitForFunction(() => document.activeElement?.id === 'mod-result-undo', undefined, { timeout: 5000 });
    // What was done, newest first, by whom.
    await page.waitForSelector('#mod-log-body tr:first-child:has-text("lifted the ban of 127.0.0.1")');
    const log = await page.$$eval('#mod-log-body tr', (rows) => rows.map((r) => r.textContent ?? ''));
    assert.match(log[1], /admin \(127\.0\.0\.1\)removed and banned Alice \(seat \d+\) from e2e-mod-dash \(127\.0\.0\.1\) for 10 min: “griefing”$/);
    assert.match(log[2], /removed <i>Mallory<\/i> \(seat \d+\) from e2e-mod-dash \(127\.0\.0\.1\): “spamming the chat”$/);
    assert.match(log.slice(3).join('|'), /unmuted Alice.*\|.*muted Alice \(seat \d+\) in e2e-mod-dash for 1 h/);
    // A lift takes no confirmation but is one click to undo: the same ban, for what it had
    // left, with its reason.
    await page.keyboard.press('Enter');
    await page.waitForSelector('#mod-bans-body tr:has-text("127.0.0.1")');
    // The Undo went: the focus is on the ban back in the table, not on the page's body.
    await page.waitForFunction(() => document.activeElement?.closest('#mod-bans-body tr')?.textContent?.includes('127.0.0.1')
      && document.activeElement?.textContent === 'lift', undefined, { timeout: 5000 });
    assert.match(await page.textContent('#mod-result') ?? '', /^Banned address 127\.0\.0\.1 for (9|10) min\./);
    assert.match(await page.textContent('#mod-bans-body') ?? '', /address 127\.0\.0\.1\s*(9|10) min\s*griefing/);
    assert.equal(await page.isHidden('#mod-result-undo'), true, 'nothing more to undo');
    await page.click('#mod-bans-body tr:has-text("127.0.0.1") button:has-text("lift")');
    await page.waitForSelector('#mod-bans-empty:visible');
    // A ban by name: a bad length is refused in the server's words, naming the field.
    await page.selectOption('#mod-ban-kind', 'name');
    await page.fill('#mod-ban-target', 'griefer');
    await page.fill('#mod-ban-for', 'forever');
    await page.click('#mod-ban-submit');
    await page.waitForSelector('#mod-result.bad');
    assert.match(await page.textContent('#mod-result') ?? '', /^`for`: `forever` is not a length/);
    await page.fill('#mod-ban-for', '2h');
    await page.click('#mod-ban-submit');
    await page.waitForSelector('#mod-bans-body tr:has-text("griefer")');
    assert.equal(await page.textContent('#mod-result'), 'Banned name griefer for 2 h. Nobody seated on this node was covered.');
    // Banned again, shorter: refused, saying what runs; the filter finds a ban among many.
    await page.fill('#mod-ban-target', 'griefer');
    await page.fill('#mod-ban-for', '5m');
    await page.click('#mod-ban-submit');
    await page.waitForSelector('#mod-result.bad');
    assert.match(await page.textContent('#mod-result') ?? '', /^griefer is banned already, for 2 more hours: send "replace": true/);
    await page.fill('#mod-bans-filter', 'nobody');
    await page.waitForSelector('#mod-bans-note:has-text("None of the 1 bans matches the filter.")');
    await page.fill('#mod-bans-filter', 'GRIEF');
    await page.waitForSelector('#mod-bans-body tr:has-text("griefer")');
    // Kept through a reload, as asked; a kept token the server refuses is forgotten, saying so.
    await page.reload();
    await page.waitForSelector('#mod-bans-body tr:has-text("griefer")');
    await page.evaluate(() => sessionStorage.setItem('tickwire.adminToken', 'changed-since'));
    await page.reload();
    await page.waitForSelector('#mod-result.bad');
    assert.match(await page.textContent('#mod-result') ?? '', /^The server refused the token/);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    // Not kept unless asked; Lock forgets it at once.
    await page.fill('#mod-token', token);
    await page.click('#mod-unlock button[type=submit]');
    await page.waitForSelector('#mod-on:visible');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await page.waitForSelector(`#rooms-body tr:has-text("${room}")`);
    assert.equal(await page.locator('#rooms-body button:text-is("moderate")').count(), await page.locator('#rooms-body tr').count());
    await page.click('#mod-lock');
    await page.waitForSelector('#mod-unlock:visible');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'mod-token');
    assert.ok(await page.locator(`#rooms-body tr:has-text("${room}")`).count() === 1, 'the room is still listed');
    assert.equal(await page.locator('#rooms-body button:text-is("moderate")').count(), 0, 'nothing to moderate while locked');
    // The browser logs each refused request (the wrong tokens' 401s, the bad length's 400, the
    // second ban's 409).
    assert.deepEqual(errors.filter((e) => !/status of 40[019] \(/.test(e)), []);
  } finally {
    await context.close();
    for (const c of [alice, mallory]) await c.leave();
    await moderated.stop();
  }
});

test('Enter in the name field plays: quick play, or the room typed', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(server.http);
  await page.fill('#name', 'enter-key');
  await page.press('#name', 'Enter');
  await page.waitForSelector('#game[data-state="joined"]');
  await page.waitForFunction(() => /enter-key/.test(document.querySelector('#scoreboard')?.textContent ?? ''));
  await page.click('#leave-btn');
  await page.waitForSelector('#lobby:not([hidden])');
  await page.fill('#room-name', 'e2e-enter');
  await page.press('#name', 'Enter');
  await page.waitForSelector('#game[data-state="joined"][data-room="e2e-enter"]');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a link naming no valid room says so and leaves the address bar clean', async () => {
  const { context, page, errors } = await openPage(browser);
  for (const [query, shown] of [['bad%20name!', 'bad name!'], [`${'a'.repeat(40)}`, `${'a'.repeat(24)}…`], ['%CE%95%CE%BB%CE%BB%CE%AC%CE%B4%CE%B1', 'Ελλάδα']]) {
    await page.goto(`${server.http}/?room=${query}&transport=ws`);
    await page.waitForSelector('#lobby:not([hidden])');
    assert.equal(await page.textContent('#join-error'), `That invite link names no valid room (“${shown}”): a room name is 1 to 16 `
      + 'letters, digits, dots, dashes or underscores. Pick a room below, or start one.');
    assert.equal(await page.isVisible('#join-error'), true);
    assert.equal(new URL(page.url()).search, '?transport=ws', 'the room gone, what the page keeps kept');
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test('someone new from an invite link picks a name first; a returning player and a big screen go straight in', async () => {
  const { context, page, errors } = await openPage(browser, {}, { newcomer: true });
  await page.goto(`${server.http}/?room=e2e-invited`);
  await page.waitForSelector('#lobby:not([hidden])');
  assert.equal(await page.textContent('#invited'), 'You are invited to room e2e-invited. Choose the name the others will see, then join.');
  assert.equal(await page.textContent('#join-invited'), 'Join e2e-invited');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'name', 'on the name');
  assert.equal(await page.inputValue('#room-name'), 'e2e-invited');
  await page.screenshot({ path: shot('invited') });
  // Typed over the suggested name, Enter joins the invite's room.
  await page.keyboard.type('Grace');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#game[data-state="joined"][data-room="e2e-invited"]');
  await page.waitForFunction(() => /Grace/.test(document.querySelector('#scoreboard')?.textContent ?? ''));
  // Back goes to the lobby, which names no room (not into the room again).
  await page.goBack();
  await page.waitForSelector('#lobby:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#game')?.hasAttribute('hidden'));
  assert.equal(new URL(page.url()).search, '');
  assert.equal(await page.isHidden('#invited'), true);
  // Remembered now: the next link goes straight in.
  await page.goto(`${server.http}/?room=e2e-invited`);
  await page.waitForSelector('#game[data-state="joined"][data-room="e2e-invited"]');
  assert.deepEqual(errors, []);
  await context.close();
  // A big screen showing a match has no keyboard: a watch link goes straight in.
  const screen = await openPage(browser, {}, { newcomer: true });
  await screen.page.goto(`${server.http}/?room=e2e-invited&spectate=1`);
  await screen.page.waitForSelector('#game[data-state="joined"][data-role="Spectator"]');
  assert.deepEqual(screen.errors, []);
  await screen.context.close();
});

test('a server only this machine reaches says which --bind lets phones in, in the lobby and the game', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(server.http);
  await page.waitForSelector('#lobby-lan-warning:not([hidden])');
  assert.match(await page.textContent('#lobby-lan-warning') ?? '', new RegExp(`--bind 0\\.0\\.0\\.0:${server.port} so phones`));
  await page.goto(`${server.http}/?room=e2e-lan`);
  await page.waitForSelector('#game[data-state="joined"]');
  await page.click('#invite-btn');
  await page.waitForSelector('#invite-lan-warning:not([hidden])');
  assert.match(await page.textContent('#invite-link') ?? '', /^http:\/\/127\.0\.0\.1:/);
  assert.match(await page.textContent('#invite-lan-warning') ?? '', new RegExp(`^A phone cannot open this link.*--bind 0\\.0\\.0\\.0:${server.port}`));
  await page.screenshot({ path: shot('invite-loopback') });
  assert.deepEqual(errors, []);
  await context.close();
});

test('on a phone, the Chat button opens the chat box, and sending closes it', async () => {
  const { context, page, errors } = await openPage(browser, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await page.goto(`${server.http}/?room=e2e-phone-chat`);
  await page.waitForSelector('#game[data-state="joined"]');
  await page.waitForSelector('#touch:not([hidden])');
  assert.equal(await page.isHidden('#chat-input'), true, 'no box until asked for');
  await page.tap('#chat-btn');
  await page.waitForSelector('#chat-input', { state: 'visible' });
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'chat-input');
  await page.keyboard.type('hi from a phone');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#chat-log li:has-text("hi from a phone")');
  await page.waitForSelector('#chat-input', { state: 'hidden' });
  assert.equal(await page.isVisible('#touch'), true, 'still steering');
  assert.deepEqual(errors, []);
  await context.close();
});

test('on a phone, a lobby listing rooms with long names fits the screen, Join and Watch whole, from 390 down to 320 px', async () => {
  const rooms = ['e2e-phone-lobby1', 'x.y_z-1234567890', 'e2e-wide'];
  const others = rooms.map((room) => new TickwireClient({ url: server.ws, name: 'host', room }));
  for (const c of others) c.connect();
  const { context, page, errors } = await openPage(browser, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true });
  await page.goto(server.http);
  for (const room of rooms) await page.waitForSelector(`#rooms-body tr[data-room="${room}"]`, { timeout: 10000 });
  /** @type {string[]} */
  const overflows = [];
  for (const width of [390, 360, 320]) {
    await page.setViewportSize({ width, height: 844 });
    // A mobile viewport grows to fit a page wider than the screen (innerWidth with it):
    // measured against the screen's width.
    const m = await page.evaluate(() => {
      const table = /** @type {HTMLElement} */ (document.querySelector('table.rooms'));
      const buttons = [...document.querySelectorAll('#rooms-body button')].map((b) => b.getBoundingClientRect());
      return {
        page: document.documentElement.scrollWidth, inner: innerWidth,
        table: table.getBoundingClientRect().right, card: /** @type {HTMLElement} */ (table.parentElement).getBoundingClientRect().right,
        buttons: Math.max(...buttons.map((b) => b.right)),
      };
    });
    if (m.page > width || m.inner > width) overflows.push(`${width} px: the page is ${m.page} px wide (viewport ${m.inner})`);
    if (m.table > m.card) overflows.push(`${width} px: the table runs ${Math.round(m.table - m.card)} px out of its card`);
    if (m.buttons > width) overflows.push(`${width} px: a Join or Watch button ends at ${Math.round(m.buttons)} px`);
  }
  assert.deepEqual(overflows, []);
  await page.screenshot({ path: shot('lobby-phone-rooms'), fullPage: true });
  for (const c of others) await c.leave();
  assert.deepEqual(errors, []);
  await context.close();
});

/**
 * What of `selectors` a finger would miss: visible elements smaller than 44x44 CSS px.
 * @param {import('playwright-core').Page} page @param {string[]} selectors
 */
function smallTargets(page, selectors) {
  return page.evaluate((selectors) => selectors.flatMap((selector) => [...document.querySelectorAll(selector)]
    .map((e) => e.getBoundingClientRect())
    .filter((b) => b.width > 0 && (b.width < 44 || b.height < 44))
    .map((b) => `${selector} is ${Math.round(b.width)}x${Math.round(b.height)}`)), selectors);
}

test('on a touch screen every button, field and checkbox is at least 44 px, Leave stands apart, and the HUD reads at 12 px or more', async () => {
  const host = new TickwireClient({ url: server.ws, name: 'host', room: 'e2e-targets' });
  host.connect();
  const { context, page, errors } = await openPage(browser, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true });
  await page.goto(server.http);
  await page.waitForSelector('#rooms-body tr[data-room="e2e-targets"]', { timeout: 10000 });
  /** @type {string[]} */
  const small = [];
  // A checkbox's target is its label.
  small.push(...await smallTargets(page, ['#lobby button:not([hidden])', '#lobby input:not([type="checkbox"])', '#lobby label.check']));
  await page.goto(`${server.http}/?room=e2e-targets`);
  await page.waitForSelector('#game[data-state="joined"]');
  await page.waitForSelector('#touch:not([hidden])');
  await page.tap('#invite-btn');
  await page.waitForSelector('#invite:not([hidden])');
  small.push(...await smallTargets(page, ['.hud-actions button', '#invite label.check']));
  assert.deepEqual(small, []);
  const gap = await page.evaluate(() => /** @type {Element} */ (document.querySelector('#leave-btn')).getBoundingClientRect().left
    - /** @type {Element} */ (document.querySelector('#invite-btn')).getBoundingClientRect().right);
  assert.ok(gap >= 16, `Leave is ${gap} px from Invite`);
  const tiny = await page.evaluate(() => [...document.querySelectorAll('.hud *')]
    .filter((e) => e.checkVisibility() && [...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent?.trim()))
    .map((e) => [e.id || e.className, parseFloat(getComputedStyle(e).fontSize)])
    .filter(([, size]) => Number(size) < 12));
  assert.deepEqual(tiny, []);
  await context.close();
  // A mouse keeps the compact desktop layout.
  const desk = await openPage(browser);
  await desk.page.goto(`${server.http}/?room=e2e-targets`);
  await desk.page.waitForSelector('#game[data-state="joined"]');
  const leave = await desk.page.locator('#leave-btn').boundingBox();
  assert.ok(leave && leave.height < 40, `desktop buttons stay compact: Leave is ${leave?.height} px tall`);
  await host.leave();
  assert.deepEqual(errors, []);
  assert.deepEqual(desk.errors, []);
  await desk.context.close();
});

test('the live regions are in the page before they speak, across a Leave and a new game, and the chat log has a name', async () => {
  const { context, page, errors } = await openPage(browser);
  /** Whether a screen reader would see each live region now: in the page, neither hidden nor undisplayed. */
  const present = () => page.evaluate(() => ['#banner', '#center-msg'].map((id) => {
    const e = /** @type {HTMLElement} */ (document.querySelector(id));
    const style = getComputedStyle(e);
    return `${id}: ${e.hidden || style.display === 'none' || style.visibility === 'hidden' ? 'absent' : e.getAttribute('role')}`;
  }));
  for (const room of ['e2e-live', 'e2e-live-2']) {
    await page.goto(`${server.http}/?room=${room}`);
    await page.waitForSelector('#game[data-state="joined"]');
    assert.deepEqual(await present(), ['#banner: status', '#center-msg: status']);
    await page.getByRole('log', { name: 'Chat' }).waitFor({ state: 'attached' });
    await page.click('#leave-btn');
    await page.waitForSelector('#lobby:not([hidden])');
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test('a room name that will not do is explained on the page, in the rule\'s own words, and nothing is joined', async () => {
  const { context, page, errors } = await openPage(browser);
  await page.goto(server.http);
  await page.waitForSelector('#lobby:not([hidden])');
  for (const typed of ['no good!', '']) {
    await page.fill('#room-name', typed);
    await page.click('#create-form button[type="submit"]');
    await page.waitForSelector('#create-error:visible');
    assert.equal(await page.textContent('#create-error'), 'A room name is 1 to 16 letters, digits, dots, dashes or underscores.');
    assert.equal(await page.getAttribute('#room-name', 'aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'room-name');
    assert.equal(await page.isHidden('#game'), true);
  }
  // The rule is the field's description too, for a screen reader and a pointer's tooltip.
  assert.match(await page.getAttribute('#room-name', 'title') ?? '', /1 to 16 letters, digits, dots, dashes or underscores/);
  // Its name is its label's words, without the Join button's beside it.
  assert.equal(await page.getByRole('textbox', { name: 'Join or create a room by name', exact: true }).getAttribute('id'), 'room-name');
  await page.fill('#room-name', 'e2e-rule');
  await page.press('#room-name', 'Enter');
  await page.waitForSelector('#game[data-state="joined"]');
  assert.equal(await page.isHidden('#create-error'), true);
  assert.deepEqual(errors, []);
  await context.close();
});

test('the fields\' hints (placeholders) read at 4.5:1 or more, in the lobby and on the arena', async () => {
  const { contrastRatio } = await import('../../js/dom.js');
  const { context, page, errors } = await openPage(browser);
  /**
   * Each field's placeholder colour and its backing, both as seen: the field's opacity and a
   * translucent backing laid over `under`.
   * @param {string[]} ids @param {string} under
   */
  const seen = (ids, under) => page.evaluate(([ids, under]) => {
    const rgba = (/** @type {string} */ c) => (c.match(/[\d.]+/g) ?? []).map(Number).concat(1).slice(0, 4);
    const over = (/** @type {number[]} */ top, /** @type {number[]} */ bottom, /** @type {number} */ a) => top.slice(0, 3).map((v, i) => v * a + bottom[i] * (1 - a));
    const hex = (/** @type {number[]} */ c) => `#${c.map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;
    return ids.map((id) => {
      const input = /** @type {HTMLElement} */ (document.querySelector(id));
      const opacity = Number(getComputedStyle(input).opacity);
      const floor = rgba(under);
      const backing = rgba(getComputedStyle(input).backgroundColor);
      const bg = over(over(backing, floor, backing[3]), floor, opacity);
      const hint = rgba(getComputedStyle(input, '::placeholder').color);
      return { id, hint: hex(over(over(hint, bg, hint[3]), floor, opacity)), bg: hex(bg) };
    });
  }, /** @type {[string[], string]} */ ([ids, under]));
  await page.goto(server.http);
  await page.waitForSelector('#lobby:not([hidden])');
  const fields = await seen(['#name', '#room-name'], 'rgb(7, 11, 22)');
  await page.goto(`${server.http}/?room=e2e-hints`);
  await page.waitForSelector('#game[data-state="joined"]');
  // The arena floor (js/game.js CHAT_BACKDROP), under the chat box, unfocused as it mostly is.
  fields.push(...await seen(['#chat-input'], 'rgb(10, 18, 38)'));
  const low = fields.map((f) => ({ ...f, ratio: Math.round(contrastRatio(f.hint, f.bg) * 100) / 100 })).filter((f) => f.ratio < 4.5);
  assert.deepEqual(low, []);
  assert.deepEqual(errors, []);
  await context.close();
});

test('asked for less motion, the reconnect spinner and the dashboard\'s live dot hold still, and the arena knows', async () => {
  /** @param {import('playwright-core').Page} page @param {string} selector @param {string} [pseudo] */
  const animation = (page, selector, pseudo) => page.evaluate(([selector, pseudo]) => {
    const e = /** @type {Element} */ (document.querySelector(selector));
    return getComputedStyle(e, pseudo ?? null).animationName;
  }, /** @type {[string, string | undefined]} */ ([selector, pseudo]));
  for (const reducedMotion of /** @type {const} */ (['no-preference', 'reduce'])) {
    const { context, page, errors } = await openPage(browser, { reducedMotion });
    const moving = reducedMotion === 'no-preference';
    await page.goto(`${server.http}/?room=e2e-motion`);
    await page.waitForSelector('#game[data-state="joined"]');
    // The spinner the banner shows while reconnecting.
    await page.evaluate(() => {
      const spinner = document.createElement('span');
      spinner.className = 'spinner';
      document.querySelector('#banner')?.append(spinner);
    });
    assert.equal(await animation(page, '#banner .spinner'), moving ? 'spin' : 'none');
    assert.equal(await page.evaluate(() => globalThis.tickwire.game?.renderer.reducedMotion), !moving);
    await page.goto(`${server.http}/dashboard`);
    await page.waitForSelector('#status.live');
    assert.equal(await animation(page, '#status', '::before'), moving ? 'blink' : 'none');
    assert.deepEqual(errors, []);
    await context.close();
  }
});
