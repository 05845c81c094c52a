// The dashboard's view of a fleet's room directory (Redis), from /rooms and /nodes answers as
// a node gives them while it cannot read the directory: /rooms with this node's rooms only and
// `x-tickwire-directory: unavailable`, /nodes a 503. The page says so, greys the nodes table
// it keeps, and its status line is no longer a green "live"; all of it goes when they answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DIRECTORY_HEADER, DirectoryWatch, releaseOf, withDirectory } from '../../js/dashboard-fleet.js';
import { formatStart } from '../../js/dashboard-poll.js';

/** A fetch Response as far as the watch reads one. @param {number} status @param {Record<string, string>} [headers] */
const response = (status, headers = {}) => ({
  ok: status >= 200 && status < 300,
  status,
  headers: new Headers(headers),
});

const live = { className: 'status live', text: 'live · server started 10:00:00 · sampled every 1 s · 60 samples' };

test('a /rooms answer marked unavailable says the rooms listed are this node\'s only, until one comes without the mark', () => {
  const watch = new DirectoryWatch();
  watch.rooms(response(200));
  assert.equal(watch.notice(), '');
  assert.deepEqual(withDirectory(live, watch), live, 'live, and green');
  watch.rooms(response(200, { [DIRECTORY_HEADER]: 'unavailable' }));
  assert.equal(watch.notice(), 'Room directory unavailable: the Rooms table lists this node’s rooms only.');
  assert.deepEqual(withDirectory(live, watch), { className: 'status live degraded', text: live.text });
  watch.rooms(response(200));
  assert.equal(watch.notice(), '');
  assert.deepEqual(withDirectory(live, watch), live);
});

test('a /nodes 503 keeps the nodes table of before, greyed and dated, and says the directory is unavailable', () => {
  const watch = new DirectoryWatch();
  const listedAt = Date.UTC(2026, 11, 7, 6, 0, 0);
  watch.nodes(response(200), listedAt);
  assert.equal(watch.nodesStale(listedAt), '', 'current');
  const later = listedAt + 10_000;
  watch.nodes(response(503), later);
  assert.equal(watch.away, true);
  assert.equal(watch.notice(), 'Room directory unavailable: the Rooms table lists this node’s rooms only.');
  assert.equal(watch.nodesStale(later), `Stale: the room directory is unavailable. These are the nodes as listed at ${formatStart(listedAt, later)}.`);
  assert.equal(withDirectory(live, watch).className, 'status live degraded');
  // The directory back: current again, the notice gone.
  watch.nodes(response(200), later + 2000);
  assert.equal(watch.nodesStale(later + 2000), '');
  assert.equal(watch.notice(), '');
});

test('a /nodes that fails otherwise greys the table as the tiles are in an outage, without blaming the directory', () => {
  const watch = new DirectoryWatch();
  watch.nodes(response(200), 1000);
  watch.nodes(null, 5000);
  assert.match(watch.nodesStale(5000), /^Stale: the server is not answering\. These are the nodes as listed at /);
  assert.equal(watch.notice(), '');
  // Before any list, there is no table to mark (the panel is hidden).
  const fresh = new DirectoryWatch();
  fresh.nodes(response(503), 1000);
  assert.equal(fresh.nodesStale(1000), '');
  assert.notEqual(fresh.notice(), '');
});

test('a status line that is not live keeps its own colour: the outage it reports matters more', () => {
  const watch = new DirectoryWatch();
  watch.rooms(response(200, { [DIRECTORY_HEADER]: 'unavailable' }));
  const down = { className: 'status down', text: 'cannot reach the server (Failed to fetch); retrying' };
  assert.deepEqual(withDirectory(down, watch), down);
});

test('a node of another protocol version is marked, one that does not say shows a dash', () => {
  assert.deepEqual(releaseOf({ protocol: 7, release: '0.1.0' }, 7), { text: '0.1.0 (protocol 7)', other: false });
  assert.deepEqual(releaseOf({ protocol: 6, release: '0.0.9' }, 7), { text: '0.0.9 (protocol 6)', other: true });
  assert.deepEqual(releaseOf({ protocol: null, release: null }, 7), { text: '—', other: false });
  assert.deepEqual(releaseOf({}, 7), { text: '—', other: false });
  // The answering node itself of a release before: nothing to compare with.
  assert.deepEqual(releaseOf({ protocol: 8, release: '0.2.0' }, null), { text: '0.2.0 (protocol 8)', other: false });
});
