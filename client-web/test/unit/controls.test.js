// The keyboard half of the game's controls, in Node with a stand-in window: a key released
// while the controls were off, or while typing in the chat box, is not left held, and one held
// through their being off still is; keys on a focused button or checkbox; the touch layout on
// a screen that also has a keyboard; and a touch stick whose release never comes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classList } from '../support/page.js';

/** A stand-in for the page's elements: what the controls touch of them. @returns {HTMLElement} */
const element = (tagName = 'DIV', attributes = {}) => /** @type {any} */ (Object.assign(new EventTarget(), {
  hidden: true, tagName, style: {}, classList: classList(), ...attributes,
  hasAttribute: (/** @type {string} */ name) => name in attributes,
  getAttribute: (/** @type {string} */ name) => /** @type {any} */ (attributes)[name] ?? null,
}));
/** @type {any} */ (globalThis).window = new EventTarget();
// Node 20 has no navigator (no gamepads either way).
/** @type {any} */ (globalThis).navigator ??= {};
const { Controls, isTextEntry, isControl } = await import('../../js/controls.js');

/**
 * Dispatches a key event on the window, as if it happened on `target` (default: the body).
 * @param {string} type @param {string} code @param {EventTarget} [target] @param {string} [key]
 */
function key(type, code, target, key = code) {
  const event = Object.assign(new Event(type, { cancelable: true }), { code, key });
  if (target) Object.defineProperty(event, 'target', { value: target });
  window.dispatchEvent(event);
  return event;
}

/** @param {{ steers?: boolean }} [options] */
function controls(options) {
  const zone = Object.assign(element(), { getBoundingClientRect: () => ({ left: 0, top: 0 }) });
  const el = { root: element(), touch: element(), zone, base: element(), knob: element(), boost: element('BUTTON') };
  return { c: new Controls(el, options), el };
}

test('a key released while the controls were off is not held when they come back', () => {
  const { c } = controls();
  c.enabled = true;
  key('keydown', 'KeyD');
  assert.equal(c.read().x, 1);
  c.enabled = false; // the connection dropped: reconnecting
  key('keyup', 'KeyD');
  c.enabled = true; // resumed
  assert.equal(c.read().x, 0, 'the ship does not turn by itself');
  c.dispose();
});

test('keys held through a reconnect steer again when it is back, with no key pressed again', () => {
  const { c } = controls();
  c.enabled = true;
  key('keydown', 'KeyW');
  key('keydown', 'Space');
  assert.deepEqual(c.read(), { x: 0, y: -1, buttons: 1 });
  c.enabled = false; // the connection dropped: reconnecting
  assert.deepEqual(c.read(), { x: 0, y: 0, buttons: 0 }, 'nothing steers while off');
  c.enabled = true; // resumed, W and Space still down (and neither repeating)
  assert.deepEqual(c.read(), { x: 0, y: -1, buttons: 1 }, 'thrusting and boosting as before');
  key('keyup', 'KeyW');
  key('keyup', 'Space');
  c.dispose();
});

test('a key released in the chat box is not held', () => {
  const { c } = controls();
  c.enabled = true;
  key('keydown', 'KeyW');
  assert.equal(c.read().y, -1);
  // Enter focused the chat box: the release lands there.
  const input = element('INPUT');
  key('keyup', 'KeyW', input);
  assert.equal(c.read().y, 0, 'the ship stops thrusting');
  // Typing there steers nothing.
  const typed = key('keydown', 'KeyA', input);
  assert.equal(c.read().x, 0);
  assert.equal(typed.defaultPrevented, false, 'the letter is typed');
  c.dispose();
});

