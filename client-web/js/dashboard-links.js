// Where the dashboard's links lead, apart from the page so it can be tested in Node. The
// server writes it into the page as it serves it (server/src/web.rs, `DashboardLinks`), as it
// depends on the listener: on the public one the game is beside the dashboard (`./`); the
// admin listener (`--admin-bind`) serves no game, so there it is `--public-url`, or unknown,
// and the Play and watch links are shown without a target, and a note on the page says why (a
// title alone reaches neither a keyboard nor a finger). `/metrics`
// is on the admin listener only, when there is one, and the moderation routes with it: the
// page says whether they are on (`--admin-token`) there.

import { el } from './dom.js';

/** Why the game links have no target: a note on the page, and their title. */
export const NO_GAME = 'The game is on the public port, not this admin one: start the server with --public-url to link it here.';

/**
 * @typedef {object} Links
 * @property {string} game the game's URL, ending in `/`; empty when unknown
 * @property {boolean} metrics whether `/metrics` is served beside the dashboard
 * @property {'on' | 'off' | ''} moderation whether the moderation routes beside the dashboard
 *   answer (`on`) or are off (no `--admin-token`); empty where they are on another listener
 */

/**
 * The links the server wrote into the page. A page without its markers (not served by the
 * server) links as on the public listener, and shows no moderation.
 * @param {{ querySelector: (selector: string) => Element | null }} [doc]
 * @returns {Links}
 */
export function pageLinks(doc = document) {
  const meta = (/** @type {string} */ name) => doc.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? null;
  const moderation = meta('tickwire-moderation');
  return {
    game: meta('tickwire-game') ?? './',
    metrics: (meta('tickwire-metrics') ?? 'metrics') !== '',
    moderation: moderation === 'on' || moderation === 'off' ? moderation : '',
  };
}

/**
 * The link to watch `room`: to the game, or, when the game's URL is unknown, no link.
 * @param {Links} links @param {string} room
 * @returns {HTMLAnchorElement}
 */
export function watchLink(links, room) {
  /** @type {Record<string, string>} */
  const props = links.game ? { href: `${links.game}?room=${encodeURIComponent(room)}&spectate=1` } : { title: NO_GAME };
  const link = /** @type {HTMLAnchorElement} */ (el('a', props, 'watch'));
  if (!links.game) link.setAttribute('aria-describedby', NO_GAME_NOTE);
  return link;
}

/** The id of the page's note saying why the game links have no target. */
const NO_GAME_NOTE = 'no-game';

/**
 * Points the Play link at the game, or leaves it without a target and shows `note` saying why;
 * hides the /metrics link where /metrics is not served.
 * @param {Links} links @param {HTMLElement} play @param {HTMLElement} metrics
 * @param {HTMLElement} note the page's `#no-game`
 */
export function showLinks(links, play, metrics, note) {
  if (links.game) {
    play.setAttribute('href', links.game);
  } else {
    play.removeAttribute('href');
    play.title = NO_GAME;
    play.setAttribute('aria-describedby', NO_GAME_NOTE);
    note.textContent = NO_GAME;
  }
  note.hidden = Boolean(links.game);
  metrics.hidden = !links.metrics;
}
