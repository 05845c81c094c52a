// The game view: one TickwireClient, the render loop (display refresh rate), prediction of
// the own ship, interpolation of everything else, HUD, scores, chat, invite, reconnect UI.

import {
  TickwireClient, InterpolationBuffer, KickedError, VersionMismatchError, ConnectionClosedError, UnreachableError,
  CloseCode, playerColour, worldEntity, toRenderEntity, truncateUtf8, Arena, LIMITS, TRANSPORTS, PROTOCOL_VERSION,
  RETRY_BEST_AFTER_MS,
} from '../sdk/index.js';
import { Controls, isControl, isTextEntry } from './controls.js';
import { Renderer } from './render.js';
import { ARENA, ShipPredictor } from './predict.js';
import { $, el, formatBytes, formatClock, legibleOn, limitUtf8 } from './dom.js';

/** @typedef {import('../sdk/index.js').Welcome} Welcome */

/**
 * Why a server that was reached would not take this page now, though it may shortly: `full`
 * at its connection limit (HTTP 503), `crowded` with too many connections from this address
 * (HTTP 429), `busy` with no room able to take the join (close 1013); null when none of these.
 * A browser's WebSocket hides a refused upgrade's status; the HTTP fallback sees it
 * (`lastStatus`, on a retry's cause and on the final failure alike).
 * @param {Error | undefined} error
 * @returns {'full' | 'crowded' | 'busy' | null}
 */
export function refusedForNow(error) {
  if (!(error instanceof ConnectionClosedError)) return null;
  if (error.code === CloseCode.TRY_AGAIN_LATER) return 'busy';
  return error.lastStatus === 503 ? 'full' : error.lastStatus === 429 ? 'crowded' : null;
}

/**
 * Whether a failure is the SDK running out of retries (a server or network that stayed away)
 * rather than an answer (a kick, a refusal, another protocol): worth one more try once the
 * player is back, since the network may have been away only because the page was in the
 * background.
 * @param {Error} error
 */
export function gaveUpRetrying(error) {
  if (error instanceof UnreachableError) return error.status === undefined;
  return error instanceof ConnectionClosedError && error.attempts !== undefined;
}

/**
 * Close codes after which the SDK gives up at once: one side sent what the other cannot read.
 * @type {Set<number>}
 */
const PROTOCOL_CLOSES = new Set([CloseCode.PROTOCOL_ERROR, CloseCode.UNSUPPORTED_DATA, CloseCode.INVALID_PAYLOAD, CloseCode.MESSAGE_TOO_BIG]);

/**
 * How a failure reads to a player: a title, what happened and what to do, and the network's
 * own account (empty when the text says it all), for a bug report.
 * @param {Error} error
 * @returns {{ title: string, text: string, details: string }}
 */
export function describeFailure(error) {
  const details = error instanceof ConnectionClosedError
    ? `closed with ${error.code}${error.reason ? `: ${error.reason}` : ''}`
    : '';
  if (error instanceof VersionMismatchError) {
    // The server was upgraded, or rolled back (or this page came from a newer server behind
    // the same address): either way the page that matches it is the one it serves now.
    const server = error.serverVersion ?? 0;
    if (server > PROTOCOL_VERSION) {
      return {
        title: 'Game updated',
        text: `The game was updated: the server now speaks protocol version ${server}, and this page version ${PROTOCOL_VERSION}. Reload the page to get the new game.`,
        details: '',
      };
    }
    return {
      title: 'Disconnected',
      text: server > 0 && server < PROTOCOL_VERSION
        ? `The server speaks an older protocol version (${server}) than this page (${PROTOCOL_VERSION}): it was rolled back, or this page came from a newer one. Reload the page to get the game the server runs.`
        : `This page speaks a different protocol version (${PROTOCOL_VERSION}) than the server. Reload the page to get the game the server runs.`,
      details: '',
    };
  }
  if (error instanceof KickedError) {
    const why = {
      Full: 'This room is full (or the server has no room for another one).',
      RateLimited: 'You were sending messages too fast.',
      Replaced: 'Your seat was taken over by another tab or device with your resume token.',
      ResumeRejected: 'That seat belongs to a different kind of client.',
      BadHello: 'The server did not accept this client\'s greeting.',
      MalformedMessage: 'The server could not read a message from this client.',
      // The operator's reason, and for a ban how long it lasts, are in the server's words.
      Removed: 'An operator of this server removed you from the room, or banned you for a while.',
    }[/** @type {string} */ (error.reason)] ?? `The server closed the connection (${error.reason}).`;
    const title = { Full: 'Room full', Removed: 'Removed by an operator' }[/** @type {string} */ (error.reason)] ?? 'Disconnected';
    return { title, text: `${why} The server said: “${error.serverMessage}”`, details: '' };
  }
  const refused = refusedForNow(error);
  if (refused === 'full') {
    return {
      // A 503 is the server at its connection limit, or restarting (it refuses new clients
      // while it closes the old ones); a load balancer with no healthy server says 503 too.
      title: 'Server full or restarting',
      text: 'The server is up, but it cannot take another connection right now: it is full, or restarting. Wait a little, then try again.',
      details,
    };
  }
  if (refused === 'crowded') {
    return {
      title: 'Too many connections',
      text: 'The server takes only so many connections from one network, and yours (other tabs or devices here) has them all. '
        + 'Close some, or wait a little, then try again.',
      details,
    };
  }
  if (refused === 'busy') {
    return {
      title: 'Server busy',
      text: 'The server is up, but too busy to seat you right now. Wait a little, then try again.',
      details,
    };
  }
  if (error instanceof UnreachableError && error.status !== undefined) {
    return {
      title: 'Turned away',
      text: `The server turned this page away${error.reason ? ` (${error.reason})` : ''}. An invite link may `
        + 'have expired: ask for a new one, or open the game without it.',
      details: '',
    };
  }
  if (error instanceof UnreachableError && (error.lastStatus === 426 || error.lastStatus === 403)) {
    // Asked over plain HTTP, the server (426: it would have taken the upgrade) or a proxy on
    // the way (403) answered: the server is up, and it is WebSocket that does not get through.
    return {
      title: 'WebSocket blocked',
      text: (error.lastStatus === 426
        ? 'WebSocket is blocked on this network: the server is up, but a firewall, proxy or antivirus on the way stops WebSocket connections to it. '
        : 'The WebSocket connection was refused (HTTP 403), by a proxy on this network or by the server. ')
        + 'If the page’s address forces WebSocket (“transport=ws”), open it without that: the game then falls back to HTTP by itself.',
      details: `${details}; asked over plain HTTP: ${error.lastStatus}`,
    };
  }
  if (error instanceof UnreachableError) {
    return {
      title: 'Can’t reach the server',
      text: 'Could not reach the server. It may be down or out of reach from this network, or it turned this page away '
        + '(an expired invite link, or no room for more players). Check your connection, then try again.',
      details,
    };
  }
  if (error instanceof ConnectionClosedError && PROTOCOL_CLOSES.has(error.code)) {
    return {
      title: 'Disconnected',
      text: 'The connection broke down: this page and the server could not understand each other. Reload the page, then try again.',
      details,
    };
  }
  if (error instanceof ConnectionClosedError) {
    // The SDK gave up only after retrying for over a minute (its `maxAttempts`).
    return {
      title: 'Connection lost',
      text: 'Lost the connection to the server, and it did not come back. Check your Wi-Fi or network, then try again; '
        + 'if it keeps happening, the server may be down.',
      details,
    };
  }
  return { title: 'Disconnected', text: error.message, details: '' };
}

/**
 * What this page knows of the scores. Each player's score so far comes with its `Joined` in the
 * roster after a `Welcome` (after a resume, as a catch-up `Scored`), then with `Scored` events
 * and with the ship in snapshots while it is in view. Only a player of a room too big for the
 * roster's 128 names, not seen since, has a score not known yet, which is not 0.
 */
export class ScoreBook {
  constructor() {
    /** @type {Map<number, number>} by player */
    this.known = new Map();
  }

  /** @param {number} player */
  get(player) {
    return this.known.get(player);
  }

  /** @param {number} player @param {number} score */
  set(player, score) {
    this.known.set(player, score);
  }