test('a focused checkbox or button still steers, and Space presses it rather than boosting', () => {
  const { c } = controls();
  c.enabled = true;
  for (const focused of [element('INPUT', { type: 'checkbox' }), element('BUTTON')]) {
    const down = key('keydown', 'ArrowRight', focused);
    assert.equal(c.read().x, 1, `${focused.tagName}: arrows steer`);
    assert.equal(down.defaultPrevented, true);
    key('keyup', 'ArrowRight', focused);
    key('keydown', 'KeyW', focused);
    assert.equal(c.read().y, -1, `${focused.tagName}: letters steer`);
    key('keyup', 'KeyW', focused);
    const space = key('keydown', 'Space', focused, ' ');
    const spaceUp = key('keyup', 'Space', focused, ' ');
    assert.equal(space.defaultPrevented || spaceUp.defaultPrevented, false, `${focused.tagName}: Space presses it`);
    assert.equal(c.read().buttons, 0);
  }
  // On the page itself Space boosts, and scrolls nothing.
  const body = element('BODY');
  const boost = key('keydown', 'Space', body, ' ');
  assert.equal(c.read().buttons, 1);
  assert.equal(boost.defaultPrevented, true);
  key('keyup', 'Space', body, ' ');
  c.dispose();
});

test('text entry is told apart from other controls', () => {
  assert.equal(isTextEntry(element('INPUT', { type: 'text' })), true);
  assert.equal(isTextEntry(element('INPUT', { type: 'search' })), true);
  assert.equal(isTextEntry(element('TEXTAREA')), true);
  assert.equal(isTextEntry(element('DIV', { isContentEditable: true })), true);
  assert.equal(isTextEntry(element('INPUT', { type: 'checkbox' })), false);
  assert.equal(isTextEntry(element('BUTTON')), false);
  assert.equal(isTextEntry(null), false);
  assert.equal(isControl(element('BUTTON')), true);
  assert.equal(isControl(element('A', { href: '/' })), true);
  assert.equal(isControl(element('A')), false, 'an anchor without a link');
  assert.equal(isControl(element('DIV', { role: 'button' })), true);
  assert.equal(isControl(element('CANVAS')), false);
  assert.equal(isControl(element('BODY')), false);
});

test('a spectator on a touch screen gets the touch layout but no stick or boost button', () => {
  const player = controls();
  window.dispatchEvent(new Event('touchstart'));
  assert.equal(player.el.touch.hidden, false);
  assert.equal(player.el.root.classList.contains('touching'), true);
  player.c.dispose();
  const spectator = controls({ steers: false });
  window.dispatchEvent(new Event('touchstart'));
  assert.equal(spectator.el.touch.hidden, true, 'nothing to steer');
  assert.equal(spectator.el.root.classList.contains('touching'), true);
  spectator.c.dispose();
});

test('a key pressed after a touch goes back to the keyboard layout, and lets go of the stick', () => {
  const { c, el } = controls();
  c.enabled = true;
  window.dispatchEvent(new Event('touchstart'));
  c.stick = { x: 0.5, y: 0, pointer: 3, ox: 10, oy: 10 };
  c.setBoost(true);
  // A phone's on-screen keyboard (it types only into fields) changes nothing.
  key('keydown', '', element('BODY'), 'Unidentified');
  assert.equal(el.root.classList.contains('touching'), true);
  key('keydown', 'KeyD', element('BODY'), 'd');
  assert.equal(el.root.classList.contains('touching'), false, 'the chat box shows again');
  assert.equal(el.touch.hidden, true);
  assert.deepEqual(c.read(), { x: 1, y: 0, buttons: 0 }, 'only the key steers');
  window.dispatchEvent(new Event('touchstart'));
  assert.equal(el.root.classList.contains('touching'), true, 'a touch brings it back');
  c.dispose();
});

/** A touch on the stick's zone. @param {HTMLElement} zone @param {string} type @param {number} pointerId */
function touch(zone, type, pointerId, clientX = 100, clientY = 100) {
  zone.dispatchEvent(Object.assign(new Event(type, { cancelable: true }), { pointerId, clientX, clientY }));
}

