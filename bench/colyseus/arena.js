// The tickwire arena (server/src/game/arena.rs) as a Colyseus room, for the game bench's
// comparison: the same world (1600 x 1000), ships of radius 20 with the same thrust, boost,
// drag, speed caps, wall and ship bounces, moving and turning on the wire's grid, 12 pickups, rounds of 120 s with 8 s intermissions,
// 32 players per room, simulated and patched at 30 Hz. The state is quantized as tickwire's
// wire is (positions in 1/16 unit as uint16, velocities in whole units/s as int16, headings in
// 1/256 turn as uint8), so both servers send the same information and differ only in how they
// send it: Colyseus patches every field that changed since the last patch to everyone in the
// room; tickwire deltas each client's view against what that client acknowledged.
'use strict';

const { Room } = require('@colyseus/core');
const { schema, t } = require('@colyseus/schema');

const HEADING_STEP = (Math.PI * 2) / 256;
/** Rounds half away from zero, as tickwire quantizes. */
const roundAway = (v) => Math.sign(v) * Math.round(Math.abs(v));
const headingOnGrid = (h) => ((roundAway((h / (Math.PI * 2)) * 256) % 256 + 256) % 256) * HEADING_STEP;
const gridStep = (v, dt) => roundAway(roundAway(v) * 16 * dt) / 16;
const onGrid = (p) => roundAway(p * 16) / 16;

const CONFIG = {
  width: 1600,
  height: 1000,
  shipRadius: 20,
  thrust: 900,
  boostMultiplier: 1.8,
  maxSpeed: 420,
  boostMaxSpeed: 680,
  drag: 1.2,
  turnRate: 10,
  wallRestitution: 0.6,
  shipRestitution: 0.9,
  spawnInvulnerableSecs: 1.5,
  pickupCount: 12,
  pickupRadius: 12,
  rarePickupChance: 0.15,
  pickupRespawnSecs: 3,
  roundSecs: 120,
  intermissionSecs: 8,
};
const DEAD_ZONE = 0.05;
const OVERSPEED_DECAY = 6.0;
const TAU = 2 * Math.PI;
const FLAG_ALIVE = 1;
const FLAG_BOOSTING = 2;
const FLAG_INVULNERABLE = 4;
const PLAYING = 0;
const INTERMISSION = 1;

const Ship = schema({
  x: t.uint16(), // 1/16 unit
  y: t.uint16(),
  vx: t.int16(), // units/s
  vy: t.int16(),
  heading: t.uint8(), // 1/256 turn
  flags: t.uint8(),
  score: t.uint16(),
}, 'Ship');

const Pickup = schema({ x: t.uint16(), y: t.uint16(), value: t.uint8(), active: t.boolean() }, 'Pickup');

const ArenaState = schema({
  ships: t.map(Ship),
  pickups: t.array(Pickup),
  round: t.uint16(),
  phase: t.uint8(),
  secondsLeft: t.uint16(),
}, 'ArenaState');

const quantPos = (v) => Math.max(0, Math.min(65535, Math.round(v * 16)));
const quantVel = (v) => Math.max(-32767, Math.min(32767, Math.round(v)));
const quantHeading = (radians) => ((Math.round((radians / TAU) * 256) % 256) + 256) % 256;
const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

class ArenaRoom extends Room {
  onCreate() {
    this.maxClients = 32;
    this.setState(new ArenaState());
    this.state.round = 1;
    this.state.phase = PLAYING;
    this.phaseLeft = CONFIG.roundSecs;
    // The simulation's own view of each ship (floats), written quantized into the state.
    this.sim = new Map();
    this.pickupSim = [];
    for (let i = 0; i < CONFIG.pickupCount; i++) {
      this.state.pickups.push(new Pickup());
      this.pickupSim.push({ x: 0, y: 0, value: 1, respawnIn: null });
      this.placePickup(i);
    }
    this.onMessage('input', (client, input) => {
      const ship = this.sim.get(client.sessionId);
      if (!ship || typeof input !== 'object' || input === null) return;
      let x = Number.isFinite(input.x) ? clamp(input.x, -1, 1) : 0;
      let y = Number.isFinite(input.y) ? clamp(input.y, -1, 1) : 0;
      const len = Math.hypot(x, y);
      if (len > 1) { x /= len; y /= len; }
      ship.input = { x, y, boost: input.b === true };
    });
    this.setPatchRate(1000 / 30);
    this.setSimulationInterval((deltaMs) => this.step(Math.min(deltaMs / 1000, 0.25)), 1000 / 30);
  }

