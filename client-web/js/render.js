// The arena on a canvas: camera, background, walls, pickups, ships with trails and thrust,
// names, particles. Pure drawing: the game loop passes everything in.

import { Arena, playerColour } from '../sdk/index.js';

const SHIP_SHAPE = [[20, 0], [-14, -13], [-7, 0], [-14, 13]];
/** How far (CSS pixels) the own ship's centre keeps from a control drawn over the view: its ring is 30 units. */
const CONTROL_CLEARANCE = 40;
/**
 * Effects are pruned only as they are drawn, and a hidden tab draws nothing while scores keep
 * coming: beyond these counts the oldest go.
 */
const MAX_PARTICLES = 600;
const MAX_POPUPS = 50;

/** @param {string} hex `#rrggbb` @param {number} alpha */
function hexToRgba(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/**
 * @typedef {import('../sdk/index.js').RenderEntity} RenderEntity
 * @typedef {{ x: number, y: number, vx: number, vy: number, life: number, max: number, colour: string, size: number }} Particle
 * @typedef {{ x: number, y: number, text: string, life: number, colour: string, rise: number }} Popup the "+n" of a
 *   score, rising `rise` px/s as it fades
 */

/** Whether the arena's page draws entities of `kind` as its own. @param {number} kind */
export function isArenaKind(kind) {
  return kind === Arena.KIND_SHIP || kind === Arena.KIND_PICKUP;
}

export class Renderer {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    const ctx = canvas.getContext('2d', { alpha: false });
    if (!ctx) throw new Error('no 2D canvas');
    this.ctx = ctx;
    this.width = 0;
    this.height = 0;
    this.dpr = 1;
    /** @type {Map<number, {x: number, y: number}[]>} recent positions per ship */
    this.trails = new Map();
    /** @type {Particle[]} */
    this.particles = [];
    /** @type {Popup[]} */
    this.popups = [];
    // A fixed starfield, drawn with a little parallax.
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    this.stars = Array.from({ length: 160 }, () => ({ x: rand(), y: rand(), r: rand() * 1.3 + 0.2, a: rand() * 0.6 + 0.2 }));
    this.camera = { x: 0, y: 0, scale: 1 };
    /**
     * Where controls cover the view (CSS pixels from its top left): a touch layout's boost
     * button, the chat, the buttons, an open popover. The camera keeps the own ship out from
     * under them.
     * @type {{ left: number, top: number, right: number, bottom: number }[]}
     */
    this.covered = [];
    /**
     * The player's "reduce motion" setting, followed live: with it, the stars stay put and a
     * score shows its "+n" without sparks or drift. Null where there is no `matchMedia`.
     * @type {{ matches: boolean } | null}
     */
    this.motionQuery = globalThis.matchMedia?.('(prefers-reduced-motion: reduce)') ?? null;
  }

  /** Whether to keep what moves on its own (not the game itself) still. */
  get reducedMotion() {
    return this.motionQuery?.matches ?? false;
  }

  /**
   * Where a star is drawn and how bright: it drifts a little against the camera (parallax) and
   * twinkles, unless motion is reduced.
   * @param {{ x: number, y: number, r: number, a: number }} s @param {number} time ms
   */
  star(s, time) {
    const still = this.reducedMotion;
    const { camera } = this;
    const shift = still ? 0 : 0.05 * s.r;
    return {
      x: (((s.x * this.width - camera.x * shift) % this.width) + this.width) % this.width,
      y: (((s.y * this.height - camera.y * shift) % this.height) + this.height) % this.height,
      alpha: still ? s.a * 0.875 : s.a * (0.75 + 0.25 * Math.sin(time / 900 + s.x * 40)),
    };
  }

  resize() {
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    if (w === this.width && h === this.height && dpr === this.dpr) return;
    this.width = w;
    this.height = h;
    this.dpr = dpr;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
  }

  /**
   * Points the camera: the whole arena for spectators (and when it fits), else following
   * `focus`.
   * @param {{ width: number, height: number }} world
   * @param {{ x: number, y: number } | null} focus
   */
  aim(world, focus) {
    const fit = Math.min(this.width / (world.width + 80), this.height / (world.height + 80));
    // About 1.1 million square units on screen whatever its shape (a 1280x760 window shows
    // 1420x845 units, a phone held upright 750x1620).
    const follow = Math.min(Math.max(Math.sqrt(this.width * this.height) / 1100, fit), 1.6);
    const scale = focus ? follow : fit;
    const halfW = this.width / scale / 2;
    const halfH = this.height / scale / 2;
    // Near a wall the camera stops following, 120 units past it, so the ship never sits under
    // the HUD in a corner; a world narrower than the screen is centred.
    const axis = (/** @type {number} */ c, /** @type {number} */ half, /** @type {number} */ size) =>
      half * 2 >= size + 240 ? size / 2 : Math.min(Math.max(c, half - 120), size + 120 - half);
    let x = focus ? axis(focus.x, halfW, world.width) : world.width / 2;
    let y = focus ? axis(focus.y, halfH, world.height) : world.height / 2;
    if (focus) ({ x, y } = this.uncover(focus, x, y, scale));
    // Ease the camera so corrections and respawns do not jerk the view.
    const c = this.camera;
    if (c.scale === 1 && c.x === 0) Object.assign(c, { x, y, scale });
    c.x += (x - c.x) * 0.25;
    c.y += (y - c.y) * 0.25;
    c.scale += (scale - c.scale) * 0.1;
  }

  /**
   * The camera centre `x`, `y` moved, if need be, so that `focus` is drawn clear of the
   * covered areas: the shortest way that keeps it on screen. A ship the camera stopped
   * following at a wall is where this happens (a centred one is clear of the controls), so
   * the view then shows more of what is beyond the wall.
   * @param {{ x: number, y: number }} focus @param {number} x @param {number} y @param {number} scale
   */
  uncover(focus, x, y, scale) {
    const m = CONTROL_CLEARANCE;
    /** @param {{ left: number, top: number, right: number, bottom: number }} r @param {number} sx @param {number} sy */
    const under = (r, sx, sy) => sx > r.left - m && sx < r.right + m && sy > r.top - m && sy < r.bottom + m;
    for (const r of this.covered) {
      const sx = this.width / 2 + (focus.x - x) * scale;
      const sy = this.height / 2 + (focus.y - y) * scale;
      if (!under(r, sx, sy)) continue;
      const moves = [[r.left - m - sx, 0], [r.right + m - sx, 0], [0, r.top - m - sy], [0, r.bottom + m - sy]]
        .filter(([dx, dy]) => sx + dx >= m && sx + dx <= this.width - m && sy + dy >= m && sy + dy <= this.height - m)
        .sort((a, b) => Math.abs(a[0]) + Math.abs(a[1]) - Math.abs(b[0]) - Math.abs(b[1]));
      // Out from under one control, not under another (the chat's lines beside its buttons, the
      // boost button beside them): the shortest move clear of all, else the shortest.
      const clear = moves.find(([dx, dy]) => !this.covered.some((o) => under(o, sx + dx, sy + dy))) ?? moves[0];
      if (!clear) continue;
      x -= clear[0] / scale;
      y -= clear[1] / scale;
    }
    return { x, y };
  }

  /**
   * @param {object} f
   * @param {RenderEntity[]} f.entities everything but the own ship, interpolated
   * @param {RenderEntity | null} f.own the own ship, predicted
   * @param {{ width: number, height: number }} f.world
   * @param {number} f.viewRadius 0 when everything is visible
   * @param {Map<number, string>} f.names player names by id
   * @param {number} f.time ms
   * @param {number} f.dt seconds since the last frame
   */
  draw({ entities, own, world, viewRadius, names, time, dt }) {
    this.resize();
    this.aim(world, own);
    const { ctx, dpr, camera } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#050812';
    ctx.fillRect(0, 0, this.width, this.height);
    for (const s of this.stars) {
      const { x, y, alpha } = this.star(s, time);
      ctx.globalAlpha = alpha;
      ctx.fillStyle = '#c9d6ff';
      ctx.fillRect(x, y, s.r, s.r);
    }
    ctx.globalAlpha = 1;

    ctx.save();
    ctx.translate(this.width / 2, this.height / 2);
    ctx.scale(camera.scale, camera.scale);
    ctx.translate(-camera.x, -camera.y);
    const px = 1 / camera.scale;

    // The floor and its grid.
    const floor = ctx.createLinearGradient(0, 0, world.width, world.height);
    floor.addColorStop(0, '#0a1226');
    floor.addColorStop(1, '#0c0f24');
    ctx.fillStyle = floor;
    ctx.fillRect(0, 0, world.width, world.height);
    ctx.lineWidth = px;
    ctx.strokeStyle = 'rgba(120, 150, 220, 0.07)';
    ctx.beginPath();
    for (let x = 100; x < world.width; x += 100) { ctx.moveTo(x, 0); ctx.lineTo(x, world.height); }
    for (let y = 100; y < world.height; y += 100) { ctx.moveTo(0, y); ctx.lineTo(world.width, y); }
    ctx.stroke();

    // Walls.
    ctx.strokeStyle = 'rgba(77, 171, 247, 0.12)';
    ctx.lineWidth = 22 * px;
    ctx.strokeRect(0, 0, world.width, world.height);
    ctx.strokeStyle = 'rgba(77, 171, 247, 0.25)';
    ctx.lineWidth = 9 * px;
    ctx.strokeRect(0, 0, world.width, world.height);
    ctx.strokeStyle = 'rgba(150, 205, 255, 0.95)';
    ctx.lineWidth = 2.5 * px;
    ctx.strokeRect(0, 0, world.width, world.height);

    // Entities of a game of its own, of kinds this page does not know: drawn plainly, so that
    // its author sees them move, rather than an empty field.
    for (const e of entities) if (!isArenaKind(e.kind)) this.drawOther(e, px);

    // Pickups.
    // The pickups' pulse and a shield's flicker are decoration: with motion reduced, held still.
    const pulseTime = this.reducedMotion ? 0 : time;
    for (const e of entities) if (e.kind === Arena.KIND_PICKUP) this.drawPickup(e, pulseTime);

    // Trails, under the ships.
    const ships = entities.filter((e) => e.kind === Arena.KIND_SHIP);
    if (own) ships.push(own);
    this.updateTrails(ships);
    for (const ship of ships) this.drawTrail(ship);
    for (const ship of ships) this.drawShip(ship, ship === own, pulseTime);
    for (const ship of ships) this.drawName(ship, names.get(ship.id) ?? `#${ship.id}`, ship === own, px);

    this.drawEffects(dt, px);

    // What lies beyond the view radius is not sent: fade it out.
    if (own && viewRadius > 0) {
      const fog = ctx.createRadialGradient(own.x, own.y, viewRadius * 0.82, own.x, own.y, viewRadius * 1.05);
      fog.addColorStop(0, 'rgba(5, 8, 18, 0)');
      fog.addColorStop(1, 'rgba(5, 8, 18, 0.82)');
      ctx.fillStyle = fog;
      ctx.fillRect(camera.x - this.width / camera.scale, camera.y - this.height / camera.scale,
        (2 * this.width) / camera.scale, (2 * this.height) / camera.scale);
    }
    ctx.restore();
  }

  /**
   * An entity of a kind the arena has not: a dot coloured by its kind, with its `value` when
   * it has one (what it means is the game's).
   * @param {RenderEntity} e @param {number} px one screen pixel in world units
   */
  drawOther(e, px) {
    const { ctx } = this;
    ctx.fillStyle = `hsl(${(e.kind * 47) % 360}, 70%, 62%)`;
    ctx.beginPath();
    ctx.arc(e.x, e.y, 8, 0, Math.PI * 2);
    ctx.fill();
    if (e.value !== 0) {
      ctx.fillStyle = '#e9ecef';
      ctx.font = `${12 * px}px system-ui, sans-serif`;
      ctx.textAlign = 'center';
      ctx.fillText(String(e.value), e.x, e.y - 12);
    }
  }

  /** @param {RenderEntity} e @param {number} time */
  drawPickup(e, time) {
    const { ctx } = this;
    const rare = e.value >= 3;
    const pulse = 1 + 0.12 * Math.sin(time / 220 + e.id);
    const r = (rare ? 10 : 7) * pulse;
    const colour = rare ? '#ffd43b' : '#63e6be';
    // A soft halo from a gradient: shadowBlur is slow on software-rendered canvases.
    const halo = ctx.createRadialGradient(e.x, e.y, r * 0.5, e.x, e.y, r * 2.6);
    halo.addColorStop(0, rare ? 'rgba(255, 212, 59, 0.35)' : 'rgba(99, 230, 190, 0.28)');
    halo.addColorStop(1, 'rgba(0, 0, 0, 0)');
    ctx.fillStyle = halo;
    ctx.fillRect(e.x - r * 2.6, e.y - r * 2.6, r * 5.2, r * 5.2);
    const glow = ctx.createRadialGradient(e.x, e.y, 0, e.x, e.y, r);
    glow.addColorStop(0, '#ffffff');
    glow.addColorStop(0.35, colour);
    glow.addColorStop(1, rare ? 'rgba(255, 212, 59, 0.15)' : 'rgba(99, 230, 190, 0.1)');
    ctx.fillStyle = glow;
    ctx.beginPath();
    ctx.arc(e.x, e.y, r, 0, Math.PI * 2);
    ctx.fill();
    if (rare) {
      ctx.strokeStyle = 'rgba(255, 212, 59, 0.6)';
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.arc(e.x, e.y, r + 5 + 2 * Math.sin(time / 160), 0, Math.PI * 2);
      ctx.stroke();
    }
  }

  /** @param {RenderEntity[]} ships */
  updateTrails(ships) {
    const alive = new Set();
    for (const s of ships) {
      alive.add(s.id);
      let trail = this.trails.get(s.id);
      if (!trail) this.trails.set(s.id, (trail = []));
      const last = trail[trail.length - 1];
      if (last && Math.hypot(last.x - s.x, last.y - s.y) > 150) trail.length = 0; // respawned
      if (!last || Math.hypot(last.x - s.x, last.y - s.y) > 3) trail.push({ x: s.x, y: s.y });
      if (trail.length > 18) trail.shift();
    }
    for (const id of this.trails.keys()) if (!alive.has(id)) this.trails.delete(id);
  }

  /** @param {RenderEntity} ship */
  drawTrail(ship) {
    const trail = this.trails.get(ship.id);
    if (!trail || trail.length < 2) return;
    const { ctx } = this;
    ctx.strokeStyle = playerColour(ship.id);
    ctx.lineCap = 'round';
    for (let i = 1; i < trail.length; i++) {
      ctx.globalAlpha = (i / trail.length) * 0.35;
      ctx.lineWidth = (i / trail.length) * 9;
      ctx.beginPath();
      ctx.moveTo(trail[i - 1].x, trail[i - 1].y);
      ctx.lineTo(trail[i].x, trail[i].y);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
  }

  /** @param {RenderEntity} ship @param {boolean} mine @param {number} time */
  drawShip(ship, mine, time) {
    const { ctx } = this;
    const colour = playerColour(ship.id);
    const boosting = (ship.flags & Arena.FLAG_BOOSTING) !== 0;
    const shielded = (ship.flags & Arena.FLAG_INVULNERABLE) !== 0;
    const speed = Math.hypot(ship.vx, ship.vy);
    ctx.save();
    ctx.translate(ship.x, ship.y);
    if (mine) {
      ctx.strokeStyle = 'rgba(255, 255, 255, 0.35)';
      ctx.lineWidth = 1.5;
      ctx.setLineDash([4, 6]);
      ctx.beginPath();
      ctx.arc(0, 0, 30, time / 600, time / 600 + Math.PI * 2);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (shielded) {
      ctx.strokeStyle = `rgba(200, 230, 255, ${0.35 + 0.3 * Math.sin(time / 80)})`;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(0, 0, 26, 0, Math.PI * 2);
      ctx.stroke();
    }
    ctx.rotate(ship.heading);
    // Thrust flame: long and orange while boosting, short while moving.
    if (boosting || speed > 40) {
      const len = boosting ? 26 + 8 * Math.random() : 8 + Math.min(speed / 40, 8) + 4 * Math.random();
      const flame = ctx.createLinearGradient(-8, 0, -8 - len, 0);
      flame.addColorStop(0, boosting ? '#fff3bf' : '#d0ebff');
      flame.addColorStop(0.4, boosting ? '#ff922b' : colour);
      flame.addColorStop(1, 'rgba(255, 100, 50, 0)');
      ctx.fillStyle = flame;
      ctx.beginPath();
      ctx.moveTo(-8, -6);
      ctx.lineTo(-8 - len, 0);
      ctx.lineTo(-8, 6);
      ctx.closePath();
      ctx.fill();
    }
    ctx.globalAlpha = shielded ? 0.55 + 0.35 * Math.sin(time / 70) : 1;
    const halo = ctx.createRadialGradient(0, 0, 6, 0, 0, mine ? 38 : 32);
    halo.addColorStop(0, hexToRgba(colour, 0.45));
    halo.addColorStop(1, hexToRgba(colour, 0));
    ctx.fillStyle = halo;
    ctx.fillRect(-40, -40, 80, 80);
    ctx.fillStyle = colour;
    ctx.beginPath();
    SHIP_SHAPE.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.fill();
    ctx.strokeStyle = 'rgba(255, 255, 255, 0.75)';
    ctx.lineWidth = 1.5;
    ctx.stroke();
    ctx.restore();
    ctx.globalAlpha = 1;
  }

  /** @param {RenderEntity} ship @param {string} name @param {boolean} mine @param {number} px */
  drawName(ship, name, mine, px) {
    const { ctx } = this;
    const size = Math.max(11, 12 * px);
    ctx.font = `${mine ? 700 : 600} ${size}px system-ui, sans-serif`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    ctx.fillStyle = 'rgba(0, 0, 0, 0.6)';
    ctx.fillText(name, ship.x + px, ship.y + 34 + px);
    ctx.fillStyle = mine ? '#ffffff' : 'rgba(230, 236, 255, 0.85)';
    ctx.fillText(name, ship.x, ship.y + 34);
  }

  /** A burst of sparks and a "+n" where a ship scored. @param {number} x @param {number} y @param {number} gained @param {string} colour */
  burst(x, y, gained, colour) {
    // With motion reduced, the "+n" alone says it, in place.
    for (let i = 0; i < (this.reducedMotion ? 0 : 18); i++) {
      const a = Math.random() * Math.PI * 2;
      const v = 60 + Math.random() * 160;
      const max = 0.4 + Math.random() * 0.4;
      this.particles.push({ x, y, vx: Math.cos(a) * v, vy: Math.sin(a) * v, life: max, max, colour: i % 3 ? colour : '#ffffff', size: 1.5 + Math.random() * 2 });
    }
    if (this.particles.length > MAX_PARTICLES) this.particles.splice(0, this.particles.length - MAX_PARTICLES);
    this.popups.push({ x, y: y - 30, text: `+${gained}`, life: 0.9, colour, rise: this.reducedMotion ? 0 : 40 });
    if (this.popups.length > MAX_POPUPS) this.popups.splice(0, this.popups.length - MAX_POPUPS);
  }

  /** @param {number} dt @param {number} px */
  drawEffects(dt, px) {
    const { ctx } = this;
    for (const p of this.particles) {
      p.life -= dt;
      p.x += p.vx * dt;
      p.y += p.vy * dt;
      p.vx *= 0.95;
      p.vy *= 0.95;
      ctx.globalAlpha = Math.max(0, p.life / p.max);
      ctx.fillStyle = p.colour;
      ctx.fillRect(p.x - p.size / 2, p.y - p.size / 2, p.size, p.size);
    }
    this.particles = this.particles.filter((p) => p.life > 0);
    ctx.textAlign = 'center';
    ctx.font = `800 ${Math.max(16, 18 * px)}px system-ui, sans-serif`;
    for (const p of this.popups) {
      p.life -= dt;
      p.y -= p.rise * dt;
      ctx.globalAlpha = Math.max(0, Math.min(1, p.life * 1.5));
      ctx.fillStyle = p.colour;
      ctx.fillText(p.text, p.x, p.y);
    }
    this.popups = this.popups.filter((p) => p.life > 0);
    ctx.globalAlpha = 1;
  }
}