  /** @param {number} player */
  delete(player) {
    this.known.delete(player);
  }

  clear() {
    this.known.clear();
  }

  /** A round started: everyone, seen or not, is at 0. @param {Iterable<number>} players */
  newRound(players) {
    for (const id of [...this.known.keys(), ...players]) this.known.set(id, 0);
  }

  /**
   * The scoreboard's rows: players and controllers, the best first; a score not known yet is
   * null and ranks after the known ones.
   * @param {Map<number, { name: string, role: string }>} roster
   * @param {number} [limit]
   * @returns {{ id: number, name: string, score: number | null }[]}
   */
  rows(roster, limit = 10) {
    return [...roster]
      .filter(([, info]) => info.role !== 'Spectator')
      .map(([id, info]) => ({ id, name: info.name, score: this.known.get(id) ?? null }))
      .sort((a, b) => (b.score ?? -1) - (a.score ?? -1) || a.id - b.id)
      .slice(0, limit);
  }
}

/**
 * What the scoreboard shows of `rows` (all of them, the best first): the top `limit`, or, when
 * this page's player is not among them, the top `limit - 1` and its own row pinned below them
 * with its place, so a player far down (a latecomer among many at 0) still finds its score.
 * Its place is its position in the board's order (a tie goes by player id there too), the one
 * the rows above count up to.
 * @template {{ id: number }} R
 * @param {R[]} rows @param {number | undefined} me @param {number} [limit]
 * @returns {{ top: R[], pinned: { row: R, place: number } | null }}
 */
export function scoreboardView(rows, me, limit = 10) {
  const at = rows.findIndex((r) => r.id === me);
  if (at < limit) return { top: rows.slice(0, limit), pinned: null };
  return { top: rows.slice(0, limit - 1), pinned: { row: rows[at], place: at + 1 } };
}

/**
 * How long the server keeps a dropped seat for its resume, by default (its `--resume-grace`):
 * a page away longer than this, which comes back as a new ship, lost its seat to the wait.
 */
export const RESUME_GRACE_MS = 10_000;

/**
 * What the banner says when the page is back in the room: its ship again, or a new one, and
 * why the seat was lost, as far as the page can tell.
 * @param {boolean} resumed @param {boolean} restarting the server said it was going away
 * @param {number} awayMs how long the page was in the background just before (0: not)
 * @param {boolean} [spectating] back as a spectator
 */
export function reconnectedText(resumed, restarting, awayMs, spectating = false) {
  // A spectator has no ship to get back, and loses nothing to a restart or the grace.
  if (spectating) return 'Reconnected: watching again.';
  if (resumed) return 'Reconnected: your ship is back.';
  if (restarting) return 'Reconnected: the server restarted, so this is a new ship.';
  // The page was frozen in the background past the grace: its seat ran out while it was away.
  if (awayMs >= RESUME_GRACE_MS) return 'Reconnected as a new ship: you were away longer than the server keeps a seat.';
  // The server did not know the seat any more: its grace ran out, or it restarted without
  // saying so (a crash), and the player cannot tell which.
  return 'Reconnected as a new ship: the server no longer had your seat (it may have restarted).';
}

/**
 * How long a page back from the background waits for the answer to a ping before it takes its
 * connection for lost ({@link Game#comeBack}): a few round trips, at least 1.5 s (a phone's
 * radio takes a moment to wake), at most the silence timeout it stands in for.
 * @param {number | null} rttMs the smoothed round trip, if measured
 */
export function linkCheckMs(rttMs) {
  return Math.min(Math.max(1500, 3 * (rttMs ?? 500)), 5000);
}

/** A page hidden at least this long checks its connection when it is shown again. */
const CHECK_AFTER_HIDDEN_MS = 1000;
/**
 * How long a spectator's page waits, once its session ran out of retries in view (about 70 s
 * of them), before it joins again by itself; then half as long again at most, at random, so
 * that a crowd's screens do not come back in step. A big screen at an event has nobody at it
 * to click "Try again" after a server restart that outlasted the retries, and the browser's
 * `online` event never fires when it was the server, not the network, that went away. A
 * player's page waits for the player: a ship nobody steers would join the round.
 */
export const SPECTATOR_RETRY_MS = 30_000;
/** How long after the page came back a new ship's Welcome is put down to the time away. */
const AWAY_COUNTS_MS = 20_000;

/** Where a tab keeps the seat of a page that went away, for the page it reloads into. */
const SEAT_KEY = 'tickwire.seat';
/**
 * A seat kept longer ago than this is not asked for: the server's resume grace (10 s by
 * default) is long over, and the page is a tab opened again some other time.
 */
export const KEPT_SEAT_MS = 60_000;

/** @typedef {{ room: string, role: string, name: string, resumeToken: number[], at: number }} KeptSeat */

/**
 * The tab's kept seat ({@link Game#keepSeat}), over sessionStorage: per tab, and it survives
 * a reload. A browser that refuses storage (a privacy setting) keeps none, and a reload joins
 * afresh.
 * @param {Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null} storage
 */
export function seatStore(storage) {
  return {
    /** @param {KeptSeat} seat */
    keep(seat) {
      try {
        storage?.setItem(SEAT_KEY, JSON.stringify(seat));
      } catch {
        // not kept: a reload joins afresh
      }
    },
    /**
     * Takes the kept seat out, so that it is asked for once: "Duplicate tab" copies the tab's
     * storage, and the copy must not take the seat over. Null when none, or not one kept
     * within {@link KEPT_SEAT_MS} before `now` (ms since the epoch).
     * @param {number} now @returns {KeptSeat | null}
     */
    take(now) {
      /** @type {string | null} */
      let text = null;
      try {
        text = storage?.getItem(SEAT_KEY) ?? null;
        if (text !== null) storage?.removeItem(SEAT_KEY);
      } catch {
        return null;
      }
      if (text === null) return null;
      try {
        const seat = JSON.parse(text);
        const token = seat?.resumeToken;
        const whole = Array.isArray(token) && token.length === 16 && token.every((b) => Number.isInteger(b) && b >= 0 && b <= 255);
        const fresh = typeof seat.at === 'number' && now - seat.at >= 0 && now - seat.at <= KEPT_SEAT_MS;
        if (!whole || !fresh || typeof seat.room !== 'string' || typeof seat.role !== 'string' || typeof seat.name !== 'string') return null;
        return seat;
      } catch {
        return null;
      }
    },
    forget() {
      try {
        storage?.removeItem(SEAT_KEY);
      } catch {
        // nothing kept
      }
    },
  };
}

/** @typedef {ReturnType<typeof seatStore>} SeatStore */

/** This tab's seats ({@link seatStore}), or none kept where the browser refuses storage. */
export const keptSeats = seatStore((() => {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
})());

const TRANSPORT_KEY = 'tickwire.transport';

/**
 * How long a tab starts from the transport that last reached `joined` ({@link transportStore}):
 * a reload within it skips what WebSocket cost on a network that swallows it (seconds, and
 * with them a seat's resume grace); a page loaded after it probes WebSocket again, which the
 * network may have let through since. The SDK's own judgement for a session's reconnects
 * (`RETRY_BEST_AFTER_MS`, 10 minutes), so that a reload and a reconnect agree.
 */
export const KEPT_TRANSPORT_MS = RETRY_BEST_AFTER_MS;

/**
 * The tab's transport that last reached `joined` in `auto`, over sessionStorage (per tab and
 * origin), for the SDK's `preferTransport`. A browser that refuses storage keeps none, and
 * every page load starts from WebSocket.
 * @param {Pick<Storage, 'getItem' | 'setItem'> | null} storage
 */
