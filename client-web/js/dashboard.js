// The operator dashboard: polls /stats every second (only the samples it does not have) and
// /rooms every two seconds, and draws the last ten minutes with uPlot. A /stats reply carries
// at most a minute of samples (it answers anyone), so a dashboard opened late pages through
// the history with `since` while the reply says there is `more`. It follows one server process
// (dashboard-poll.js): after a restart it starts over, and in a fleet whose balancer sends the
// polls to different nodes it charts one of them and says so in the status line. The closes
// table reads /metrics too, where it is served: /stats counts closes by code, /metrics also by
// who closed first.

import uPlot from '../vendor/uplot/uPlot.esm.js';
import { $, el, formatBytes, syncRows } from './dom.js';
import { ANSWER_MS, POLL_MS, StatsFeed, closeRows, closesFromMetrics, formatStart, staleSince, statusOf, within } from './dashboard-poll.js';
import { pageLinks, showLinks, watchLink } from './dashboard-links.js';
import { ModerationPanel } from './dashboard-moderation.js';
import { chartSummary, transportsText } from './dashboard-summary.js';
import { DirectoryWatch, releaseOf, withDirectory } from './dashboard-fleet.js';

/** @typedef {import('./dashboard-poll.js').Sample} Sample */

// Every URL is relative to the page (at the server's root), so a reverse proxy may serve the
// server under a path prefix. The game's is the server's to say (dashboard-links.js): on the
// admin listener it is elsewhere, or unknown.
const links = pageLinks();
showLinks(links, $('#play-link'), $('#metrics-link'), $('#no-game'));

/** What the dashboard holds of `/stats`: one server process's samples. */
const feed = new StatsFeed(async (since, signal) => {
  const response = await fetch(`stats${since ? `?since=${since}` : ''}`, { cache: 'no-store', signal });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
});

/** The axes' labels' font (uPlot's own size and faces). */
const AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const TIME_OF_DAY = /** @type {const} */ ({ hour: 'numeric', minute: '2-digit' });
const TIME_TO_THE_SECOND = /** @type {const} */ ({ hour: 'numeric', minute: '2-digit', second: '2-digit' });

/**
 * The time axis's labels: one line each, the time of day, to the second when ticks are less
 * than a minute apart. uPlot's own add a second line under the first tick (the date) and under
 * each new minute's (the time of day), and with ticks 50 px apart a wide one ran into the next
 * ("12/5/26 3:29pm3:30pm"). The status line says which day the server started.
 * @param {uPlot} _u @param {number[]} splits seconds @param {number} _axis @param {number} _space
 * @param {number} increment seconds between ticks
 */
function timeLabels(_u, splits, _axis, _space, increment) {
  const options = increment < 60 ? TIME_TO_THE_SECOND : TIME_OF_DAY;
  return splits.map((t) => new Date(t * 1000).toLocaleTimeString([], options));
}

/**
 * The least room between two ticks of the time axis, in CSS pixels: its widest label (to the
 * second, in this browser's locale) and a gap, so no label reaches the next.
 */
const timeSpace = (() => {
  const context = document.createElement('canvas').getContext('2d');
  if (!context) return 90;
  context.font = AXIS_FONT;
  const widest = new Date(2000, 11, 28, 22, 58, 58).toLocaleTimeString([], TIME_TO_THE_SECOND);
  return Math.ceil(context.measureText(widest).width) + 24;
})();

/** @type {uPlot.Axis} */
const TIME_AXIS = {
  stroke: '#8c9bc0', font: AXIS_FONT, grid: { stroke: 'rgba(130,160,220,0.08)' }, ticks: { stroke: 'rgba(130,160,220,0.15)' },
  space: timeSpace, values: timeLabels,
};

