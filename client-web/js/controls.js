// Controls: keyboard, the Gamepad API and touch (a virtual stick where the left thumb lands
// and a boost button), merged into one stick and one button set each frame.

import { Buttons } from '../sdk/index.js';

const STEER_KEYS = {
  ArrowLeft: [-1, 0], KeyA: [-1, 0],
  ArrowRight: [1, 0], KeyD: [1, 0],
  ArrowUp: [0, -1], KeyW: [0, -1],
  ArrowDown: [0, 1], KeyS: [0, 1],
};
const BOOST_KEYS = new Set(['Space', 'ShiftLeft', 'ShiftRight']);
const PAD_DEAD_ZONE = 0.15;
/** A standard-mapping pad's Start (the menu button, ≡). */
const PAD_START = 9;
/** Stick travel, CSS pixels, for a full deflection. */
const STICK_RADIUS = 56;

/** Input types that take typing (or arrow keys, for their value): the game's keys are not the game's there. */
const TEXT_INPUT_TYPES = new Set([
  'text', 'search', 'email', 'url', 'tel', 'password', 'number', 'date', 'datetime-local', 'month', 'time', 'week',
]);

/**
 * Whether `target` takes typing: a text field, a text area, a select, editable content.
 * @param {EventTarget | null} target
 */
export function isTextEntry(target) {
  const el = /** @type {HTMLElement | null} */ (target);
  if (!el || typeof el.tagName !== 'string') return false;
  if (el.isContentEditable) return true;
  if (el.tagName === 'TEXTAREA' || el.tagName === 'SELECT') return true;
  return el.tagName === 'INPUT' && TEXT_INPUT_TYPES.has(/** @type {HTMLInputElement} */ (el).type || 'text');
}

/**
 * Whether Space and Enter press `target` (a button, a link, a checkbox, any form field): on a
 * control reached with the keyboard they are its keys, not boost and chat.
 * @param {EventTarget | null} target
 */
export function isControl(target) {
  const el = /** @type {HTMLElement | null} */ (target);
  if (!el || typeof el.tagName !== 'string') return false;
  if (isTextEntry(el) || ['BUTTON', 'INPUT', 'SUMMARY'].includes(el.tagName)) return true;
  if (el.tagName === 'A' && el.hasAttribute?.('href')) return true;
  return ['button', 'checkbox', 'link', 'menuitem', 'switch', 'tab'].includes(el.getAttribute?.('role') ?? '');
}

/** @param {number} v @param {number} dead */
function deadZone(v, dead) {
  return Math.abs(v) < dead ? 0 : (v - Math.sign(v) * dead) / (1 - dead);
}

export class Controls {
  /**
   * @param {object} el
   * @param {HTMLElement} el.root the game element (gets a `touching` class on touch devices)
   * @param {HTMLElement} el.touch the touch layer
   * @param {HTMLElement} el.zone the stick's zone
   * @param {HTMLElement} el.base the stick's base
   * @param {HTMLElement} el.knob the stick's knob
   * @param {HTMLElement} el.boost the boost button
   * @param {{ steers?: boolean }} [options] `steers: false` for a spectator: a touch screen
   *   gets no stick and no boost button, there being nothing to steer
   */
  constructor(el, options = {}) {
    this.el = el;
    this.steers = options.steers ?? true;
    /** @type {Set<string>} */
    this.keys = new Set();
    this.stick = { x: 0, y: 0, pointer: -1, ox: 0, oy: 0 };
    /** The finger on the stick when {@link release} let go of it, while it may still be down. */
    this.letGo = -1;
    this.touchBoost = false;
    this.on = false;
    /** Which device steered last, for the HUD and tests. */
    this.source = 'none';
    /** Whether a pad's Start was down at the last {@link startPressed}: a press counts once. */
    this.startHeld = false;
    this.abort = new AbortController();
    const opts = { signal: this.abort.signal };
    window.addEventListener('keydown', (e) => this.onKey(e, true), opts);
    window.addEventListener('keyup', (e) => this.onKey(e, false), opts);
    // The releases of what was held then go to another window (or none come, from a hidden page).
    window.addEventListener('blur', () => this.release(), opts);
    el.zone.addEventListener('pointerdown', (e) => this.stickDown(e), opts);
    el.zone.addEventListener('pointermove', (e) => this.stickMove(e), opts);
    // A capture can end without a pointerup (the page hidden under the finger, say): the stick
    // would stay held, and would take no new touch while it waits for that pointer.
    for (const type of ['pointerup', 'pointercancel', 'lostpointercapture']) {
      el.zone.addEventListener(type, (e) => this.stickUp(/** @type {PointerEvent} */ (e)), opts);
    }
    el.boost.addEventListener('pointerdown', (e) => { e.preventDefault(); this.setBoost(true); }, opts);
    for (const type of ['pointerup', 'pointercancel', 'pointerleave']) el.boost.addEventListener(type, () => this.setBoost(false), opts);
    window.addEventListener('touchstart', () => this.showTouch(), { ...opts, passive: true });
    if (window.matchMedia?.('(pointer: coarse)').matches) this.showTouch();
  }

