// What the dashboard keeps of `/stats`, apart from the page so it can be tested in Node: the
// samples of one server process, asked for with `since` once a poll round.
//
// A server process is told apart by `started_unix_ms`. A new one that started later is the
// server restarted: its sequence numbers start again from 1, so the series starts over with its
// history. But a fleet behind a load balancer without sticky sessions answers from any node,
// each with its own start: the feed keeps following one and ignores the others' answers (its
// `since` picks up whatever it missed when that node answers next), and says so, rather than
// starting over, and asking again at once, on every answer.

/** @typedef {{ players: number, spectators: number, controllers: number }} Clients */
/**
 * @typedef {object} Sample
 * @property {number} seq
 * @property {number} unix_ms
 * @property {Clients} clients
 * @property {number} rooms
 * @property {number} ticks_per_s
 * @property {number | null} tick_p50_ms
 * @property {number | null} tick_p99_ms
 * @property {number | null} round_trip_p50_ms the median round trip of the players and
 *   controllers sampled that second (each at most once), estimated from the server's histogram;
 *   null when none was
 * @property {number | null} round_trip_p95_ms its 95th percentile, as `round_trip_p50_ms`
 * @property {number | null} late_inputs_pct the share of the ships' ticks counted that second
 *   (a window of 32 ticks at a time, for clients sending an input every tick) that ran
 *   without their client's input, percent; null when none was counted
 * @property {number} late_ticks_per_s
 * @property {number} bytes_out_per_s
 * @property {number} frames_out_per_s
 * @property {number} frames_skipped_per_s
 * @property {number} resumes_per_s
 * @property {number} closes_per_s
 * @property {Record<string, number>} closes_total
 */
/**
 * The `/stats` answer.
 * @typedef {object} StatsReply
 * @property {number} period_ms
 * @property {number} tick_rate
 * @property {number} started_unix_ms when the answering server process began sampling
 * @property {Sample[]} samples newer than the `since` asked for, oldest first, a minute at most
 * @property {boolean} more newer samples were left out
 */

/**
 * What the close codes counted in `closes_total` mean (PROTOCOL.md 7.2 and 7.4): the server's
 * own, and a client's it echoes. Private codes it does not name (all but 4002 and 4021) are
 * counted as 3000 or 4000.
 * @type {Record<number, string>}
 */
export const CLOSE_NAMES = {
  1000: 'normal', 1001: 'going away (a client left, or the server shut down)', 1002: 'protocol error', 1003: 'unsupported data',
  1005: 'no code', 1006: 'abnormal', 1007: 'invalid payload', 1008: 'policy (idle, rate, slow, replaced, removed)',
  1009: 'message too big', 1010: 'extension required (client)', 1011: 'server error', 1012: 'service restart',
  1013: 'try again later (full or busy)', 1014: 'bad gateway',
  3000: 'private code (3000-3999)', 4000: 'link dropped by a browser, seat kept (a silent link, or a page reloading), or another private code',
  4002: 'protocol error (browser)', 4021: 'misdirected hop (fleet: a node\'s --node-url reaches another)',
};

/** @typedef {'client' | 'server'} Initiator who sent the first close frame */

/**
 * What a close code means when it matters who closed first: 1001 from a browser is a tab
 * closed, from the server its shutdown.
 * @type {Record<number, Record<Initiator, string>>}
 */
const CLOSE_NAMES_BY_INITIATOR = {
  1000: { client: 'normal (client left)', server: 'normal (closed by the server)' },
  1001: { client: 'going away (client left)', server: 'going away (server shutdown)' },
};

/**
 * The name of a close code as `closes_total` keys it, and, when known, who closed first; ''
 * for a code without one.
 * @param {string | number} code
 * @param {Initiator} [initiator]
 */
export function closeName(code, initiator) {
  const named = CLOSE_NAMES[Number(code)] ?? '';
  if (!initiator) return named;
  const own = CLOSE_NAMES_BY_INITIATOR[Number(code)]?.[initiator];
  if (own) return own;
  const by = initiator === 'client' ? 'by the client' : 'by the server';
  return named ? `${named}, ${by}` : by;
}

/**
 * The closes counted since start by code and by who closed first, read from `/metrics`
 * (`tickwire_closes_total{code="1001",initiator="client"} 3`); `/stats` has them by code only.
 * @param {string} text the OpenMetrics text
 * @returns {{ code: string, initiator: Initiator, count: number }[]}
 */