/** @param {string} id @param {string[]} labels @param {string[]} colours @param {object} [extra] */
function chart(id, labels, colours, extra = {}) {
  const host = $(id);
  /** @type {uPlot.Options} */
  const opts = {
    width: host.clientWidth || 400,
    height: 200,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), Math.max(max * 1.15, 1)] } },
    axes: [
      TIME_AXIS,
      { stroke: '#8c9bc0', font: AXIS_FONT, grid: { stroke: 'rgba(130,160,220,0.08)' }, ticks: { stroke: 'rgba(130,160,220,0.15)' }, size: 56 },
    ],
    series: [{}, ...labels.map((label, i) => label === 'budget'
      ? { label, stroke: colours[i], width: 1, dash: [6, 6], points: { show: false } }
      : { label, stroke: colours[i], width: 2, fill: `${colours[i]}22`, points: { show: false } })],
    ...extra,
  };
  const plot = new uPlot(opts, [[], ...labels.map(() => [])], host);
  new ResizeObserver(() => plot.setSize({ width: host.clientWidth, height: 200 })).observe(host);
  return plot;
}

const charts = {
  clients: chart('#c-clients', ['players', 'spectators', 'controllers'], ['#4dabf7', '#cc5de8', '#51cf66']),
  rooms: chart('#c-rooms', ['rooms'], ['#fcc419']),
  tick: chart('#c-tick', ['p50', 'p99', 'budget'], ['#51cf66', '#ff922b', '#ff6b6b']),
  'round-trip': chart('#c-round-trip', ['p50', 'p95'], ['#51cf66', '#ff922b']),
  'late-inputs': chart('#c-late-inputs', ['late inputs'], ['#ff922b']),
  late: chart('#c-late', ['late ticks', 'frames skipped'], ['#ff6b6b', '#fcc419']),
  bytes: chart('#c-bytes', ['bytes/s'], ['#22b8cf'], {
    axes: [
      TIME_AXIS,
      { stroke: '#8c9bc0', font: AXIS_FONT, grid: { stroke: 'rgba(130,160,220,0.08)' }, size: 64, values: (/** @type {any} */ _u, /** @type {number[]} */ ticks) => ticks.map((t) => formatBytes(t)) },
    ],
  }),
  closes: chart('#c-closes', ['closes/s', 'resumes/s'], ['#f06595', '#94d82d']),
};

