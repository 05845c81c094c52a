// What a chart shows, in words: for a screen reader, which cannot see a canvas; and a room's
// clients by transport, as the rooms table shows them. Apart from the page so it can be tested
// in Node.

/**
 * A chart's lines in a sentence: each one's newest value, its lowest and its highest over the
 * samples shown, and how long they span.
 * @param {{ label: string, values: (number | null)[] }[]} lines
 * @param {number[]} times seconds, oldest first, one per value
 * @param {(v: number) => string} [format]
 * @returns {string}
 */
export function chartSummary(lines, times, format = (v) => String(Math.round(v * 10) / 10)) {
  const parts = lines.flatMap(({ label, values }) => {
    const known = /** @type {number[]} */ (values.filter((v) => v !== null && Number.isFinite(v)));
    if (known.length === 0) return [];
    const now = known[known.length - 1];
    return [`${label} now ${format(now)}, lowest ${format(Math.min(...known))}, highest ${format(Math.max(...known))}`];
  });
  if (parts.length === 0) return 'No data yet.';
  const span = times.length > 1 ? times[times.length - 1] - times[0] : 0;
  const over = span >= 90 ? `${Math.round(span / 60)} min` : `${Math.round(span)} s`;
  return `Over the last ${over}: ${parts.join('; ')}.`;
}

/**
 * A room's clients by transport (`/rooms`' `transports`), only those in use: `ws 12 · stream 2`.
 * Which rooms play over the HTTP fallback is what an operator looks for (a network that blocks
 * WebSocket, a middlebox that swallows it); a column of zeros would hide it. `–` for none, or a
 * row without the field (a node of a fleet older than it).
 * @param {{ ws?: number, stream?: number, poll?: number } | undefined} transports
 * @returns {string}
 */
export function transportsText(transports) {
  const parts = /** @type {const} */ (['ws', 'stream', 'poll'])
    .filter((t) => (transports?.[t] ?? 0) > 0)
    .map((t) => `${t} ${transports?.[t]}`);
  return parts.length > 0 ? parts.join(' · ') : '–';
}
