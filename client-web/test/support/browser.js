// Test support: Debian's Chromium driven by playwright-core (never a downloaded browser), pages
// that fail the test on any console error, and a spectator that reports the server's view.

import { chromium } from 'playwright-core';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, until } from './server.js';
import { TickwireClient, worldEntity } from '../../sdk/index.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(REPO, 'target', 'e2e');

/** Launches headless Chromium with the flags this machine needs (no network beyond loopback). */
export async function launch() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium); tests never download a browser`);
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
  // launch() starts from a fresh temporary profile (its own --user-data-dir) every time.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** The name a test's browser remembers, as a returning player's does. */
export const REMEMBERED_NAME = 'e2e-pilot';

/**
 * A new page in a new context, recording console errors and uncaught exceptions. Its browser
 * remembers a player's name (a returning player: a room's link takes them straight in), unless
 * `newcomer`: a first visit, which such a link asks for a name first.
 * @param {import('playwright-core').Browser} browser
 * @param {import('playwright-core').BrowserContextOptions} [options]
 * @param {{ newcomer?: boolean }} [visit]
 */
export async function openPage(browser, options = {}, { newcomer = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 }, ...options });
  if (!newcomer) {
    await context.addInitScript((name) => {
      try {
        if (!localStorage.getItem('tickwire.name')) localStorage.setItem('tickwire.name', name);
      } catch {
        // a page without storage (about:blank)
      }
    }, REMEMBERED_NAME);
  }
  const page = await context.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`exception: ${e.message}`));
  return { context, page, errors };
}

/**
 * Watches a room as a spectator through the SDK: the server's own view of every ship.
 * @param {string} ws the server's /ws URL
 * @param {string} room
 */
export async function watch(ws, room) {
  const client = new TickwireClient({ url: ws, name: 'referee', room, role: 'Spectator' });
  /** @type {import('../../sdk/index.js').EventKind[]} */
  const events = [];
  client.on('event', (e) => events.push(e.kind));
  client.connect();
  await until(() => client.session.world, `the referee sees ${room}`);
  return {
    client,
    events,
    /** @param {number} id */
    ship: (id) => (client.session.world ? worldEntity(client.session.world, id) : undefined),
    leave: () => client.leave(),
  };
}

/**
 * The page's game state, from the data attributes the game view keeps.
 * @param {import('playwright-core').Page} page
 */
export async function gameState(page) {
  return page.$eval('#game', (el) => ({ ...(/** @type {HTMLElement} */ (el)).dataset }));
}