export function closesFromMetrics(text) {
  /** @type {{ code: string, initiator: Initiator, count: number }[]} */
  const closes = [];
  for (const line of text.split('\n')) {
    const sample = /^tickwire_closes_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!sample) continue;
    const labels = Object.fromEntries([...sample[1].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const count = Number(sample[2]);
    if (!labels.code || (labels.initiator !== 'client' && labels.initiator !== 'server') || !Number.isFinite(count)) continue;
    closes.push({ code: labels.code, initiator: labels.initiator, count });
  }
  return closes;
}

/**
 * The closes table's rows, most first: by code and who closed first when `/metrics` was read
 * (`byInitiator`), else by code alone from the newest sample's `closes_total`.
 * @param {Record<string, number>} totals
 * @param {{ code: string, initiator: Initiator, count: number }[] | null} byInitiator
 * @returns {{ code: string, name: string, count: number }[]}
 */
export function closeRows(totals, byInitiator) {
  const rows = byInitiator
    ? byInitiator.filter((c) => c.count > 0).map((c) => ({ code: c.code, name: closeName(c.code, c.initiator), count: c.count }))
    : Object.entries(totals).map(([code, count]) => ({ code, name: closeName(code), count }));
  return rows.sort((a, b) => b.count - a.count || Number(a.code) - Number(b.code));
}

/** Ten minutes of samples, as the server keeps. */
export const KEEP = 600;
/**
 * Requests in one poll round at most: the pages of a whole history (a minute each), and one
 * more after a restart. A round never asks again just because another process answered.
 */
export const MAX_ASKS_PER_ROUND = KEEP / 60 + 2;
/**
 * The process followed has not answered for this long while others did: it is gone (a node
 * left the fleet, or a restart's clock went back), and the feed follows one that answers.
 */
export const STALE_MS = 30_000;
/** Another process that answered within this long counts as answering still. */
export const OTHERS_MS = 60_000;
/** The page starts a poll round this long after the last one ended. */
export const POLL_MS = 1000;
/**
 * A request not answered in this long is called off and its round fails. Without a limit a
 * node that takes the request and never answers (behind an ingress, whose read timeout can be
 * an hour) would stop the polling for good. A saturated node answering late still gets this
 * long to be drawn; nothing is lost by giving up, as the next round's `since` asks again.
 */
export const ANSWER_MS = 10_000;
/**
 * Nothing heard for this many periods (sample periods, or poll rounds if longer): the status
 * says the server is not answering, even while the request waits for its limit.
 */
export const SILENT_PERIODS = 3;

/**
 * `ask(signal)`, called off through `signal` after `ms`, and rejected then with a
 * `TimeoutError` even if `ask` does not heed the signal.
 * @template T
 * @param {number} ms @param {(signal: AbortSignal) => Promise<T>} ask
 * @returns {Promise<T>}
 */
export function within(ms, ask) {
  const controller = new AbortController();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  /** @type {Promise<never>} */
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`no answer in ${ms / 1000} s`);
      error.name = 'TimeoutError';
      controller.abort(error);
      reject(error);
    }, ms);
  });
  return Promise.race([ask(controller.signal), expired]).finally(() => clearTimeout(timer));
}

export class StatsFeed {
  /**
   * @param {(since: number, signal: AbortSignal) => Promise<StatsReply>} fetchStats asks
   *   `/stats` (`since` 0: without it), giving up when `signal` aborts
   * @param {{ keep?: number, now?: () => number, answerMs?: number }} [options]
   */
  constructor(fetchStats, { keep = KEEP, now = Date.now, answerMs = ANSWER_MS } = {}) {
    this.fetchStats = fetchStats;
    this.keep = keep;
    this.now = now;
    this.answerMs = answerMs;
    /**
     * When any server process last answered (`now()`); the feed's start before the first
     * answer, so a first request that hangs shows too.
     */
    this.lastAnswer = now();
    /** Why the last round failed, until one succeeds. @type {Error | null} */
    this.failure = null;
    /** The followed process's newest samples, oldest first. @type {Sample[]} */
    this.samples = [];
    /** The last `seq` held, asked for as `since`; 0 for the whole history. */
    this.lastSeq = 0;
    /** When the process followed began sampling. @type {number | null} */
    this.started = null;
    /** When the process followed last answered (`now()`). */
    this.heard = 0;
    this.tickRate = 30;
    this.periodMs = 1000;
    /** How many times the series started over for another process. */
    this.restarts = 0;
    /** Other processes that answered, by start: when each last did. @type {Map<number, number>} */
    this.heardOthers = new Map();
  }

  /** The starts of other server processes that answered lately, oldest first. @returns {number[]} */
  others() {
    const now = this.now();
    for (const [start, at] of this.heardOthers) if (now - at > OTHERS_MS) this.heardOthers.delete(start);
    return [...this.heardOthers.keys()].sort((a, b) => a - b);
  }

