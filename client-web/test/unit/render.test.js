// The renderer, in Node on a stand-in canvas: a tab that draws no frames (hidden) while ships
// keep scoring keeps a bounded number of effects, the newest; and the camera keeps the own ship
// out from under a touch layout's boost button.
import { test } from 'node:test';
import assert from 'node:assert/strict';

const { Renderer, isArenaKind } = await import('../../js/render.js');

test('score popups and sparks are capped, the oldest dropped, while no frame prunes them', () => {
  const canvas = /** @type {HTMLCanvasElement} */ (/** @type {unknown} */ ({ getContext: () => ({}) }));
  const renderer = new Renderer(canvas);
  // A busy room in a hidden tab: ships score, and not one frame is drawn.
  for (let i = 1; i <= 5000; i++) renderer.burst(100, 100, i, '#ffd43b');
  assert.equal(renderer.popups.length, 50);
  assert.equal(renderer.popups[0].text, '+4951');
  assert.equal(renderer.popups[renderer.popups.length - 1].text, '+5000', 'the newest kept');
  assert.equal(renderer.particles.length, 600);
});

/**
 * Where a ship is drawn once the camera has settled on it. @param {InstanceType<typeof Renderer>} renderer
 * @param {{ x: number, y: number }} ship
 */
function settle(renderer, ship) {
  const world = { width: 1600, height: 1000 };
  for (let i = 0; i < 120; i++) renderer.aim(world, ship);
  const c = renderer.camera;
  return { x: renderer.width / 2 + (ship.x - c.x) * c.scale, y: renderer.height / 2 + (ship.y - c.y) * c.scale };
}

test('a phone held sideways: a ship at the right wall is not drawn under the boost button', () => {
  const canvas = /** @type {HTMLCanvasElement} */ (/** @type {unknown} */ ({ getContext: () => ({}) }));
  // 844x390, the button where the stylesheet puts it: 24 px from the right, 110 from the bottom.
  const boost = { left: 724, top: 184, right: 820, bottom: 280 };
  const under = (/** @type {{ x: number, y: number }} */ p) => p.x > boost.left - 20 && p.x < boost.right + 20 && p.y > boost.top - 20 && p.y < boost.bottom + 20;
  const wall = { x: 1590, y: 500 };
  const bare = Object.assign(new Renderer(canvas), { width: 844, height: 390 });
  assert.ok(under(settle(bare, wall)), 'without the button known, the camera stops at the wall, the ship under it');
  const phone = Object.assign(new Renderer(canvas), { width: 844, height: 390 });
  phone.covered = [boost];
  const drawn = settle(phone, wall);
  assert.ok(!under(drawn), `drawn at ${JSON.stringify(drawn)}`);
  assert.ok(drawn.x > 844 / 2, 'still right of centre, beside the button');
  // In the open the ship is centred, as ever.
  const open = settle(phone, { x: 800, y: 500 });
  assert.ok(Math.abs(open.x - 422) < 1 && Math.abs(open.y - 195) < 1, JSON.stringify(open));
});

test('a ship in the bottom right corner is not drawn under the open invite popover', () => {
  const canvas = /** @type {HTMLCanvasElement} */ (/** @type {unknown} */ ({ getContext: () => ({}) }));
  // 1280x760, the popover where the stylesheet puts it: 14 px from the right, above the buttons.
  const popover = { left: 1000, top: 300, right: 1266, bottom: 700 };
  const under = (/** @type {{ x: number, y: number }} */ p) => p.x > popover.left - 20 && p.x < popover.right + 20 && p.y > popover.top - 20 && p.y < popover.bottom + 20;
  const corner = { x: 1590, y: 990 };
  const bare = Object.assign(new Renderer(canvas), { width: 1280, height: 760 });
  assert.ok(under(settle(bare, corner)), 'without the popover known, the ship is drawn under it');
  const open = Object.assign(new Renderer(canvas), { width: 1280, height: 760 });
  open.covered = [popover];
  const drawn = settle(open, corner);
  assert.ok(!under(drawn), `drawn at ${JSON.stringify(drawn)}`);
  assert.ok(drawn.x >= 0 && drawn.x <= 1280 && drawn.y >= 0 && drawn.y <= 760, 'on screen');
});