function redraw() {
  const { samples, tickRate } = feed;
  const t = samples.map((s) => s.unix_ms / 1000);
  const col = (/** @type {(s: Sample) => number | null} */ f) => samples.map(f);
  /** @type {Record<keyof typeof charts, (number | null)[][]>} each chart's lines, as drawn */
  const lines = {
    clients: [col((s) => s.clients.players), col((s) => s.clients.spectators), col((s) => s.clients.controllers)],
    rooms: [col((s) => s.rooms)],
    tick: [col((s) => s.tick_p50_ms), col((s) => s.tick_p99_ms), col(() => 1000 / tickRate)],
    'round-trip': [col((s) => s.round_trip_p50_ms), col((s) => s.round_trip_p95_ms)],
    'late-inputs': [col((s) => s.late_inputs_pct)],
    late: [col((s) => s.late_ticks_per_s), col((s) => s.frames_skipped_per_s)],
    bytes: [col((s) => s.bytes_out_per_s)],
    closes: [col((s) => s.closes_per_s), col((s) => s.resumes_per_s)],
  };
  for (const [name, plot] of Object.entries(charts)) {
    const values = lines[/** @type {keyof typeof charts} */ (name)];
    plot.setData([t, ...values]);
    // A canvas says nothing to a screen reader: its figure's summary does. The budget, a
    // constant line, is left out: the tick p99 tile states it.
    const said = plot.series.slice(1).map((s, i) => ({ label: String(s.label), values: values[i] })).filter((l) => l.label !== 'budget');
    const summary = $(`#c-${name}-summary`);
    const format = { bytes: (/** @type {number} */ v) => `${formatBytes(v)}/s`, 'late-inputs': (/** @type {number} */ v) => `${Math.round(v * 10) / 10}%` }[name];
    const text = chartSummary(said, t, format);
    if (summary.textContent !== text) summary.textContent = text;
  }
  document.body.dataset.samples = String(samples.length);

  const last = samples[samples.length - 1];
  if (!last) return;
  const c = last.clients;
  $('#t-clients').textContent = String(c.players + c.spectators + c.controllers);
  $('#t-clients-sub').textContent = `${c.players} players · ${c.spectators} watching · ${c.controllers} controllers`;
  $('#t-rooms').textContent = String(last.rooms);
  $('#t-ticks').textContent = `${Math.round(last.ticks_per_s)} ticks/s in all`;
  const p99 = last.tick_p99_ms;
  const budget = 1000 / tickRate;
  const p99El = $('#t-p99');
  p99El.textContent = p99 === null ? '–' : `${p99 < 1 ? p99.toFixed(2) : p99.toFixed(1)} ms`;
  p99El.className = `value${p99 !== null && p99 > budget ? ' bad' : p99 !== null && p99 > budget / 2 ? ' warn' : ''}`;
  $('#t-budget').textContent = `budget ${budget.toFixed(1)} ms per tick at ${tickRate} Hz`;
  $('#t-bytes').textContent = `${formatBytes(last.bytes_out_per_s)}/s`;
  $('#t-frames').textContent = `${Math.round(last.frames_out_per_s)} frames/s`;
  const minute = samples.slice(-60);
  const avg = (/** @type {(s: Sample) => number} */ f) => minute.reduce((sum, s) => sum + f(s), 0) / minute.length;
  const late = avg((s) => s.late_ticks_per_s);
  $('#t-late').textContent = late.toFixed(2);
  $('#t-late').className = `value${late > 0 ? ' warn' : ''}`;
  $('#t-skipped').textContent = avg((s) => s.frames_skipped_per_s).toFixed(2);

  showCloses();
}

/**
 * The closes by code and who closed first, from the last `/metrics` read; null while none
 * was (or where it is not served), and the table counts by code alone, from `/stats`. Kept
 * through an outage: the newest `/stats` sample may be older than the last closes counted (a
 * shutdown's 1001s), and the table would lose them.
 * @type {ReturnType<typeof closesFromMetrics> | null}
 */
let closesByInitiator = null;
/** When `/metrics` was last read (ms since the epoch), while its reads fail; null while they succeed. @type {number | null} */
let closesFailingSince = null;
/** When `/metrics` was last read (ms since the epoch). */
let closesReadAt = 0;

function showCloses() {
  const last = feed.samples[feed.samples.length - 1];
  const rows = closeRows(last?.closes_total ?? {}, closesByInitiator);
  const most = Math.max(1, ...rows.map((r) => r.count));
  $('#closes-empty').hidden = rows.length > 0;
  $('#closes-body').replaceChildren(...rows.map((r) => el('tr', {},
    el('td', {}, r.code),
    el('td', { className: 'name' }, r.name),
    el('td', { style: 'width: 40%' }, el('div', { className: 'meter', style: `width: ${(r.count / most) * 100}%` })),
    el('td', { style: 'text-align: right' }, String(r.count)))));
}

/** Every two seconds, where `/metrics` is served beside the page: who closed first, by code. */
async function pollCloses() {
  try {
    const text = await within(ANSWER_MS, async (signal) => {
      const response = await fetch('metrics', { cache: 'no-store', signal });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.text();
    });
    closesByInitiator = closesFromMetrics(text);
    closesReadAt = Date.now();
    closesFailingSince = null;
  } catch {
    // The last closes read stay, marked stale; the stats poll reports the outage.
    closesFailingSince = closesByInitiator ? closesReadAt : null;
  }
  showCloses();
  showStaleness();
  setTimeout(pollCloses, 2000);
}

