// Takes the README's screenshots (docs/match.png, docs/dashboard.png, docs/moderation.png): a
// real server, six bots built on the SDK that chase pickups, and headless Chromium watching the
// match, the dashboard and its moderation panel. Run: `npm run screenshots` in client-web/
// (needs Debian's chromium).

import { join } from 'node:path';
import { startServer, until, REPO } from './support/server.js';
import { launch } from './support/browser.js';
import { TickwireClient, worldEntity, Arena } from '../sdk/index.js';

const NAMES = ['ada', 'grace', 'linus', 'margaret', 'ken', 'barbara'];
const LINES = ['gl hf', 'that orb was mine', 'nice boost', 'gg'];

const ADMIN_TOKEN = 'readme-screenshot-token-32-bytes';
const server = await startServer(['--seed', '5', '--admin-token', ADMIN_TOKEN]);
/** @type {TickwireClient[]} */
const bots = NAMES.map((name, i) => {
  const bot = new TickwireClient({ url: server.ws, name, room: 'arena-1' });
  bot.on('snapshot', ({ world }) => {
    const me = bot.session.welcome?.entity;
    const ship = me == null ? undefined : worldEntity(world, me);
    if (!ship) return;
    // Chase the nearest pickup (a rare one counts as closer), boosting when far.
    let best = null;
    let bestScore = Infinity;
    for (const e of world.entities) {
      if (e.kind !== Arena.KIND_PICKUP) continue;
      // Each bot has its own taste in pickups (up to 500 units of bias), so they spread out.
      const d = Math.hypot(e.pos.x - ship.pos.x, e.pos.y - ship.pos.y) / (e.value >= 3 ? 2 : 1) + ((i * 977 + e.id * 131) % 500) * 16;
      if (d < bestScore) { bestScore = d; best = e; }
    }
    if (!best) return;
    const dx = best.pos.x - ship.pos.x;
    const dy = best.pos.y - ship.pos.y;
    const len = Math.hypot(dx, dy) || 1;
    bot.setInput({ x: dx / len, y: dy / len, buttons: len > 16 * 350 ? 1 : 0 });
  });
  bot.connect();
  return bot;
});
await until(() => bots.every((b) => b.session.world), 'bots in the arena');
const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const page = await context.newPage();
  await page.goto(`${server.http}/?room=arena-1&spectate=1`);
  await page.waitForSelector('#game[data-state="joined"]');
  await new Promise((r) => setTimeout(r, 6000));
  bots[0].chat(LINES[0]);
  await new Promise((r) => setTimeout(r, 1500));
  bots[3].chat(LINES[1]);
  await new Promise((r) => setTimeout(r, 1200));
  bots[1].chat(LINES[2]);
  await new Promise((r) => setTimeout(r, 2500));
  await page.screenshot({ path: join(REPO, 'docs', 'match.png') });
  const dash = await context.newPage();
  await dash.goto(`${server.http}/dashboard`);
  await new Promise((r) => setTimeout(r, 8000));
  await dash.screenshot({ path: join(REPO, 'docs', 'dashboard.png') });
  // The moderation panel in use: one player muted, another about to be removed, a network banned.
  await dash.fill('#mod-token', ADMIN_TOKEN);
  await dash.click('#mod-unlock button[type=submit]');
  await dash.click('#rooms-body button:text-is("moderate")');
  await dash.waitForFunction((/** @type {number} */ count) => document.querySelectorAll('#mod-seats-body tr').length >= count, NAMES.length, { timeout: 10000 });
  await dash.click('#mod-seats-body tr:has(td.name:text-is("linus")) button:text-is("mute")');
  await dash.waitForSelector('#mod-seats-body tr:has(td.name:text-is("linus")) button:text-is("unmute")');
  await dash.fill('#mod-ban-target', '203.0.113.0/24');
  await dash.fill('#mod-ban-reason', 'bot farm');
  await dash.fill('#mod-ban-for', '1d');
  await dash.click('#mod-ban-submit');
  await dash.waitForSelector('#mod-bans-body tr');
  await dash.click('#mod-seats-body tr:has(td.name:text-is("ken")) button:has-text("remove")');
  await dash.fill('#mod-reason', 'spamming the chat');
  await dash.selectOption('#mod-remove-ban', '1h');
  await dash.mouse.move(0, 0);
  await (await dash.$('#mod-panel'))?.screenshot({ path: join(REPO, 'docs', 'moderation.png') });
  console.log('wrote docs/match.png, docs/dashboard.png and docs/moderation.png');
} finally {
  await browser.close();
  await Promise.all(bots.map((b) => b.leave()));
  await server.stop();
}