  dispose() {
    this.abort.abort();
  }

  /** Whether the controls steer (a playing ship, not a spectator, connected). */
  get enabled() {
    return this.on;
  }

  /**
   * Switched off, they read as nothing held but keep what is: keys held through a reconnect
   * steer again when it is back (only the last one pressed auto-repeats; the others would not
   * come down again). A key let go meanwhile is gone, releases counting while off, and a focus
   * lost lets go of everything (`release`).
   */
  set enabled(on) {
    this.on = on;
  }

  showTouch() {
    this.el.touch.hidden = !this.steers;
    this.el.root.classList.add('touching');
  }

  /** Back to the keyboard (a touch screen laptop's): the stick, the boost button and the
   * touch layout (which has no chat box) go until the next touch. */
  hideTouch() {
    if (!this.el.root.classList.contains('touching') && this.el.touch.hidden) return;
    this.el.touch.hidden = true;
    this.el.root.classList.remove('touching');
    // A hidden stick gets no pointerup: let go of it now rather than steer on.
    this.releaseTouch();
  }

  /**
   * Lets go of everything held (keys, stick, boost button): their releases will not come here.
   * A finger on the stick may stay down through it, though (a window that lost the focus to a
   * notification, a page hidden without the browser cancelling the touch): the zone keeps its
   * capture and gets its moves, which steered nothing, and the stick took no new touch from
   * that finger until it was lifted. It takes the stick again when it moves, from where it is.
   */
  release() {
    this.keys.clear();
    if (this.stick.pointer !== -1) this.letGo = this.stick.pointer;
    this.releaseTouch();
  }

  releaseTouch() {
    this.stick = { x: 0, y: 0, pointer: -1, ox: 0, oy: 0 };
    this.el.base.hidden = true;
    this.setBoost(false);
  }

  /** @param {KeyboardEvent} e @param {boolean} down */
  onKey(e, down) {
    // A release always counts, wherever it lands: a key let go in the chat box (Enter
    // focuses it mid-flight) must not keep the ship turning.
    if (!down) this.keys.delete(e.code);
    const typing = isTextEntry(e.target);
    // A phone's on-screen keyboard types only into fields, and as `Unidentified` keys.
    if (down && !typing && e.key !== 'Unidentified') this.hideTouch();
    if (!this.enabled || typing) return;
    // Space presses a button or ticks a checkbox the keyboard is on.
    if (e.code === 'Space' && isControl(e.target)) return;
    if (e.code in STEER_KEYS || BOOST_KEYS.has(e.code)) {
      e.preventDefault();
      if (down) this.keys.add(e.code);
    }
  }

  /** @param {PointerEvent} e */
  stickDown(e) {
    if (this.stick.pointer !== -1) return;
    this.letGo = -1;
    this.el.zone.setPointerCapture?.(e.pointerId);
    this.grab(e);
    this.showTouch();
  }