/**
 * Once a second: one round of the feed (a request, more while paging through a long history,
 * one more after a restart), then a redraw. Never asks again at once for a reply from another
 * server process, so a fleet behind a balancer without sticky sessions cannot make it spin.
 */
async function pollStats() {
  try {
    await feed.poll();
    redraw();
  } catch (e) {
    // The feed keeps a failed round's error for the status line; anything else is a bug.
    if (e !== feed.failure) console.error(e);
  }
  showStatus();
  setTimeout(pollStats, POLL_MS);
}

function showStatus() {
  const status = $('#status');
  const line = withDirectory(statusOf(feed), directory);
  status.className = line.className;
  status.textContent = line.text;
  showStaleness();
}

/**
 * While the server cannot be reached or does not answer, the tiles and the closes table keep
 * the last numbers it gave, greyed and dated, rather than pass them off as live; live again
 * with the next answer.
 */
function showStaleness() {
  const now = Date.now();
  const since = staleSince(feed);
  $('#tiles').classList.toggle('stale', since !== null);
  setNote($('#tiles-stale'), since === null ? '' : `Stale: the server is not answering. These are its numbers of ${formatStart(since, now)}.`);
  const closesSince = closesFailingSince ?? since;
  $('#closes-panel').classList.toggle('stale', closesSince !== null);
  setNote($('#closes-stale'), closesSince === null ? '' : `Stale: as counted at ${formatStart(closesSince, now)}, before the server stopped answering.`);
  showDirectory();
}

/** In a fleet, what `/rooms` and `/nodes` said last of the room directory. */
const directory = new DirectoryWatch();

/**
 * While the node cannot read the room directory: a notice that the rooms listed are its own
 * only, and the nodes table greyed and dated as the tiles are in an outage.
 */
function showDirectory() {
  setNote($('#directory-note'), directory.notice());
  const stale = directory.nodesStale(Date.now());
  $('#nodes-panel').classList.toggle('stale', stale !== '');
  setNote($('#nodes-stale'), stale);
}

/** Shows `text` in `note`, or hides it when empty; written only when it changes (a live region). @param {HTMLElement} note @param {string} text */
function setNote(note, text) {
  note.hidden = text === '';
  if (note.textContent !== text) note.textContent = text;
}

/** @typedef {{ id: string, node?: string, players: number, controllers: number, spectators: number, capacity: number, tick: number,
 *   transports?: { ws: number, stream: number, poll: number } }} RoomRow */

/** The rooms as `/rooms` last listed them. @type {RoomRow[]} */
let rooms = [];
/** In a fleet, this node's id (from `/nodes`): its rooms are the ones moderated here. @type {string | null} */
let localNode = null;

const moderation = new ModerationPanel(links.moderation, showRooms);

/** Redraws the rooms table in place (its links and buttons stay the same elements). */
function showRooms() {
  // A node of a fleet lists the fleet's rooms, each with its node; until `/nodes` says which
  // node this is, none of them is taken for this node's.
  const fleet = rooms.some((r) => r.node !== undefined);
  for (const th of document.querySelectorAll('th.fleet')) /** @type {HTMLElement} */ (th).hidden = !fleet;
  $('#rooms-empty').hidden = rooms.length > 0;
  syncRows($('#rooms-body'), rooms, (r) => r.id, (r) => {
    const elsewhere = r.node !== undefined && r.node !== localNode ? r.node : null;
    const controls = {
      className: 'actions',
      stamp: JSON.stringify([elsewhere, moderation.unlocked, moderation.room === r.id]),
      make: () => {
        const control = moderation.roomControl(r.id, elsewhere);
        return [watchLink(links, r.id), ...(control ? [control] : [])];
      },
    };
    return [r.id, ...(fleet ? [r.node ?? ''] : []), `${r.players}/${r.capacity}`, String(r.controllers),
      String(r.spectators), transportsText(r.transports), String(r.tick), controls];
  });
}

