// What a chart shows, in words: for a screen reader, which cannot see a canvas. Apart from the
// page so it can be tested in Node.

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