  /**
   * One poll round: asks for what is new, paging while the reply has `more`, and once more
   * without `since` after a restart. Throws (and keeps as `failure`) when the server cannot
   * be reached or a request is not answered within `answerMs`.
   * @returns {Promise<void>}
   */
  async poll() {
    try {
      for (let asks = 1; asks <= MAX_ASKS_PER_ROUND; asks++) {
        const since = this.lastSeq;
        const reply = await within(this.answerMs, (signal) => this.fetchStats(since, signal));
        this.lastAnswer = this.now();
        if (this.take(reply, since) === 'done') break;
      }
      this.failure = null;
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
      throw e;
    }
  }

  /** How long nothing has been heard from any server process, in ms. */
  silentFor() {
    return this.now() - this.lastAnswer;
  }

  /** Whether nothing has been heard for `SILENT_PERIODS`. */
  silent() {
    return this.silentFor() >= SILENT_PERIODS * Math.max(this.periodMs, POLL_MS);
  }

  /**
   * Takes one reply to a request with `since`.
   * @param {StatsReply} reply @param {number} since
   * @returns {'done' | 'more' | 'again'} whether to ask again in this round: for the next
   *   page, or (`again`) for the whole history of a process the feed has just switched to
   */
  take(reply, since) {
    const start = reply.started_unix_ms;
    const now = this.now();
    if (start !== this.started) {
      // Some other process answered. A restarted server starts later than the one before; one
      // that started earlier is another node. So is a later one, possibly: it turns out when
      // the one followed answers again, as earlier now, and is ignored in turn.
      const restart = this.started === null || start > this.started || now - this.heard >= STALE_MS;
      if (!restart) {
        this.heardOthers.set(start, now);
        return 'done';
      }
      if (this.started !== null) this.restarts += 1;
      this.started = start;
      this.heardOthers.delete(start);
      this.samples = [];
      this.lastSeq = 0;
      // Its samples after a `since` of the old process are not its history: ask again.
      if (since !== 0) {
        this.heard = now;
        return 'again';
      }
    }
    this.heard = now;
    this.tickRate = reply.tick_rate;
    this.periodMs = reply.period_ms;
    const fresh = reply.samples;
    this.samples = this.samples.concat(fresh).slice(-this.keep);
    if (fresh.length) this.lastSeq = fresh[fresh.length - 1].seq;
    return reply.more && fresh.length ? 'more' : 'done';
  }
}

/**
 * A server start as the status line shows it: the time of day, with the date if not today.
 * @param {number} unixMs @param {number} now
 */
export function formatStart(unixMs, now) {
  const at = new Date(unixMs);
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return at.toDateString() === new Date(now).toDateString() ? time : `${at.toLocaleDateString()} ${time}`;
}

/**
 * Since when the numbers on show are old: while the server cannot be reached, or does not
 * answer, the tiles and the closes table keep the last ones it gave, marked as of the newest
 * sample's time (ms since the epoch). Null while it answers, and before any sample.
 * @param {StatsFeed} feed
 * @returns {number | null}
 */
export function staleSince(feed) {
  if (!feed.failure && !feed.silent()) return null;
  return feed.samples[feed.samples.length - 1]?.unix_ms ?? null;
}

/**
 * The status line: whether the server answers, which server process the feed follows, and
 * whether others answer too. It is not "live" over charts that stopped: a server silent for
 * `SILENT_PERIODS` (a request hanging, or timed out) is "not answering".
 * @param {StatsFeed} feed
 * @returns {{ className: string, text: string }}
 */
export function statusOf(feed) {
  const now = feed.now();
  const failure = feed.failure;
  if (feed.silent() && (!failure || failure.name === 'TimeoutError')) {
    const last = feed.samples[feed.samples.length - 1];
    const stopped = last ? `; the charts stop at ${formatStart(last.unix_ms, now)}` : '';
    return {
      className: 'status stale',
      text: `not answering · nothing heard for ${Math.round(feed.silentFor() / 1000)} s${stopped}; still asking`,
    };
  }
  if (failure) return { className: 'status down', text: `cannot reach the server (${failure.message}); retrying` };
  if (feed.started === null) return { className: 'status', text: 'connecting…' };
  const followed = formatStart(feed.started, now);
  const others = feed.others();
  if (others.length) {
    const starts = [...others.map((s) => formatStart(s, now)), followed].join(', ');
    return {
      className: 'status live mixed',
      text: `answers come from more than one server (started ${starts}): the charts follow the one started ${followed}; pin the dashboard to one node`,
    };
  }
  return {
    className: 'status live',
    text: `live · server started ${followed} · sampled every ${feed.periodMs / 1000} s · ${feed.samples.length} samples`,
  };
}