async function pollRooms() {
  try {
    rooms = await within(ANSWER_MS, async (signal) => {
      const response = await fetch('rooms', { cache: 'no-store', signal });
      const listed = await response.json();
      directory.rooms(response);
      return listed;
    });
    showRooms();
  } catch {
    // the stats poll reports the outage
  }
  showStatus();
  setTimeout(pollRooms, 2000);
}

/**
 * Cluster mode: the fleet's nodes. A single server lists none, and the panel stays hidden; so
 * does a fleet's for a moment when Redis comes back empty, until the nodes register again, so
 * an empty list is no proof of a single server and the polling goes on.
 */
async function pollNodes() {
  try {
    /** @type {{ id: string, draining: boolean, rooms: number, local: boolean, join_keys?: 'same' | 'key_in_common' | 'no_key_in_common', protocol?: number | null, release?: string | null }[] | null} */
    const nodes = await within(ANSWER_MS, async (signal) => {
      const response = await fetch('nodes', { cache: 'no-store', signal });
      const listed = response.ok ? await response.json() : null;
      directory.nodes(response, Date.now());
      return listed;
    });
    if (nodes) {
      const local = nodes.find((n) => n.local)?.id ?? null;
      if (local !== localNode) {
        localNode = local;
        showRooms();
      }
      $('#nodes-panel').hidden = nodes.length === 0;
      $('#nodes-link').hidden = nodes.length === 0;
      const localProtocol = nodes.find((n) => n.local)?.protocol;
      $('#nodes-body').replaceChildren(...nodes.map((n) => el('tr', {},
        el('td', {}, n.local ? `${n.id} (this node)` : n.id), el('td', {}, String(n.rooms)),
        el('td', {}, n.draining ? 'draining' : 'serving'), joinKeysCell(n.join_keys), releaseCell(n, localProtocol))));
    }
  } catch {
    // The stats poll reports the outage; the table on show is of before it.
    directory.nodes(null, Date.now());
  }
  showStatus();
  setTimeout(pollNodes, 2000);
}

/**
 * A node's join keys next to this node's, as `/nodes` compares them (never the keys' prints,
 * on a public route): the same; a key in common, as while a key rotates (a step is done once
 * every row says the same); or none in common, marked: the fleet's relays between the two are
 * refused, and their players get 1013. A node of a release before the comparison shows a dash.
 * @param {'same' | 'key_in_common' | 'no_key_in_common' | undefined} alike
 */
function joinKeysCell(alike) {
  switch (alike) {
    case 'same': return el('td', {}, 'same');
    case 'key_in_common':
      return el('td', { title: 'a key in common: relays go on (as while a key rotates)' }, 'a key in common, not all');
    case 'no_key_in_common':
      return el('td', { className: 'warn', title: 'relays between this node and that one are refused: give every node the same join key (SECURITY.md)' },
        'no key in common with this node');
    default: return el('td', { className: 'muted' }, '—');
  }
}

/**
 * A node's release, marked when its clients speak another protocol version than this node's
 * (a fleet part way through an upgrade: neither node places its clients in the other's rooms).
 * @param {{ protocol?: number | null, release?: string | null }} node @param {number | null | undefined} localProtocol
 */
function releaseCell(node, localProtocol) {
  const { text, other } = releaseOf(node, localProtocol);
  if (!other) return el('td', { className: node.protocol == null ? 'muted' : '' }, text);
  return el('td', { className: 'warn', title: 'another protocol version than this node: joins through either go only to rooms of nodes of its own version, until the upgrade is over' }, text);
}

moderation.start();
pollStats();
pollRooms();
pollNodes();
if (links.metrics) pollCloses();
// Also while a round waits for its answer: a node that takes the request and never answers
// must not leave "live" over charts that stopped.
setInterval(showStatus, POLL_MS);

// For the browser console and end-to-end tests: the charts.
Object.defineProperty(globalThis, 'tickwireDashboard', { value: { charts } });