test('the stick and the boost button are let go of when the window loses the focus', () => {
  const { c, el } = controls();
  c.enabled = true;
  touch(el.zone, 'pointerdown', 3);
  touch(el.zone, 'pointermove', 3, 100 + 56, 100);
  el.boost.dispatchEvent(new Event('pointerdown', { cancelable: true }));
  assert.deepEqual(c.read(), { x: 1, y: 0, buttons: 1 });
  assert.equal(el.base.hidden, false);
  // Switched to another app: the finger's release goes there.
  window.dispatchEvent(new Event('blur'));
  assert.deepEqual(c.read(), { x: 0, y: 0, buttons: 0 }, 'the ship does not fly on by itself');
  assert.equal(el.base.hidden, true);
  assert.equal(el.boost.classList.contains('on'), false);
  // Back: a new touch takes the stick.
  touch(el.zone, 'pointerdown', 4);
  touch(el.zone, 'pointermove', 4, 100, 100 - 56);
  assert.deepEqual(c.read(), { x: 0, y: -1, buttons: 0 });
  c.dispose();
});

test('a finger that stayed on the stick through a lost focus steers again when it moves, from where it is', () => {
  const { c, el } = controls();
  c.enabled = true;
  touch(el.zone, 'pointerdown', 5);
  touch(el.zone, 'pointermove', 5, 100 + 56, 100);
  assert.equal(c.read().x, 1);
  window.dispatchEvent(new Event('blur'));
  assert.deepEqual(c.read(), { x: 0, y: 0, buttons: 0 }, 'let go of');
  // The finger is still down: the zone holds its capture, and its moves come. They steered
  // nothing until it was lifted and put down again.
  touch(el.zone, 'pointermove', 5, 150, 100);
  assert.deepEqual(c.read(), { x: 0, y: 0, buttons: 0 }, 'centred where the finger is, no jump');
  assert.equal(el.base.hidden, false);
  touch(el.zone, 'pointermove', 5, 150, 100 - 56);
  assert.deepEqual(c.read(), { x: 0, y: -1, buttons: 0 }, 'the same finger steers');
  touch(el.zone, 'pointerup', 5);
  assert.deepEqual(c.read(), { x: 0, y: 0, buttons: 0 });
  // A finger lifted while let go of is forgotten: a later pointer with its number is a new touch.
  touch(el.zone, 'pointerdown', 6);
  window.dispatchEvent(new Event('blur'));
  touch(el.zone, 'pointerup', 6);
  touch(el.zone, 'pointermove', 6, 100, 40);
  assert.deepEqual(c.read(), { x: 0, y: 0, buttons: 0 });
  c.dispose();
});

test('a stick whose pointer capture is lost without a pointerup lets go, and takes the next touch', () => {
  const { c, el } = controls();
  c.enabled = true;
  touch(el.zone, 'pointerdown', 7);
  touch(el.zone, 'pointermove', 7, 100 - 56, 100);
  assert.equal(c.read().x, -1);
  touch(el.zone, 'lostpointercapture', 7);
  assert.deepEqual(c.read(), { x: 0, y: 0, buttons: 0 });
  assert.equal(el.base.hidden, true);
  touch(el.zone, 'pointerdown', 8);
  touch(el.zone, 'pointermove', 8, 100 + 56, 100);
  assert.equal(c.read().x, 1, 'the new finger steers');
  c.dispose();
});

test('a pad\'s Start counts once per press, whether or not the controls steer, and says a pad is in use', (t) => {
  const { c } = controls();
  const start = { pressed: false };
  const pad = { connected: true, axes: [0, 0], buttons: Array.from({ length: 17 }, (_, i) => (i === 9 ? start : { pressed: false })) };
  const nav = /** @type {any} */ (globalThis).navigator;
  const before = nav.getGamepads;
  nav.getGamepads = () => [pad, null];
  t.after(() => { nav.getGamepads = before; c.dispose(); });
  c.enabled = false; // a failure's dialog showing
  assert.equal(c.startPressed(), false);
  start.pressed = true;
  assert.equal(c.startPressed(), true);
  assert.equal(c.source, 'gamepad');
  assert.equal(c.startPressed(), false, 'held, not pressed again');
  start.pressed = false;
  assert.equal(c.startPressed(), false);
  start.pressed = true;
  assert.equal(c.startPressed(), true, 'the next press');
});