export function transportStore(storage) {
  return {
    /** @param {import('../sdk/index.js').TransportName} transport @param {number} now ms since the epoch */
    keep(transport, now) {
      try {
        storage?.setItem(TRANSPORT_KEY, JSON.stringify({ transport, at: now }));
      } catch {
        // not kept: the next page probes WebSocket first
      }
    },
    /**
     * The transport kept within {@link KEPT_TRANSPORT_MS} before `now`, or undefined.
     * @param {number} now @returns {import('../sdk/index.js').TransportName | undefined}
     */
    recall(now) {
      try {
        const kept = JSON.parse(storage?.getItem(TRANSPORT_KEY) ?? 'null');
        const fresh = typeof kept?.at === 'number' && now - kept.at >= 0 && now - kept.at <= KEPT_TRANSPORT_MS;
        return fresh && TRANSPORTS.includes(kept.transport) ? kept.transport : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

/** @typedef {ReturnType<typeof transportStore>} TransportStore */

/** This tab's transport ({@link transportStore}). */
export const keptTransport = transportStore((() => {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
})());

/**
 * The resume token of `seat` for a page that joins `room` as a player (`spectate` false) or a
 * spectator: only the same room's and role's seat is taken back.
 * @param {KeptSeat | null} seat @param {string} room @param {boolean} spectate
 * @returns {number[] | null}
 */
export function resumeTokenFor(seat, room, spectate) {
  return seat && !spectate && seat.room === room && seat.role === 'Player' ? seat.resumeToken : null;
}

/**
 * The centre message of an intermission: the round just over and, when this page saw that
 * round's `RoundOver`, who won it (a page that joined in the intermission did not), and what a
 * screen reader says of it: the same, with the standings, but not the countdown, which would
 * be news every second.
 * @param {{ round: number, secondsLeft: number }} round the world's round: in an intermission,
 *   the one just over
 * @param {{ round: number, winner: number | null, score: number, standings?: string } | null} over
 *   the last `RoundOver` seen, with the standings as they were then
 * @param {(player: number) => string} nameOf
 * @returns {[string, string, string]} the big line, the small one, and the spoken text
 */
export function intermissionText(round, over, nameOf) {
  const title = `Round ${round.round} over`;
  const next = `next round in ${round.secondsLeft} s`;
  if (!over || over.round !== round.round) return [title, next, `${title}.`];
  const line = over.winner === null ? 'Nobody scored' : `${nameOf(over.winner)} wins with ${over.score}`;
  return [title, `${line} · ${next}`, [`${title}.`, `${line}.`, over.standings].filter(Boolean).join(' ')];
}

/** 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st. @param {number} n */
export function ordinal(n) {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' }[n % 10] ?? 'th');
  return `${n}${suffix}`;
}

/**
 * A round's standings in a sentence, for a screen reader at its end: the top three, and where
 * this player came (a tie shares the higher place). Empty with nobody to rank.
 * @param {{ id: number, name: string, score: number | null }[]} rows best first ({@link ScoreBook#rows})
 * @param {number | undefined} me this page's player; a spectator is in no row
 * @returns {string}
 */
export function standingsText(rows, me) {
  const ranked = rows.filter((r) => r.score !== null);
  if (ranked.length === 0) return '';
  const top = ranked.slice(0, 3).map((r) => `${r.name} ${r.score}`).join(', ');
  const mine = ranked.find((r) => r.id === me);
  if (!mine) return `Top ${Math.min(3, ranked.length)}: ${top}.`;
  const place = 1 + ranked.filter((r) => /** @type {number} */ (r.score) > /** @type {number} */ (mine.score)).length;
  return `Top ${Math.min(3, ranked.length)}: ${top}. You came ${ordinal(place)} with ${mine.score}.`;
}

/** Chat lines on screen at most. */
const CHAT_LINES = 8;
/** How long a chat line stays bright before it dims; a round's result, looked back for, longer. */
const CHAT_FRESH_MS = 12_000;
const RESULT_FRESH_MS = 30_000;
/**
 * What chat text is read against: the arena's floor. The chat lines' own darker backing and
 * the space around the arena only add contrast.
 */
const CHAT_BACKDROP = '#0a1226';

/**
 * Which chat lines go so that `max` stay: the oldest, except the newest round result, which
 * stays until the next one however busy the chat (it is what players look back for).
 * @param {boolean[]} results whether each line on screen is a round's result, oldest first
 * @param {number} max
 * @returns {number[]} the indexes of the lines to remove
 */
export function chatOverflow(results, max) {
  const kept = results.lastIndexOf(true);
  /** @type {number[]} */
  const out = [];
  for (let i = 0; i < results.length && results.length - out.length > max; i++) if (i !== kept) out.push(i);
  return out;
}

/**
 * Joins and leaves as they happen, each a chat line until more than {@link BURST_LINES} come
 * within {@link BURST_MS} of one another; the rest of such a burst folds into one line that
 * counts them, so a crowd arriving, or someone joining and leaving in a loop, does not push
 * the players' chat off the screen.
 */
export class Arrivals {
  constructor() {
    /** @type {number | null} when the burst's last join or leave came */
    this.last = null;
    /** Joins and leaves in the burst so far. */
    this.count = 0;
    this.joined = 0;
    this.left = 0;
  }

  /**
   * Notes a join or a leave at `now` (ms): `null` when it gets a line of its own, else the
   * text of the burst's folded line, to show in place of the last one.
   * @param {'joined' | 'left'} what @param {number} now
   * @returns {string | null}
   */
  note(what, now) {
    if (this.last === null || now - this.last > BURST_MS) {
      this.count = 0;
      this.joined = 0;
      this.left = 0;
    }
    this.last = now;
    this.count += 1;
    if (this.count <= BURST_LINES) return null;
    this[what] += 1;
    const parts = [this.joined && `${this.joined} more joined`, this.left && `${this.left} more left`];
    return `${parts.filter(Boolean).join(' and ')}.`;
  }
}

/** Joins and leaves a burst shows one line each before it folds ({@link Arrivals}). */
const BURST_LINES = 3;
/** The most between two joins or leaves of one burst, ms. */
const BURST_MS = 3000;

/** How the HUD names each transport. */
const TRANSPORT_NAMES = { ws: 'WebSocket', stream: 'HTTP stream', poll: 'long polling' };

/**
 * Past the newest snapshot the SDK moves entities on by their velocity (a stalled downlink):
 * a ship heading for a wall would be drawn through it, and after the stall eased back out of
 * it. The arena's walls hold it, as the server's do; the snapshots after the stall bounce it.
 * Every frame, so the easing never shows it in the wall either.
 * @param {import('../sdk/index.js').RenderEntity[]} entities
 * @param {{ width: number, height: number }} world
 */
export function keepShipsInside(entities, world) {
  const r = ARENA.shipRadius;
  for (const e of entities) {
    if (e.kind !== Arena.KIND_SHIP) continue;
    e.x = Math.min(Math.max(e.x, r), world.width - r);
    e.y = Math.min(Math.max(e.y, r), world.height - r);
  }
}

/**
 * What the ping cell says while the other ships are held: the render time is `staleMs` past the
 * newest snapshot, beyond the `extrapolateMs` they were moved on for. `null` while the link
 * keeps up (a stall the extrapolation covers goes unmentioned).
 * @param {number} staleMs @param {number} extrapolateMs @returns {string | null}
 */
export function stallText(staleMs, extrapolateMs) {
  if (staleMs <= extrapolateMs) return null;
  return `stalled ${(staleMs / 1000).toFixed(1)} s`;
}

/**
 * The game's WebSocket URL for the page at `href`: `ws` next to the page, which is at the
 * server's root, so a server a reverse proxy serves under a path prefix is reached under it
 * too (the SDK finds the HTTP fallback next to this URL). A server with join tokens
 * (--join-secret) wants one on /ws: a game backend hands the page a link carrying `?token=`,
 * which goes along.
 * @param {string} href
 */
export function gameSocketUrl(href) {
  const page = new URL(href);
  const url = new URL('ws', page);
  url.protocol = page.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = page.searchParams.get('token');
  if (token) url.search = `?token=${encodeURIComponent(token)}`;
  return url.href;
}

export class Game {
  /**
   * @param {object} options
   * @param {string} options.name
   * @param {string | null} options.room null: matchmaking
   * @param {boolean} options.spectate
   * @param {() => void} options.onExit back to the lobby
   * @param {number[] | null} [options.resumeToken] the seat a page reloaded from left it,
   *   asked for by the first join ({@link keptSeats})
   * @param {SeatStore} [options.seats] where a page going away keeps its seat
   * @param {TransportStore} [options.transports] where the transport that reached `joined` is kept
   */
  constructor(options) {
    this.options = options;
    this.seats = options.seats ?? keptSeats;
    this.transports = options.transports ?? keptTransport;
    /** Whether the first join asks for a seat back: if it gets a new one, the page says so. */
    this.resumeAsked = (options.resumeToken ?? null) !== null;
    this.root = /** @type {HTMLElement} */ ($('#game'));
    /**
     * The room a new session joins: the one asked for until a Welcome names one. After
     * matchmaking, "Try again" and a page restored from the back/forward cache go back to the
     * room the page was in (and its URL names), not to wherever matchmaking puts them now.
     * @type {string | null}
     */
    this.room = options.room;
    // First, before anything is attached to the page: what throws on a bad option throws here.
    this.client = this.createClient();
    this.renderer = new Renderer(/** @type {HTMLCanvasElement} */ ($('#view')));
    this.controls = new Controls({
      root: this.root, touch: $('#touch'), zone: $('#stick-zone'), base: $('#stick-base'), knob: $('#stick-knob'), boost: $('#boost-btn'),
    }, { steers: !options.spectate });
    this.predictor = new ShipPredictor();
    /** @type {InterpolationBuffer | null} */
    this.interp = null;
    /** How far the last frame was drawn past the newest world, ms (`sample().staleMs`). */
    this.staleMs = 0;
    /** The ping cell's round trip, kept while it says the link stalled instead. */
    this.pingText = '–';
    /** @type {Welcome | null} */
    this.welcome = null;
    /** Whether the server said it goes away (`ShuttingDown`, or a proxy's 1001 or 1012: a
     * restart, a deploy, a drained node) since the last Welcome: the banners say so rather
     * than "connection lost". */
    this.restarting = false;
    this.scores = new ScoreBook();
    this.arrivals = new Arrivals();
    /** @type {HTMLElement | null} the chat line a burst of joins and leaves folds into */
    this.arrivalsLine = null;
    /** @type {{ round: number, winner: number | null, score: number, standings: string } | null} */
    this.lastRoundOver = null;
    this.phase = '';
    this.frames = 0;
    this.fps = 0;
    this.lastFrame = performance.now();
    this.lastHud = 0;
    this.lastBytes = { in: 0, out: 0, at: performance.now() };
    this.rate = { in: 0, out: 0 };
    this.scoreboardKey = '';
    /** Counts invite updates: only the newest one's link may be shown. */
    this.invites = 0;
    /** @type {import('../sdk/index.js').RenderEntity | null} */
    this.ownShown = null;
    /** @type {import('../sdk/index.js').RenderEntity[]} */
    this.lastEntities = [];
    this.running = true;
    /** Whether the failure dialog shows: set by {@link showFailure} alone, with the dialog's
     * `hidden`, and read for it (the arena stops drawing; keys and the pad go to the dialog). */
    this.failureShown = false;
    /** Whether the session ran out of retries while the page was hidden ({@link comeBack}). */
    this.gaveUpHidden = false;
    /** Whether the session's failure on show is its running out of retries: the browser's
     * `online` event starts it again ({@link comeBack}). */
    this.gaveUpOnNetwork = false;
    /** A spectator's next join after running out of retries ({@link SPECTATOR_RETRY_MS}). @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** When the page was last hidden (null: shown). @type {number | null} */
    this.hiddenAt = document.hidden ? performance.now() : null;
    /** The last time in the background: how long, and when it ended. @type {{ ms: number, back: number } | null} */
    this.away = null;
    this.abort = new AbortController();
    try {
      // A failure the previous game left showing (it went back to the lobby from it).
      this.showFailure(false);
      this.clearView();
      this.bindUi();
      this.connect();
    } catch (e) {
      // The caller goes back to the lobby: nothing of this game may stay listening.
      this.running = false;
      this.controls.dispose();
      this.abort.abort();
      throw e;
    }
    requestAnimationFrame((t) => this.frame(t));
  }

  createClient() {
    const { name, spectate } = this.options;
    const room = this.room;
    // Only the first join asks for the seat a reloaded page left: a new session after a
    // failure, or after a restore, joins as itself (see `rejoin`).
    /** @type {number[] | null} */
    const resumeToken = this.resumeAsked ? this.options.resumeToken ?? null : null;
    // `?transport=ws|stream|poll` forces one; by default WebSocket, falling back to HTTP by itself.
    const forced = new URLSearchParams(location.search).get('transport');
    const transport = forced === 'ws' || forced === 'stream' || forced === 'poll' ? forced : 'auto';
    // A reload starts from what worked in this tab lately: behind a middlebox that takes the
    // upgrade and passes nothing on, WebSocket costs seconds to rule out again.
    const preferTransport = transport === 'auto' ? this.transports.recall(Date.now()) : undefined;
    return new TickwireClient({
      url: gameSocketUrl(location.href), name: truncateUtf8(name, LIMITS.name), room, role: spectate ? 'Spectator' : 'Player', transport, resumeToken,
      preferTransport,
    });
  }

  connect() {
    const { spectate } = this.options;
    const c = this.client;
    // A session this page has replaced (`rejoin`) may still be ending: only the current one
    // speaks to the screen.
    /** @template E @param {(e: E) => void} handler @returns {(e: E) => void} */
    const current = (handler) => (e) => { if (this.client === c) handler(e); };
    c.on('state', current((e) => this.onState(e.state, e.attempt, e.cause)));
    c.on('welcome', current((e) => this.onWelcome(e.welcome)));
    c.on('snapshot', current((e) => this.onSnapshot(e.world, e.receivedAt)));
    c.on('event', current((e) => this.onEvent(e.kind, e.left?.name, e.roster === true)));
    c.on('rtt', current((e) => {
      this.pingText = `${Math.round(e.smoothedMs)} ms`;
      if (!$('#hud-ping').classList.contains('stalled')) $('#hud-ping').textContent = this.pingText;
    }));
    c.on('error', current((e) => this.onFailure(e.error)));
    this.controls.enabled = !spectate;
    this.root.dataset.connections = '0';
    this.setCentre('Joining…', spectate ? 'as a spectator' : '');
    c.connect();
  }

  bindUi() {
    const opts = { signal: this.abort.signal };
    this.showInvite(false);
    const chatInput = /** @type {HTMLInputElement} */ ($('#chat-input'));
    // What the player sees in the box is what is sent: the SDK would cut a longer line itself.
    limitUtf8(chatInput, LIMITS.chat, this.abort.signal);
    $('#chat-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const text = chatInput.value;
      if (text.trim() && this.client.chat(text)) {
        chatInput.value = '';
      } else if (text.trim()) {
        // Kept in the box, for Enter to bring back and send once the connection is back.
        this.addChat(null, this.client.session.isJoined()
          ? 'Slow down: message not sent. It is still in the box.'
          : 'Not connected: message not sent. It is still in the box, to send once reconnected.', undefined, 'warn');
      }
      chatInput.blur();
    }, opts);
    // On a touch screen the chat box shows while it is used (see `.chatting`).
    $('#chat-btn').addEventListener('click', () => {
      this.root.classList.add('chatting');
      chatInput.focus();
    }, opts);
    chatInput.addEventListener('blur', () => this.root.classList.remove('chatting'), opts);
    window.addEventListener('keydown', (e) => {
      // Enter on a button or a link the keyboard is on presses it; in the chat box it sends.
      if (e.key === 'Enter' && !isControl(e.target) && !this.root.hidden && !this.failureShown) {
        e.preventDefault();
        chatInput.focus();
      } else if (e.key === 'Escape') {
        const invite = $('#invite');
        const focused = document.activeElement;
        if (!invite.hidden && (invite.contains(focused) || focused === $('#invite-btn'))) {
          // Closes the invite, and the keyboard is back where it opened it.
          this.showInvite(false);
          $('#invite-btn').focus();
          return;
        }
        this.showInvite(false);
        // Back to the game from the chat box or a control reached with Tab; a failure keeps
        // the focus in its dialog.
        if (focused instanceof HTMLElement && this.root.contains(focused) && !this.failureShown) focused.blur();
      }
    }, opts);
    // A control clicked with a mouse or a finger gives the keyboard back to the game, so Space
    // boosts and Enter chats again; one reached with Tab keeps it, for Space and Enter to press.
    this.root.addEventListener('click', (e) => {
      if (e.detail === 0) return; // pressed with a key
      // After the click's default action, which for a label focuses its checkbox.
      setTimeout(() => {
        const focused = document.activeElement;
        if (focused instanceof HTMLElement && this.root.contains(focused) && !isTextEntry(focused) && !this.failureShown) focused.blur();
      });
    }, opts);
    $('#leave-btn').addEventListener('click', () => this.leave(), opts);
    $('#invite-btn').addEventListener('click', () => {
      const open = $('#invite').hidden;
      this.showInvite(open);
      // Into it: it comes after Leave in the page, where Tab would never find it.
      if (open) $('#invite').focus();
      this.updateInvite();
    }, opts);
    $('#invite-spectate').addEventListener('change', () => this.updateInvite(), opts);
    $('#failure-retry').addEventListener('click', () => this.rejoin(), opts);
    $('#failure-reload').addEventListener('click', () => location.reload(), opts);
    $('#failure-watch').addEventListener('click', () => this.watchInstead(), opts);
    $('#failure-lobby').addEventListener('click', () => this.exit(), opts);
    // Whether the page was playing when it was hidden, rather than showing how its session
    // ended (a removal, a full room, another protocol version, a server that stayed away).
    let leftPlaying = false;
    window.addEventListener('pagehide', () => {
      leftPlaying = !this.failureShown;
      this.keepSeat();
    }, opts);
    // Back from the back/forward cache: the page kept its seat when it was hidden (above), and
    // its session waits to resume it, which it does now (a new ship if the server let the
    // seat go meanwhile); one that was hidden while still joining left, and joins again.
    // Without this it would show a frozen room for good. A page that was showing a failure
    // shows it still, with its own ways on (after a removal, only the lobby): joining again
    // unasked would defy an operator or meet the same refusal.
    window.addEventListener('pageshow', (e) => {
      if (!e.persisted) return;
      // This page took its seat back itself: no later reload of this tab may ask for it.
      this.seats.forget();
      if (!leftPlaying) return;
      if (this.client.session.isEnded()) this.rejoin();
      else this.client.retryNow();
    }, opts);
    // A hidden tab stops drawing frames, so controls are no longer read: let go of the stick
    // rather than keep flying on whatever was held when the tab was switched.
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) {
        this.hiddenAt ??= performance.now();
        this.controls.release();
        this.client.setInput({ x: 0, y: 0, buttons: 0 });
      } else {
        this.comeBack();
      }
    }, opts);
    // A network that came back may be another one: the connection may be dead.
    window.addEventListener('online', () => this.comeBack(true), opts);
  }

  /** Keeps the transport of the last Welcome for a reload, unless the page forced one. */
  keepTransport() {
    const transport = this.client.transport;
    if (transport && this.client.chain.length > 1) this.transports.keep(transport, Date.now());
  }

  /**
   * The page goes away (a reload, a phone's pull-to-refresh, a tab closed, another site) or
   * into the back/forward cache: the seat is kept, not given up, so that a reload resumes the
   * same ship with its score. The connection closes with a code that keeps the seat (the
   * browser's own close of a page going away, 1001, gives it up), and the tab's
   * sessionStorage keeps the seat's token for the page it reloads into. The price: a tab closed
   * for good, or left for another site, leaves its ship in the room for the server's resume
   * grace (10 s by default) before the others see it go, as a dropped network does. Leave
   * gives the seat up at once.
   */
  keepSeat() {
    const session = this.client.session;
    if (session.isEnded()) return;
    const welcome = this.welcome;
    // No seat yet (still joining), giving it up already, or a failure on show: it goes. So
    // does a spectator's place: the server keeps none for a resume (only ships wait), so a
    // reload would only ask for a seat gone and be told the server had lost it.
    if (!welcome || welcome.role === 'Spectator' || session.state === 'closing' || this.failureShown) {
      this.client.leave();
      return;
    }
    this.seats.keep({ room: welcome.room, role: welcome.role, name: this.options.name, resumeToken: Array.from(welcome.resumeToken), at: Date.now() });
    // Its time from now: a reload after a long game is as sure of the network as one after a
    // short one.
    this.keepTransport();
    // A dropped connection holds the seat already, and has no socket to close.
    if (session.state === 'reconnecting') return;
    session.abandon('the page went away: it comes back for its seat', this.client.now());
    this.client.drive();
  }

  /**
   * The page is in view again, or the network is back: whatever the connection waits for may
   * well be there now. A reconnect tries at once rather than at its next backoff slot (seconds
   * away, later still in a throttled background tab), and a session that ran out of retries
   * while the page was hidden starts again, once, instead of greeting the player with
   * "Connection lost" for a network that is back. So does one that ran out of retries in view
   * when the browser says the network is back: a router rebooted for longer than the retries
   * last (about 70 s) left a streamer's screen or a laptop on "Connection lost" until someone
   * clicked "Try again".
   *
   * A session still joined after a while in the background, or on a network that came back,
   * checks its link at once: a phone freezes a hidden page's scripts, and a network switched
   * meanwhile leaves its socket open on a dead link. The messages that waited for the page are
   * handled as it comes back and pass for news from the server, so without the check the world
   * stood frozen, with no banner, for the whole silence timeout (5 s) before the reconnect, and
   * a seat near the end of its resume grace was lost in those seconds.
   * @param {boolean} [networkBack] the browser's `online` event
   */
  comeBack(networkBack = false) {
    if (document.hidden || !this.running) return;
    const now = performance.now();
    const awayMs = this.hiddenAt === null ? 0 : now - this.hiddenAt;
    this.hiddenAt = null;
    if (awayMs > 0) this.away = { ms: awayMs, back: now };
    if (this.gaveUpHidden || (networkBack && this.gaveUpOnNetwork)) {
      this.rejoin();
      return;
    }
    if (this.client.retryNow()) return;
    if (networkBack || awayMs >= CHECK_AFTER_HIDDEN_MS) this.client.checkLink(linkCheckMs(this.client.session.rttMs));
  }

  /** Joins the same room again with a new session (after a failure, or a page restored). */
  rejoin() {
    clearTimeout(this.retryTimer);
    this.gaveUpHidden = false;
    this.gaveUpOnNetwork = false;
    this.resumeAsked = false;
    this.showFailure(false);
    if (!this.client.session.isEnded()) this.client.leave();
    this.reset();
    this.client = this.createClient();
    this.connect();
  }

  /**
   * A spectator's page joins again by itself after running out of retries
   * ({@link SPECTATOR_RETRY_MS}); hidden, it waits to be shown, as any page that gave up
   * while hidden does ({@link comeBack}).
   */
  retryWatching() {
    if (!this.running) return;
    if (document.hidden) {
      this.gaveUpHidden = true;
      return;
    }
    this.rejoin();
  }

  /** From a full room's dialog into its audience: the same room, as a spectator. */
  watchInstead() {
    this.options = { ...this.options, spectate: true };
    this.controls.steers = false;
    // A phone's stick and boost button go: there is nothing to steer.
    if (this.root.classList.contains('touching')) this.controls.showTouch();
    this.rejoin();
  }

  reset() {
    this.welcome = null;
    this.restarting = false;
    this.interp = null;
    this.lastRoundOver = null;
    this.phase = '';
    this.predictor.reset();
    this.scores.clear();
    // The next client counts its bytes from 0: a rate against the last one's counts is negative.
    this.lastBytes = { in: 0, out: 0, at: performance.now() };
    this.frames = 0;
    this.clearView();
  }

  /** Empties what the last room left on screen: its chat, scoreboard and HUD readings. */
  clearView() {
    $('#chat-log').replaceChildren();
    $('#scoreboard').replaceChildren();
    this.scoreboardKey = '';
    for (const id of ['#hud-room', '#hud-role', '#hud-round', '#hud-timer']) $(id).textContent = '';
    for (const id of ['#hud-transport', '#hud-ping', '#hud-tick', '#hud-fps', '#hud-in', '#hud-out', '#hud-audience']) {
      $(id).textContent = '–';
    }
    this.pingText = '–';
    this.staleMs = 0;
    $('#hud-ping').classList.remove('stalled');
    $('#empty-room').hidden = true;
  }

  async leave() {
    // At once, not after the server's answer: a reload meanwhile must not take the seat back.
    this.seats.forget();
    const done = this.client.leave();
    await Promise.race([done, new Promise((r) => setTimeout(r, 2500))]);
    this.exit();
  }

  exit() {
    // Once: a second Leave (a double click, or Leave's wait ending after Back left already)
    // must not take the lobby's place in history again, nor end the game that came next.
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.retryTimer);
    // Left on purpose: nothing for a reload to take back.
    this.seats.forget();
    this.controls.dispose();
    this.abort.abort();
    if (!this.client.session.isEnded()) this.client.leave();
    this.options.onExit();
  }

  /**
   * @param {string} state
   * @param {number} [attempt] for `reconnecting`: which retry comes next
   * @param {Error} [cause] for `reconnecting`: why the last attempt ended
   */
  onState(state, attempt, cause) {
    this.root.dataset.state = state;
    const banner = /** @type {HTMLElement} */ ($('#banner'));
    if (state === 'reconnecting') {
      // Nothing was lost before a first Welcome: the server is down, turns this page away, or
      // (it says so) has no room for it now.
      const session = this.client.session;
      const refused = refusedForNow(cause);
      // The SDK's restart window: open from the server's `ShuttingDown` (or a proxy's 1001 or
      // 1012) until a Welcome, through the attempts while the server is down.
      if (session.restartUntil !== null) this.restarting = true;
      const what = refused === 'full' ? 'The server is full or restarting. Retrying'
        : refused === 'crowded' ? 'Too many connections from your network. Retrying'
        : refused === 'busy' ? 'The server is busy. Retrying'
        : this.restarting ? 'The server is restarting. Reconnecting'
        : session.connections > 0 ? 'Connection lost. Reconnecting'
        : session.opened ? 'Could not join. Retrying' : 'Can’t reach the server. Retrying';
      const text = `${what}${attempt && attempt > 1 ? ` (attempt ${attempt})` : ''}…`;
      // Written only when changed: in a restart window the SDK retries every 250 ms with the
      // same words, and each write of a live region may be announced again.
      if (banner.className !== 'banner' || banner.textContent !== text) {
        banner.className = 'banner';
        banner.replaceChildren(el('span', { className: 'spinner' }), text);
      }
      this.controls.enabled = false;
    } else if (state === 'joined') {
      this.controls.enabled = !this.options.spectate;
    }
  }

  /** @param {Welcome} welcome */
  onWelcome(welcome) {
    // A page reloaded from a seat it kept comes back to it as a reconnect does.
    const again = this.welcome !== null || Number(this.root.dataset.connections) > 0 || this.resumeAsked;
    this.resumeAsked = false;
    this.welcome = welcome;
    this.room = welcome.room;
    this.interp = new InterpolationBuffer({ tickRate: welcome.tickRate });
    this.predictor.reset();
    // A round found running after a reconnect did not start now: it is not announced.
    this.phase = '';
    // The roster that follows brings every score as it is now, a resumed seat's too (scores
    // moved, or a round started, while this page was away); those known are of before.
    this.scores.clear();
    const d = this.root.dataset;
    d.room = welcome.room;
    d.role = welcome.role;
    d.playerId = String(welcome.playerId);
    d.entity = welcome.entity === null ? '' : String(welcome.entity);
    d.resumed = String(welcome.resumed);
    d.connections = String(Number(d.connections) + 1);
    // Named once a Welcome came over it, not when it opened: a socket a middlebox swallows
    // opens too, and the HUD would name a transport that carries nothing.
    const transport = this.client.transport;
    if (transport) {
      $('#hud-transport').textContent = TRANSPORT_NAMES[transport];
      d.transport = transport;
      this.keepTransport();
    }
    $('#hud-room').textContent = welcome.room;
    $('#hud-role').textContent = welcome.role === 'Spectator' ? 'watching' : 'playing';
    $('#invite-room').textContent = welcome.room;
    const url = new URL(location.href);
    url.searchParams.set('room', welcome.room);
    if (welcome.role === 'Spectator') url.searchParams.set('spectate', '1');
    else url.searchParams.delete('spectate');
    history.replaceState(history.state, '', url);
    document.title = `${welcome.room} · tickwire arena`;
    const banner = /** @type {HTMLElement} */ ($('#banner'));
    // The time in the background that this Welcome follows: the last one, if it ended lately,
    // or the one still under way (a throttled background tab reconnects by itself).
    const now = performance.now();
    const away = this.hiddenAt !== null ? now - this.hiddenAt
      : this.away && now - this.away.back < AWAY_COUNTS_MS ? this.away.ms : 0;
    this.away = null;
    if (again) {
      banner.className = 'banner ok';
      banner.replaceChildren(reconnectedText(welcome.resumed, this.restarting, away, welcome.role === 'Spectator'));
      // Unless a new drop's message took its place meanwhile.
      setTimeout(() => { if (banner.className === 'banner ok') banner.replaceChildren(); }, 2500);
    } else {
      banner.replaceChildren();
      this.addChat(null, `You joined ${welcome.room}${welcome.role === 'Spectator' ? ' as a spectator' : ''}.`);
    }
    this.restarting = false;
    if (!$('#invite').hidden) this.updateInvite();
  }

  /** @param {import('../sdk/index.js').World} world @param {number} receivedAt */
  onSnapshot(world, receivedAt) {
    this.interp?.push(world, receivedAt);
    const round = world.round;
    if (round.phase === 'Playing' && this.phase === 'Intermission') {
      this.scores.newRound(this.client.session.roster.keys());
      this.addChat(null, `Round ${round.round}: go!`);
    }
    this.phase = round.phase;
    // After a round's start has zeroed them: a ship may score in its first tick.
    for (const e of world.entities) if (e.kind === Arena.KIND_SHIP) this.scores.set(e.id, e.value);
  }

  /**
   * @param {import('../sdk/index.js').EventKind} kind
   * @param {string} [leftName] for `Left`: the name of who left, gone from the roster already
   * @param {boolean} [roster] catch-up after a `Welcome` (the SDK's `roster` flag), not news
   */
  onEvent(kind, leftName, roster = false) {
    const names = this.client.session.roster;
    const who = (/** @type {number} */ id) => names.get(id)?.name ?? `Player ${id}`;
    switch (kind.type) {
      case 'Joined':
        // 0 for a player joining now; in the roster, the score so far (this page's own too,
        // for a page reloaded into its seat).
        this.scores.set(kind.player, kind.score);
        if (kind.player === this.welcome?.playerId) break;
        if (!roster) {
          this.arrival('joined', `${kind.name} joined${kind.role === 'Controller' ? ' with a controller' : ''}.`);
        } else if (this.welcome?.resumed) {
          // Back from a reconnect, the SDK names only who joined meanwhile; those of a fresh
          // join's roster were here before this page.
          this.addChat(null, `${kind.name} joined while you were away.`);
        }
        break;
      case 'Left':
        // Catch-up after a reconnect: gone while this page was away.
        if (roster) this.addChat(null, `${leftName ?? who(kind.player)} left while you were away.`);
        else this.arrival('left', `${leftName ?? who(kind.player)} left.`);
        this.scores.delete(kind.player);
        break;
      case 'Scored': {
        const before = this.scores.get(kind.player) ?? 0;
        this.scores.set(kind.player, kind.score);
        // Catch-up after a reconnect is the score now, not a point scored now; so is a score
        // this page holds already (a newcomer's first tick repeats what its roster just said).
        // Nor does a hidden page draw one: its bursts do not expire unseen, and a busy room's
        // minutes in the background flashed up to 50 labels and 600 sparks, at the spots of
        // its last frame, as it came back.
        if (roster || kind.score === before || document.hidden) break;
        const ship = this.shipPosition(kind.player);
        if (ship) this.renderer.burst(ship.x, ship.y, Math.max(1, kind.score - before), playerColour(kind.player));
        break;
      }
      case 'RoundOver':
        this.lastRoundOver = { ...kind, standings: standingsText(this.scores.rows(names, Infinity), this.welcome?.playerId) };
        // Seen, not spoken: the centre message says the result with the standings a moment
        // later (the intermission's first snapshot), and twice back to back is noise.
        this.addChat(null, kind.winner === null
          ? `Round ${kind.round} over: nobody scored.`
          : `Round ${kind.round} over: ${who(kind.winner)} wins with ${kind.score}.`, undefined, 'result')
          .setAttribute('aria-hidden', 'true');
        break;
      case 'Chat':
        this.addChat(kind.from, kind.text, kind.name);
        break;
      case 'Audience':
        $('#hud-audience').textContent = kind.spectators.toLocaleString('en');
        break;
    }
  }

  /** @param {Error} error */
  onFailure(error) {
    this.gaveUpOnNetwork = gaveUpRetrying(error);
    this.gaveUpHidden = document.hidden && this.gaveUpOnNetwork;
    clearTimeout(this.retryTimer);
    const retries = this.options.spectate && this.gaveUpOnNetwork;
    if (retries) this.retryTimer = setTimeout(() => this.retryWatching(), SPECTATOR_RETRY_MS * (1 + Math.random() / 2));
    this.root.dataset.failure = error instanceof KickedError ? error.reason : error.name;
    $('#banner').replaceChildren();
    const { title, text, details } = describeFailure(error);
    $('#failure-title').textContent = title;
    $('#failure-text').textContent = retries ? `${text} This screen keeps trying by itself.` : text;
    $('#failure-details').textContent = details ? `Details: ${details}` : '';
    $('#failure-details').hidden = !details;
    // A full room still takes spectators (a room's seats are its ships').
    $('#failure-watch').hidden = !(error instanceof KickedError && error.reason === 'Full' && !this.options.spectate);
    // Removed by an operator (or banned): no "Try again" into the room, where a ban would only
    // refuse it again; the way on is the lobby.
    const removed = error instanceof KickedError && error.reason === 'Removed';
    // Another protocol version: this page's scripts are the wrong ones, and "Try again" would
    // join with them and be refused again. Reloading gets those the server serves now.
    const outdated = error instanceof VersionMismatchError;
    $('#failure-retry').hidden = removed || outdated;
    $('#failure-reload').hidden = !outdated;
    this.showFailure(true);
    this.controls.enabled = false;
    // An alert dialog takes the focus: Enter or Space tries again (or reloads), Tab reaches the
    // way out. After a removal the message takes it instead: the player may well be typing a
    // chat line, and the Enter that ends it must not dismiss the operator's words unread; Tab
    // reaches the lobby.
    $(removed ? '#failure-text' : outdated ? '#failure-reload' : '#failure-retry').focus();
  }

  /**
   * Shows or hides the failure dialog. It is modal: while it shows, the rest of the game is
   * inert, so Tab cycles through its buttons only and no click reaches the game behind it.
   * @param {boolean} shown
   */
  showFailure(shown) {
    const failure = $('#failure');
    failure.hidden = !shown;
    this.failureShown = shown;
    for (const child of this.root.children) {
      if (child !== failure && child instanceof HTMLElement) child.inert = shown;
    }
  }

  /** @param {number} player */
  shipPosition(player) {
    if (player === this.welcome?.entity && this.ownShown) return this.ownShown;
    return this.lastEntities.find((e) => e.id === player);
  }

  /**
   * A join or a leave as it happens: its own chat line, or, in a burst, the burst's one line
   * ({@link Arrivals}).
   * @param {'joined' | 'left'} what @param {string} text
   */
  arrival(what, text) {
    const folded = this.arrivals.note(what, performance.now());
    if (folded === null) {
      this.arrivalsLine = null;
      this.addChat(null, text);
    } else if (this.arrivalsLine?.parentNode) {
      // Still on screen (the chat's overflow removes its oldest lines).
      this.arrivalsLine.textContent = folded;
    } else {
      this.arrivalsLine = this.addChat(null, folded);
    }
  }

  /**
   * @param {number | null} from the player who said it; null for the game's own lines
   * @param {string} text
   * @param {string} [name] the player's
   * @param {'result' | 'warn'} [kind] of the game's lines: a round's result, or a warning
   * @returns {HTMLElement} the line
   */
  addChat(from, text, name, kind) {
    const log = $('#chat-log');
    const line = el('li', { className: [from === null ? 'system' : '', kind ?? ''].join(' ').trim() });
    if (from !== null) {
      line.append(el('span', { className: 'from', style: `color: ${legibleOn(playerColour(from), CHAT_BACKDROP)}` }, name ?? `Player ${from}`));
    }
    line.append(text);
    log.append(line);
    const lines = [...log.children];
    for (const i of chatOverflow(lines.map((l) => l.classList.contains('result')), CHAT_LINES)) lines[i].remove();
    setTimeout(() => line.classList.add('old'), kind === 'result' ? RESULT_FRESH_MS : CHAT_FRESH_MS);
    return line;
  }

  /**
   * A pad's Start: presses the failure dialog's focused button when it shows, else opens the
   * chat box, or closes it (as Escape does, keeping what was typed).
   */
  padStart() {
    const focused = /** @type {HTMLElement | null} */ (document.activeElement);
    if (this.failureShown) {
      if (focused?.tagName === 'BUTTON' && $('#failure').contains(focused)) focused.click();
      return;
    }
    const chatInput = /** @type {HTMLInputElement} */ ($('#chat-input'));
    if (focused === chatInput) {
      chatInput.blur();
    } else {
      this.root.classList.add('chatting');
      chatInput.focus();
    }
  }

  /** Opens or closes the invite popover. @param {boolean} open */
  showInvite(open) {
    $('#invite').hidden = !open;
    $('#invite-btn').setAttribute('aria-expanded', String(open));
  }

  async updateInvite() {
    if (!this.welcome) return;
    const spectate = /** @type {HTMLInputElement} */ ($('#invite-spectate')).checked;
    const query = `room=${encodeURIComponent(this.welcome.room)}${spectate ? '&spectate=1' : ''}`;
    // Relative to the page, as every URL the pages use: under a reverse proxy's path prefix too.
    /** @type {HTMLImageElement} */ ($('#invite-qr')).src = `invite.svg?${query}`;
    const update = ++this.invites;
    try {
      const invite = await (await fetch(`invite?${query}`)).json();
      // The box ticked twice quickly: a reply that comes after a newer one's would show a
      // link other than the QR code's.
      if (update !== this.invites) return;
      const link = /** @type {HTMLAnchorElement} */ ($('#invite-link'));
      link.href = invite.url;
      link.textContent = invite.url;
      // The server's word, as in the lobby: the link's host is this machine (127.x, localhost, ::1).
      $('#invite-lan-warning').hidden = invite.reachable_from_lan !== false;
    } catch {
      // The QR code still shows the link.
    }
  }

  /**
   * Shows the centre message, or clears it (`big` empty). The box is a live region that stays
   * in the page (one shown already filled is often not announced): what it shows is hidden
   * from screen readers, which hear `spoken` instead, once each time it changes, and so not
   * every second of a countdown in `small`.
   * @param {string} big @param {string} [small] @param {string} [spoken] by default big and small
   */
  setCentre(big, small = '', spoken = [big, small].filter(Boolean).join('. ')) {
    const box = /** @type {HTMLElement} */ ($('#center-msg'));
    let [bigLine, smallLine, said] = /** @type {HTMLElement[]} */ ([...box.children]);
    if (!said) {
      bigLine = el('div', { className: 'big' });
      smallLine = el('div', { className: 'small' });
      for (const shown of [bigLine, smallLine]) shown.setAttribute('aria-hidden', 'true');
      said = el('span', { className: 'sr-only' });
      box.replaceChildren(bigLine, smallLine, said);
    }
    // Written only when changed: a text written again may be announced again.
    for (const [node, text] of /** @type {[HTMLElement, string][]} */ ([[bigLine, big], [smallLine, big ? small : ''], [said, big ? spoken : '']])) {
      if (node.textContent !== text) node.textContent = text;
    }
  }

  /** @param {number} time */
  frame(time) {
    if (!this.running) return;
    requestAnimationFrame((t) => this.frame(t));
    const now = performance.now();
    const dt = Math.min((now - this.lastFrame) / 1000, 0.1);
    this.lastFrame = now;

    const session = this.client.session;
    if (session.hasShip()) this.client.setInput(this.controls.read());
    // A gamepad's Start presses the failure dialog's focused button: read every frame.
    if (this.controls.startPressed()) this.padStart();
    // The arena behind the failure dialog holds still: redrawing it at the display's rate
    // (for hours, on a screen left on it) changed nothing anyone reads.
    if (this.failureShown) return;
    this.frames += 1;

    const welcome = this.welcome;
    const world = session.world;
    if (!welcome || !this.interp || !world) {
      this.staleMs = 0;
      this.renderer.draw({ entities: [], own: null, world: welcome?.world ?? { width: 1600, height: 1000 }, viewRadius: 0, names: new Map(), time, dt });
      this.updateHud(now, null);
      return;
    }
    const sample = this.interp.sample(now);
    this.staleMs = sample.staleMs;
    this.showStall();
    /** @type {import('../sdk/index.js').RenderEntity | null} */
    let own = null;
    const mine = welcome.entity !== null ? worldEntity(world, welcome.entity) : undefined;
    if (mine) {
      const p = this.predictor.predict({
        server: mine, serverTick: world.tick, pending: session.pendingInputs, applied: session.lastInputApplied,
        appliedTick: session.lastInputAppliedTick,
        stick: session.input, nextSendAt: session.nextInputAt, inputPeriodMs: session.inputPeriodMs(), tickRate: welcome.tickRate,
        world: welcome.world, playing: world.round.phase === 'Playing', round: world.round.round, now, frameDt: dt,
      });
      own = { ...toRenderEntity(mine), x: p.x, y: p.y, vx: p.vx, vy: p.vy, heading: p.heading };
    }
    this.ownShown = own;
    const entities = sample.entities.filter((e) => e.id !== welcome.entity);
    keepShipsInside(entities, welcome.world);
    this.lastEntities = entities;
    /** @type {Map<number, string>} */
    const names = new Map();
    for (const [id, info] of session.roster) names.set(id, info.name);
    this.renderer.draw({ entities, own, world: welcome.world, viewRadius: welcome.role === 'Spectator' ? 0 : welcome.viewRadius, names, time, dt });
    this.updateHud(now, world);
  }

  /**
   * While the other ships are held (the downlink has been quiet past the interpolation's
   * extrapolation), the ping cell says for how long, so a frozen world reads as the network's
   * doing; then it shows the round trip again. Every frame, so it shows as the ships stop;
   * the page is touched only when the words change.
   */
  showStall() {
    const ping = $('#hud-ping');
    const text = stallText(this.staleMs, this.interp?.extrapolateMs ?? 0);
    const shown = text ?? this.pingText;
    if (ping.textContent === shown) return;
    ping.classList.toggle('stalled', text !== null);
    ping.textContent = shown;
    ping.title = text === null ? '' : 'no snapshot from the server: the other ships are held where they were last headed';
  }

  /** @param {number} now @param {import('../sdk/index.js').World | null} world */
  updateHud(now, world) {
    if (now - this.lastHud < 250) return;
    const span = (now - this.lastBytes.at) / 1000;
    if (span >= 1) {
      this.rate = { in: (this.client.bytesIn - this.lastBytes.in) / span, out: (this.client.bytesOut - this.lastBytes.out) / span };
      this.fps = Math.round(this.frames / span);
      this.frames = 0;
      this.lastBytes = { in: this.client.bytesIn, out: this.client.bytesOut, at: now };
      $('#hud-fps').textContent = String(this.fps);
      $('#hud-in').textContent = `${formatBytes(this.rate.in)}/s`;
      $('#hud-out').textContent = `${formatBytes(this.rate.out)}/s`;
    }
    this.lastHud = now;
    this.renderer.covered = this.coveredByControls();
    // A pad says nothing of itself: while it steers, the view says what its buttons do.
    $('#pad-hint').hidden = this.controls.source !== 'gamepad';
    if (!world) return;
    $('#hud-tick').textContent = String(world.tick);
    const r = world.round;
    const timer = $('#hud-timer');
    if (r.phase === 'Playing') {
      $('#hud-round').textContent = `Round ${r.round}`;
      timer.textContent = formatClock(r.secondsLeft);
      timer.classList.toggle('low', r.secondsLeft <= 10);
      this.setCentre('');
    } else {
      $('#hud-round').textContent = 'Intermission';
      timer.textContent = formatClock(r.secondsLeft);
      timer.classList.remove('low');
      const names = this.client.session.roster;
      this.setCentre(...intermissionText(r, this.lastRoundOver, (id) => names.get(id)?.name ?? `Player ${id}`));
    }
    this.updateScoreboard();
  }

  /**
   * Where controls cover the view: the touch layout's boost button, the invite popover while
   * it is open (it stays open while the player steers), the chat lines and box, and the Chat,
   * Invite and Leave buttons: on a phone they take the bottom of the screen, where a ship
   * flying along the bottom wall was drawn under the chat. Those on screen only (one not
   * shown has no size); the lines, and the buttons, each as one box around them all, so that
   * moving the ship clear of one line does not put it under the next.
   */
  coveredByControls() {
    /** @type {{ left: number, top: number, right: number, bottom: number }[]} */
    const covered = [];
    /** @param {Iterable<Element>} elements */
    const cover = (elements) => {
      /** @type {{ left: number, top: number, right: number, bottom: number } | null} */
      let box = null;
      for (const element of elements) {
        const { left, top, right, bottom, width, height } = element.getBoundingClientRect();
        if (!(width > 0 && height > 0)) continue;
        box = box === null ? { left, top, right, bottom } : {
          left: Math.min(box.left, left), top: Math.min(box.top, top), right: Math.max(box.right, right), bottom: Math.max(box.bottom, bottom),
        };
      }
      if (box) covered.push(box);
    };
    for (const [layer, box] of [['#touch', '#boost-btn'], ['#invite', '#invite']]) {
      if (!$(layer).hidden) cover([$(box)]);
    }
    cover([...$('#chat-log').children, $('#chat-form')]);
    cover(['#chat-btn', '#invite-btn', '#leave-btn'].map((id) => $(id)));
    return covered;
  }

  updateScoreboard() {
    const roster = this.client.session.roster;
    const me = this.welcome?.playerId;
    const { top, pinned } = scoreboardView(this.scores.rows(roster, Infinity), me);
    // A spectator's room with nobody to watch says so, rather than show a clock over nothing.
    $('#empty-room').hidden = !(this.welcome?.role === 'Spectator' && top.length === 0);
    const key = top.map((r) => `${r.id}:${r.score}:${r.name}`).join('|') + (pinned ? `|${pinned.place}:${pinned.row.score}:${pinned.row.name}` : '') + me;
    if (key === this.scoreboardKey) return;
    this.scoreboardKey = key;
    /** @param {{ id: number, name: string, score: number | null }} r @param {number} [place] */
    const row = (r, place) => {
      const li = el('li', { className: [r.id === me ? 'me' : '', place ? 'pinned' : ''].join(' ').trim() },
        el('span', { className: 'swatch', style: `background: ${playerColour(r.id)}; color: ${playerColour(r.id)}` }),
        el('span', { className: 'who', title: r.name }, r.name),
        ...(r.id === me ? [el('span', { className: 'you' }, '(you)')] : []),
        r.score === null
          // Left out of a roster past 128 names, and neither seen nor scored since.
          ? el('span', { className: 'pts unknown', title: 'Not known yet: out of view since you joined' }, '–')
          : el('span', { className: 'pts' }, String(r.score)));
      // Its place, where the rows above it count theirs (the stylesheet's counter).
      if (place) li.dataset.place = String(place);
      return li;
    };
    // The rows between the top ones and this player's are left out: a gap says so.
    const gap = () => {
      const marker = el('li', { className: 'gap', title: 'players between these places are not listed' }, '⋯');
      marker.setAttribute('aria-hidden', 'true');
      return marker;
    };
    $('#scoreboard').replaceChildren(...top.map((r) => row(r)), ...(pinned ? [gap(), row(pinned.row, pinned.place)] : []));
  }
}