  /** The stick follows the pointer of `e`, centred where it is. @param {PointerEvent} e */
  grab(e) {
    e.preventDefault();
    const rect = this.el.zone.getBoundingClientRect();
    this.stick = { x: 0, y: 0, pointer: e.pointerId, ox: e.clientX, oy: e.clientY };
    this.el.base.hidden = false;
    this.el.base.style.left = `${e.clientX - rect.left}px`;
    this.el.base.style.top = `${e.clientY - rect.top}px`;
    this.el.knob.style.transform = '';
  }

  /** @param {PointerEvent} e */
  stickMove(e) {
    if (this.stick.pointer === -1 && this.letGo !== -1 && e.pointerId === this.letGo) {
      // The finger let go of by `release`, still down: steering again, from where it is now.
      this.letGo = -1;
      this.grab(e);
      return;
    }
    if (e.pointerId !== this.stick.pointer) return;
    e.preventDefault();
    let dx = (e.clientX - this.stick.ox) / STICK_RADIUS;
    let dy = (e.clientY - this.stick.oy) / STICK_RADIUS;
    const len = Math.hypot(dx, dy);
    if (len > 1) { dx /= len; dy /= len; }
    this.stick.x = dx;
    this.stick.y = dy;
    this.el.knob.style.transform = `translate(${dx * STICK_RADIUS}px, ${dy * STICK_RADIUS}px)`;
  }

  /** @param {PointerEvent} e */
  stickUp(e) {
    if (e.pointerId === this.letGo) this.letGo = -1;
    if (e.pointerId !== this.stick.pointer) return;
    this.stick = { x: 0, y: 0, pointer: -1, ox: 0, oy: 0 };
    this.el.base.hidden = true;
  }

  /** @param {boolean} on */
  setBoost(on) {
    this.touchBoost = on;
    this.el.boost.classList.toggle('on', on);
  }

  /**
   * Whether a pad's Start went down since the last call (once per press, however long held),
   * whether or not the controls steer: it works the game's menus, a failure's dialog included.
   * Called once per frame.
   */
  startPressed() {
    const down = (navigator.getGamepads?.() ?? []).some((pad) => pad?.connected && pad.buttons[PAD_START]?.pressed);
    const pressed = down && !this.startHeld;
    this.startHeld = down;
    if (pressed) this.source = 'gamepad';
    return pressed;
  }

  /** The controls held now: stick in [-1, 1] per axis (length at most 1) and buttons. */
  read() {
    let x = 0;
    let y = 0;
    let buttons = 0;
    if (!this.enabled) return { x, y, buttons };
    for (const code of this.keys) {
      const dir = STEER_KEYS[/** @type {keyof typeof STEER_KEYS} */ (code)];
      if (dir) { x += dir[0]; y += dir[1]; }
      if (BOOST_KEYS.has(code)) buttons |= Buttons.BOOST;
    }
    if (x || y || buttons) this.source = 'keyboard';
    for (const pad of navigator.getGamepads?.() ?? []) {
      if (!pad || !pad.connected) continue;
      const px = deadZone(pad.axes[0] ?? 0, PAD_DEAD_ZONE);
      const py = deadZone(pad.axes[1] ?? 0, PAD_DEAD_ZONE);
      const boost = pad.buttons[0]?.pressed || pad.buttons[7]?.pressed || pad.buttons[5]?.pressed;
      const dpadX = (pad.buttons[15]?.pressed ? 1 : 0) - (pad.buttons[14]?.pressed ? 1 : 0);
      const dpadY = (pad.buttons[13]?.pressed ? 1 : 0) - (pad.buttons[12]?.pressed ? 1 : 0);
      if (px || py || dpadX || dpadY || boost) this.source = 'gamepad';
      x += px + dpadX;
      y += py + dpadY;
      if (boost) buttons |= Buttons.BOOST;
    }
    if (this.stick.pointer !== -1 || this.touchBoost) this.source = 'touch';
    x += this.stick.x;
    y += this.stick.y;
    if (this.touchBoost) buttons |= Buttons.BOOST;
    const len = Math.hypot(x, y);
    if (len > 1) { x /= len; y /= len; }
    return { x, y, buttons };
  }
}