test('a phone held upright: a ship along the bottom wall is drawn clear of the chat lines, the buttons and the boost button at once', () => {
  const canvas = /** @type {HTMLCanvasElement} */ (/** @type {unknown} */ ({ getContext: () => ({}) }));
  // 390x844: the chat lines bottom left, the Chat, Invite and Leave buttons under them, the
  // boost button bottom right (as the game measures them).
  const covered = [
    { left: 258, top: 622, right: 354, bottom: 718 },
    { left: 10, top: 640, right: 300, bottom: 700 },
    { left: 140, top: 760, right: 380, bottom: 804 },
  ];
  const phone = Object.assign(new Renderer(canvas), { width: 390, height: 844 });
  phone.covered = covered;
  for (const x of [20, 400, 800, 1200, 1580]) {
    const drawn = settle(phone, { x, y: 980 });
    const under = covered.filter((r) => drawn.x > r.left - 20 && drawn.x < r.right + 20 && drawn.y > r.top - 20 && drawn.y < r.bottom + 20);
    assert.deepEqual(under, [], `a ship at ${x}, 980 drawn at ${JSON.stringify(drawn)}`);
  }
});

test('with reduced motion asked for, the stars hold still and a score shows its "+n" in place, without sparks', () => {
  const canvas = /** @type {HTMLCanvasElement} */ (/** @type {unknown} */ ({ getContext: () => ({}) }));
  const renderer = Object.assign(new Renderer(canvas), { width: 800, height: 600 });
  const star = renderer.stars[5];
  const at = (/** @type {number} */ x, /** @type {number} */ time) => {
    renderer.camera = { x, y: x, scale: 1 };
    return renderer.star(star, time);
  };
  const ctx = { fillText() {}, fillRect() {}, globalAlpha: 1, fillStyle: '', textAlign: '', font: '' };
  renderer.ctx = /** @type {any} */ (ctx);
  // By default they move: parallax, twinkle, sparks, a rising "+n".
  assert.notDeepEqual(at(0, 0), at(400, 500));
  renderer.burst(100, 100, 1, '#ffd43b');
  assert.equal(renderer.particles.length, 18);
  renderer.drawEffects(0.1, 1);
  assert.ok(renderer.popups[0].y < 70);
  // The player's setting, followed live.
  renderer.motionQuery = { matches: true };
  renderer.particles = [];
  renderer.popups = [];
  assert.deepEqual(at(0, 0), at(400, 500));
  renderer.burst(100, 100, 2, '#ffd43b');
  assert.equal(renderer.particles.length, 0, 'no sparks');
  renderer.drawEffects(0.1, 1);
  assert.deepEqual(renderer.popups.map((p) => [p.text, p.y]), [['+2', 70]], 'the "+n" stays where it was scored');
});

test('entities of a game of its own, of kinds the arena has not, are drawn as dots with their value', () => {
  const canvas = /** @type {HTMLCanvasElement} */ (/** @type {unknown} */ ({ getContext: () => ({}) }));
  const renderer = new Renderer(canvas);
  /** @type {any[]} */
  const drawn = [];
  renderer.ctx = /** @type {any} */ ({
    beginPath() {}, fill() { drawn.push(['fill', this.fillStyle]); },
    arc(/** @type {number} */ x, /** @type {number} */ y) { drawn.push(['arc', x, y]); },
    fillText(/** @type {string} */ text, /** @type {number} */ x, /** @type {number} */ y) { drawn.push(['text', text, x, y]); },
    fillStyle: '', font: '', textAlign: '',
  });
  const entity = (/** @type {number} */ kind, /** @type {number} */ value) =>
    /** @type {any} */ ({ id: 9, kind, x: 120, y: 80, vx: 0, vy: 0, heading: 0, flags: 0, value });
  renderer.drawOther(entity(10, 3), 1);
  assert.deepEqual(drawn.filter((d) => d[0] !== 'fill'), [['arc', 120, 80], ['text', '3', 120, 68]]);
  drawn.length = 0;
  renderer.drawOther(entity(11, 0), 1);
  assert.deepEqual(drawn.filter((d) => d[0] === 'text'), [], 'no value, no label');
  assert.notEqual(drawn[1][1], '', 'a colour of its kind');
  assert.ok(isArenaKind(0) && isArenaKind(1) && !isArenaKind(10), 'the arena draws its ships and pickups itself');
});
