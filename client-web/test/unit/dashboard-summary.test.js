// A dashboard chart's summary for a screen reader: each line's newest value, lowest and
// highest over what the chart shows, in the chart's own units.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chartSummary, transportsText } from '../../js/dashboard-summary.js';

test('a chart reads as now, lowest and highest of each line over the window it shows', () => {
  const times = Array.from({ length: 601 }, (_, i) => 1000 + i);
  const players = times.map((_, i) => (i === 300 ? 9 : 3));
  const spectators = times.map((_, i) => (i < 600 ? 0 : 2));
  assert.equal(chartSummary([{ label: 'players', values: players }, { label: 'spectators', values: spectators }], times),
    'Over the last 10 min: players now 3, lowest 3, highest 9; spectators now 2, lowest 0, highest 2.');
  // Gaps (a sample without the value) are skipped; rates keep a decimal; a unit is the chart's.
  assert.equal(chartSummary([{ label: 'p99', values: [1.234, null, 2.56] }], [0, 1, 2]), 'Over the last 2 s: p99 now 2.6, lowest 1.2, highest 2.6.');
  assert.equal(chartSummary([{ label: 'bytes/s', values: [2048] }], [5], (v) => `${v / 1024} KB/s`), 'Over the last 0 s: bytes/s now 2 KB/s, lowest 2 KB/s, highest 2 KB/s.');
  assert.equal(chartSummary([{ label: 'rooms', values: [] }], []), 'No data yet.');
  // Lines without a value in any sample shown (no ship was in to measure a round trip) say nothing.
  assert.equal(chartSummary([{ label: 'p50', values: [null, null] }, { label: 'p95', values: [null, null] }], [0, 1]), 'No data yet.');
});

test('a room\'s clients by transport read as the ones in use, in the order ws, stream, poll', () => {
  // The shape /rooms gives (TransportCounts::info in server/src/transport.rs).
  assert.equal(transportsText({ ws: 12, stream: 2, poll: 1 }), 'ws 12 · stream 2 · poll 1');
  assert.equal(transportsText({ ws: 0, stream: 3, poll: 0 }), 'stream 3');
  assert.equal(transportsText({ ws: 4, stream: 0, poll: 0 }), 'ws 4');
  assert.equal(transportsText({ ws: 0, stream: 0, poll: 0 }), '–');
  // A node of a fleet older than the field lists none.
  assert.equal(transportsText(undefined), '–');
});
