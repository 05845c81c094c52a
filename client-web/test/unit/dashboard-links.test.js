// The dashboard's links to the game follow the marker the server writes into the page: beside
// the game (`./`), at `--public-url` from the admin listener, or, when the admin listener does
// not know where the game is, no link at all (a title says why). And /metrics is hidden where
// it is not served, and the moderation panel is shown only where the moderation routes are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installPage } from '../support/page.js';
import { NO_GAME, pageLinks, showLinks, watchLink } from '../../js/dashboard-links.js';

/**
 * A stand-in page whose markers say `game`, `metrics` and `moderation` (null: no such marker).
 * @param {string | null} game @param {string | null} metrics @param {string | null} [moderation]
 */
function page(game, metrics, moderation = null) {
  const { document } = installPage();
  if (game !== null) document.querySelector('meta[name="tickwire-game"]').setAttribute('content', game);
  if (metrics !== null) document.querySelector('meta[name="tickwire-metrics"]').setAttribute('content', metrics);
  if (moderation !== null) document.querySelector('meta[name="tickwire-moderation"]').setAttribute('content', moderation);
  const play = document.querySelector('#play-link');
  play.setAttribute('href', './');
  const metricsLink = document.querySelector('#metrics-link');
  const note = document.querySelector('#no-game');
  note.hidden = true;
  const links = pageLinks(document);
  showLinks(links, play, metricsLink, note);
  return { links, play, metricsLink, note };
}

test('on the public listener the links lead to the game beside the dashboard', () => {
  const { links, play, metricsLink } = page('./', 'metrics', 'on');
  assert.deepEqual(links, { game: './', metrics: true, moderation: 'on' });
  assert.equal(play.getAttribute('href'), './');
  assert.equal(metricsLink.hidden, false);
  assert.equal(watchLink(links, 'arena 1').href, './?room=arena%201&spectate=1');
});

test('with an admin listener the public dashboard hides /metrics, which is not beside it', () => {
  const { play, metricsLink } = page('./', '');
  assert.equal(play.getAttribute('href'), './');
  assert.equal(metricsLink.hidden, true);
});

test('on the admin listener the links lead to --public-url', () => {
  const { links, play, metricsLink } = page('https://play.example/tw/', 'metrics');
  assert.equal(play.getAttribute('href'), 'https://play.example/tw/');
  assert.equal(metricsLink.hidden, false);
  assert.equal(watchLink(links, 'duel').href, 'https://play.example/tw/?room=duel&spectate=1');
});

test('on the admin listener without --public-url there is no game link, and a note on the page says why', () => {
  const { links, play, note } = page('', 'metrics');
  assert.equal(links.game, '');
  assert.equal(play.hasAttribute('href'), false);
  // Shown, not only in a title that a keyboard or a finger never reaches; the links name it.
  assert.equal(note.hidden, false);
  assert.equal(note.textContent, NO_GAME);
  assert.equal(play.getAttribute('aria-describedby'), 'no-game');
  assert.equal(play.title, NO_GAME);
  const watch = watchLink(links, 'duel');
  assert.equal(watch.href, '', 'no target');
  assert.equal(watch.getAttribute('aria-describedby'), 'no-game');
  assert.equal(watch.title, NO_GAME);
  assert.deepEqual(watch.children, ['watch']);
});

test('where the game links lead somewhere, no note', () => {
  assert.equal(page('./', 'metrics').note.hidden, true);
  assert.equal(page('https://play.example/tw/', 'metrics').note.hidden, true);
});

test('a page without the markers links as on the public listener, and offers no moderation', () => {
  assert.deepEqual(page(null, null).links, { game: './', metrics: true, moderation: '' });
});

test('the moderation marker says on, off, or not here; anything else (the unwritten marker) is not here', () => {
  assert.equal(page('./', 'metrics', 'off').links.moderation, 'off');
  assert.equal(page('', 'metrics', 'on').links.moderation, 'on');
  assert.equal(page('./', '', '').links.moderation, '');
  assert.equal(page('./', 'metrics', '/@moderation/').links.moderation, '');
});