  onJoin(client) {
    const ship = { x: 0, y: 0, vx: 0, vy: 0, heading: 0, invulnerable: 0, score: 0,
      input: { x: 0, y: 0, boost: false } };
    this.sim.set(client.sessionId, ship);
    this.respawn(ship);
    this.state.ships.set(client.sessionId, new Ship());
    this.write(client.sessionId, ship);
  }

  onLeave(client) {
    this.sim.delete(client.sessionId);
    this.state.ships.delete(client.sessionId);
  }

  freeSpot() {
    const r = CONFIG.shipRadius;
    let spot = { x: 0, y: 0 };
    for (let attempt = 0; attempt < 32; attempt++) {
      spot = { x: r + Math.random() * (CONFIG.width - 2 * r), y: r + Math.random() * (CONFIG.height - 2 * r) };
      let clear = true;
      for (const other of this.sim.values()) {
        if (Math.hypot(other.x - spot.x, other.y - spot.y) < 3 * r) { clear = false; break; }
      }
      if (clear) break;
    }
    return spot;
  }

  respawn(ship) {
    const spot = this.freeSpot();
    ship.x = spot.x;
    ship.y = spot.y;
    ship.vx = 0;
    ship.vy = 0;
    ship.heading = (Math.atan2(CONFIG.height / 2 - ship.y, CONFIG.width / 2 - ship.x) + TAU) % TAU;
    ship.invulnerable = CONFIG.spawnInvulnerableSecs;
  }

  placePickup(slot) {
    const r = CONFIG.pickupRadius;
    const sim = this.pickupSim[slot];
    sim.x = r + Math.random() * (CONFIG.width - 2 * r);
    sim.y = r + Math.random() * (CONFIG.height - 2 * r);
    sim.value = Math.random() < CONFIG.rarePickupChance ? 3 : 1;
    sim.respawnIn = null;
    const state = this.state.pickups[slot];
    state.x = quantPos(sim.x);
    state.y = quantPos(sim.y);
    state.value = sim.value;
    state.active = true;
  }

  step(dt) {
    if (!(dt > 0)) return;
    this.phaseLeft -= dt;
    if (this.state.phase === PLAYING) {
      this.moveShips(dt);
      this.collideShips();
      for (const ship of this.sim.values()) [ship.x, ship.y] = [onGrid(ship.x), onGrid(ship.y)];
      this.collectPickups(dt);
      if (this.phaseLeft <= 1e-4) this.endRound();
    } else if (this.phaseLeft <= 1e-4) {
      this.startRound();
    }
    this.state.secondsLeft = Math.ceil(Math.max(0, this.phaseLeft - 1e-4));
    for (const [id, ship] of this.sim) this.write(id, ship);
  }

  write(id, ship) {
    const state = this.state.ships.get(id);
    if (!state) return;
    state.x = quantPos(ship.x);
    state.y = quantPos(ship.y);
    state.vx = quantVel(ship.vx);
    state.vy = quantVel(ship.vy);
    state.heading = quantHeading(ship.heading);
    let flags = FLAG_ALIVE;
    if (ship.input.boost && this.state.phase === PLAYING) flags |= FLAG_BOOSTING;
    if (ship.invulnerable > 0) flags |= FLAG_INVULNERABLE;
    state.flags = flags;
    state.score = ship.score;
  }

  moveShips(dt) {
    const c = CONFIG;
    const [loX, loY] = [c.shipRadius, c.shipRadius];
    const [hiX, hiY] = [c.width - c.shipRadius, c.height - c.shipRadius];
    for (const ship of this.sim.values()) {
      ship.invulnerable = Math.max(0, ship.invulnerable - dt);
      const { x: sx, y: sy, boost } = ship.input;
      if (Math.hypot(sx, sy) > DEAD_ZONE) {
        const target = Math.atan2(sy, sx);
        const diff = ((((target - ship.heading + Math.PI) % TAU) + TAU) % TAU) - Math.PI;
        // Whole heading steps, as tickwire's arena turns (shared/src/motion.rs `grid_turn`).
        const rate = c.turnRate * dt;
        const maxTurn = rate > 0 ? Math.max(roundAway(rate / HEADING_STEP), 1) * HEADING_STEP : 0;
        const turn = clamp(diff, -maxTurn, maxTurn);
        ship.heading = headingOnGrid(ship.heading + turn);
      }
      const speedBefore = Math.hypot(ship.vx, ship.vy);
      const thrust = boost ? c.thrust * c.boostMultiplier : c.thrust;
      ship.vx += sx * thrust * dt;
      ship.vy += sy * thrust * dt;
      const drag = Math.exp(-c.drag * dt);
      ship.vx *= drag;
      ship.vy *= drag;
      const cap = boost ? c.boostMaxSpeed : c.maxSpeed;
      const limit = speedBefore > cap ? cap + (speedBefore - cap) * Math.exp(-OVERSPEED_DECAY * dt) : cap;
      const speed = Math.hypot(ship.vx, ship.vy);
      if (speed > limit) {
        ship.vx *= limit / speed;
        ship.vy *= limit / speed;
      }
      // On the position grid by the wire's velocity, as tickwire's arena moves (`grid_step`).
      ship.x += gridStep(ship.vx, dt);
      ship.y += gridStep(ship.vy, dt);
      if (ship.x < loX) { ship.x = loX; if (ship.vx < 0) ship.vx *= -c.wallRestitution; }
      else if (ship.x > hiX) { ship.x = hiX; if (ship.vx > 0) ship.vx *= -c.wallRestitution; }
      if (ship.y < loY) { ship.y = loY; if (ship.vy < 0) ship.vy *= -c.wallRestitution; }
      else if (ship.y > hiY) { ship.y = hiY; if (ship.vy > 0) ship.vy *= -c.wallRestitution; }
    }
  }

  collideShips() {
    const r = CONFIG.shipRadius;
    const ships = [...this.sim.values()];
    for (let j = 1; j < ships.length; j++) {
      for (let i = 0; i < j; i++) {
        const a = ships[i];
        const b = ships[j];
        if (a.invulnerable > 0 || b.invulnerable > 0) continue;
        const ox = b.x - a.x;
        const oy = b.y - a.y;
        const dist = Math.hypot(ox, oy);
        if (dist >= 2 * r) continue;
        const [nx, ny] = dist > 1e-4 ? [ox / dist, oy / dist] : [1, 0];
        const push = (2 * r - dist) / 2;
        a.x = clamp(a.x - nx * push, r, CONFIG.width - r);
        a.y = clamp(a.y - ny * push, r, CONFIG.height - r);
        b.x = clamp(b.x + nx * push, r, CONFIG.width - r);
        b.y = clamp(b.y + ny * push, r, CONFIG.height - r);
        const closing = (a.vx - b.vx) * nx + (a.vy - b.vy) * ny;
        if (closing <= 0) continue;
        const impulse = (closing * (1 + CONFIG.shipRestitution)) / 2;
        a.vx -= nx * impulse;
        a.vy -= ny * impulse;
        b.vx += nx * impulse;
        b.vy += ny * impulse;
      }
    }
  }

  collectPickups(dt) {
    const reach = CONFIG.shipRadius + CONFIG.pickupRadius;
    this.pickupSim.forEach((pickup, slot) => {
      if (pickup.respawnIn !== null) {
        if (pickup.respawnIn > dt) {
          pickup.respawnIn -= dt;
          return;
        }
        this.placePickup(slot);
      }
      for (const ship of this.sim.values()) {
        if (Math.hypot(ship.x - pickup.x, ship.y - pickup.y) < reach) {
          ship.score = Math.min(65535, ship.score + pickup.value);
          pickup.respawnIn = CONFIG.pickupRespawnSecs;
          this.state.pickups[slot].active = false;
          break;
        }
      }
    });
  }

  endRound() {
    for (const ship of this.sim.values()) {
      ship.vx = 0;
      ship.vy = 0;
    }
    this.state.phase = INTERMISSION;
    this.phaseLeft = CONFIG.intermissionSecs;
  }

  startRound() {
    this.state.round += 1;
    this.state.phase = PLAYING;
    this.phaseLeft = CONFIG.roundSecs;
    for (const ship of this.sim.values()) {
      ship.score = 0;
      this.respawn(ship);
    }
    for (let i = 0; i < this.pickupSim.length; i++) this.placePickup(i);
  }
}

module.exports = { ArenaRoom, ArenaState, CONFIG };
