// The dashboard's /stats poll, in Node against simulated server processes and a simulated
// clock: behind a load balancer without sticky sessions (answers alternate between nodes, each
// with its own `started_unix_ms`) it asks about once a second and draws one node's series with
// a warning, rather than asking again at once forever; a real restart starts the series over once.
// And the closes table's names, by code and, from /metrics, by who closed first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OTHERS_MS, SILENT_PERIODS, STALE_MS, StatsFeed, closeName, closeRows, closesFromMetrics, staleSince, statusOf } from '../../js/dashboard-poll.js';

/** @typedef {import('../../js/dashboard-poll.js').Sample & { node: string }} TaggedSample */
/** @typedef {import('../../js/dashboard-poll.js').StatsReply} StatsReply */

const PERIOD = 1000;
const PER_REPLY = 60; // the server's MAX_SAMPLES_PER_REPLY
const HISTORY = 600; // and its HISTORY_LEN

/**
 * A server process as `/stats` shows it: a sample a second since `started`, the newest ten
 * minutes kept, a minute a reply. Samples carry the process's name, for the test to read.
 * @param {string} node @param {number} started
 */
function serverProcess(node, started) {
  return {
    node,
    started,
    /** @param {number} since @param {number} now @returns {StatsReply} */
    reply(since, now) {
      const last = Math.floor((now - started) / PERIOD);
      const first = Math.max(1, last - HISTORY + 1, since + 1);
      /** @type {TaggedSample[]} */
      const newer = [];
      for (let seq = first; seq <= last; seq++) {
        newer.push({
          node, seq, unix_ms: started + seq * PERIOD, clients: { players: 2, spectators: 1, controllers: 0 }, rooms: 1,
          ticks_per_s: 30, tick_p50_ms: 0.1, tick_p99_ms: 0.3, round_trip_p50_ms: 42.3, round_trip_p95_ms: 61.8, late_inputs_pct: 3.1, late_ticks_per_s: 0, bytes_out_per_s: 1000,
          frames_out_per_s: 90, frames_skipped_per_s: 0, resumes_per_s: 0, closes_per_s: 0, closes_total: {},
        });
      }
      return { period_ms: PERIOD, tick_rate: 30, started_unix_ms: started, samples: newer.slice(0, PER_REPLY), more: newer.length > PER_REPLY };
    },
  };
}

/**
 * The page's loop on a simulated clock: a poll round, then the next a period later. `answer`
 * picks the process that answers each request (the load balancer), or throws (server down).
 * @param {(call: number) => ReturnType<typeof serverProcess>} answer
 */
function simulation(answer) {
  const clock = { now: 1_900_000_000_000 };
  let fetches = 0;
  let runaway = false;
  /** @param {number} since @returns {Promise<StatsReply>} */
  const fetchStats = async (since) => {
    fetches += 1;
    // A poll that asks without end is stopped here (and fails the count below) rather than
    // hanging the test run.
    if (fetches > 2000) {
      runaway = true;
      throw new Error('runaway polling');
    }
    await new Promise((resolve) => setImmediate(resolve)); // a round trip
    return answer(fetches).reply(since, clock.now);
  };
  const feed = new StatsFeed(fetchStats, { now: () => clock.now });
  return {
    clock,
    feed,
    get fetches() { return fetches; },
    get runaway() { return runaway; },
    /** Runs `seconds` of the page's timer; returns the sample counts after each round. */
    async run(/** @type {number} */ seconds) {
      /** @type {number[]} */
      const lengths = [];
      for (let i = 0; i < seconds; i++) {
        try {
          await feed.poll();
        } catch {
          // the page says "cannot reach the server" and tries again on its timer
        }
        lengths.push(feed.samples.length);
        clock.now += PERIOD;
      }
      return lengths;
    },
  };
}

/** @param {StatsFeed} feed @returns {TaggedSample[]} */
const tagged = (feed) => /** @type {TaggedSample[]} */ (feed.samples);

test('nodes answering in turn (no sticky sessions): a poll a second, one node\'s series, and a warning', async () => {
  const t0 = 1_900_000_000_000;
  const layouts = [
    ['a', 'b'], // the first to answer started first
    ['b', 'a'], // ... or last
    ['a', 'b', 'c'],
  ];
  /** @type {Record<string, number>} seconds up */
  const uptime = { a: 300, b: 200, c: 100 };
  for (const order of layouts) {
    const nodes = order.map((node) => serverProcess(node, t0 - uptime[node] * 1000));
    const sim = simulation((call) => nodes[(call - 1) % nodes.length]);
    const seconds = 60;
    await sim.run(seconds);
    const label = `answers from ${order.join(', ')} in turn`;
    assert.equal(sim.runaway, false, `${label}: the poll asked again and again without waiting`);
    // The first round pages through the history (5 minutes at most here: 5 pages); after
    // that a round asks once, or twice right after a restart seems to happen.
    assert.ok(sim.fetches <= seconds + 5 + nodes.length, `${label}: ${sim.fetches} requests in ${seconds} s`);
    const samples = tagged(sim.feed);
    assert.ok(samples.length > 0, `${label}: something is drawn`);
    assert.equal(new Set(samples.map((s) => s.node)).size, 1, `${label}: one node's series, not a mix`);
    for (let i = 1; i < samples.length; i++) {
      assert.equal(samples[i].seq, samples[i - 1].seq + 1, `${label}: no gap and no repeat at ${i}`);
    }
    const newest = samples[samples.length - 1].unix_ms;
    assert.ok(sim.clock.now - newest <= nodes.length * PERIOD + PERIOD, `${label}: the series keeps up`);
    assert.ok(sim.feed.restarts <= nodes.length - 1, `${label}: started over ${sim.feed.restarts} times`);
    assert.equal(sim.feed.others().length, nodes.length - 1, `${label}: the other nodes are seen`);
    const status = statusOf(sim.feed);
    assert.match(status.text, /more than one server/, label);
    assert.match(status.text, /pin the dashboard to one node/, label);
  }
});

test('a real restart starts the series over once, with at most one request at once', async () => {
  const t0 = 1_900_000_000_000;
  let current = serverProcess('old', t0 - 300_000);
  let down = false;
  const sim = simulation(() => {
    if (down) throw new Error('connection refused');
    return current;
  });
  // Up for five minutes: the first round pages through them.
  await sim.run(30);
  const held = sim.feed.samples.length;
  assert.equal(held, 329, 'five minutes and the 29 s since'); // polled at 0 s .. 29 s
  assert.ok(sim.fetches <= 30 + 5, `${sim.fetches} requests`);
  // Down for three seconds: what is drawn stays.
  down = true;
  await sim.run(3);
  assert.equal(sim.feed.samples.length, held);
  assert.ok(tagged(sim.feed).every((s) => s.node === 'old'));
  // Back as a new process, numbering its samples from 1 again.
  down = false;
  current = serverProcess('new', sim.clock.now - 500);
  const before = sim.fetches;
  const lengths = await sim.run(30);
  assert.equal(sim.runaway, false);
  assert.equal(sim.feed.restarts, 1);
  assert.ok(sim.fetches - before <= 30 + 1, `${sim.fetches - before} requests in 30 s`);
  const drops = lengths.filter((n, i) => n < (i === 0 ? held : lengths[i - 1])).length;
  assert.equal(drops, 1, `the series started over once: ${lengths.join(' ')}`);
  const samples = tagged(sim.feed);
  assert.ok(samples.every((s) => s.node === 'new'), 'nothing of the old process is kept');
  assert.deepEqual(samples.map((s) => s.seq), Array.from({ length: samples.length }, (_, i) => i + 1));
  assert.ok(samples.length >= 29, `${samples.length} samples of the new process`);
  assert.equal(sim.feed.others().length, 0);
  assert.doesNotMatch(statusOf(sim.feed).text, /more than one server/);
});

test('a node that leaves the fleet: the feed follows one that still answers, and the warning goes', async () => {
  const t0 = 1_900_000_000_000;
  const a = serverProcess('a', t0 - 200_000);
  const b = serverProcess('b', t0 - 100_000);
  let nodes = [a, b];
  const sim = simulation((call) => nodes[(call - 1) % nodes.length]);
  await sim.run(20);
  const followed = tagged(sim.feed)[0].node;
  assert.equal(sim.feed.others().length, 1);
  // The node followed leaves; until STALE_MS has passed, the other's answers are not taken.
  nodes = [followed === 'a' ? b : a];
  const restartsBefore = sim.feed.restarts;
  await sim.run(STALE_MS / PERIOD - 5);
  assert.equal(tagged(sim.feed)[0].node, followed);
  await sim.run(10);
  assert.equal(sim.feed.restarts, restartsBefore + 1);
  assert.ok(tagged(sim.feed).every((s) => s.node === nodes[0].node), 'the node still answering');
  // Once the one left behind has been silent for a while, nothing is mixed any more.
  await sim.run(OTHERS_MS / PERIOD);
  assert.equal(sim.feed.others().length, 0);
  assert.match(statusOf(sim.feed).text, /^live · server started .* · \d+ samples$/);
  assert.equal(sim.runaway, false);
});

test('a node that takes the request and never answers: the status stops saying live, and the round gives up', async () => {
  const t0 = 1_900_000_000_000;
  const clock = { now: t0 };
  const node = serverProcess('a', t0 - 100_000);
  let hang = false;
  /** @type {AbortSignal[]} */
  const signals = [];
  const feed = new StatsFeed(async (since, signal) => {
    if (!hang) return node.reply(since, clock.now);
    signals.push(signal);
    // Accepted and never answered (a saturated node behind an ingress that waits an hour),
    // and deaf to the abort: the round must end all the same.
    return new Promise(() => {});
  }, { now: () => clock.now, answerMs: 20 });
  await feed.poll();
  assert.match(statusOf(feed).className, /\blive\b/);
  const held = feed.samples.length;

  hang = true;
  clock.now += PERIOD;
  const round = feed.poll();
  // While the request waits: live for a moment yet, then not.
  clock.now += PERIOD;
  assert.match(statusOf(feed).className, /\blive\b/, 'one quiet period is no outage');
  clock.now += SILENT_PERIODS * PERIOD;
  const waiting = statusOf(feed);
  assert.doesNotMatch(waiting.className, /\blive\b/, `the status while the request hangs: ${waiting.text}`);
  assert.match(waiting.className, /\bstale\b/);
  assert.match(waiting.text, /^not answering · nothing heard for 5 s; the charts stop at /);

  await assert.rejects(round, { name: 'TimeoutError' });
  assert.equal(signals.length, 1);
  assert.equal(signals[0].aborted, true, 'the request is called off');
  const after = statusOf(feed);
  assert.match(after.className, /\bstale\b/);
  assert.match(after.text, /^not answering/);
  assert.equal(feed.samples.length, held, 'what was drawn stays');

  // It answers again: live, with what it sampled meanwhile.
  hang = false;
  await feed.poll();
  assert.match(statusOf(feed).text, /^live · /);
  assert.equal(feed.samples.length, held + 5);
});

test('every close code the server counts has a name', () => {
  // The codes a client can make the server echo, and its own (PROTOCOL.md 7.2, 7.4; the
  // labels of server/src/stats.rs's heavy_sample); private codes are counted as 3000 or 4000.
  for (const code of [1000, 1001, 1002, 1003, 1005, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4002]) {
    assert.notEqual(closeName(code), '', `close code ${code}`);
    assert.equal(closeName(String(code)), closeName(code), 'closes_total keys are strings');
  }
  assert.match(closeName(4002), /protocol error/);
  assert.equal(closeName(4999), '');
});

test('closes read from /metrics say who closed first: a browser tab that quit is no server shutdown', () => {
  const metrics = [
    '# HELP tickwire_closes Close frames sent (the server\'s own or its echo of the client\'s), by code and initiator.',
    '# TYPE tickwire_closes counter',
    'tickwire_closes_total{code="1001",initiator="client"} 3',
    'tickwire_closes_total{code="1000",initiator="client"} 7',
    'tickwire_closes_total{code="1001",initiator="server"} 1',
    'tickwire_closes_total{code="1008",initiator="server"} 2',
    'tickwire_closes_total{code="1013",initiator="server"} 0',
    'tickwire_closes_totally_other{code="1000",initiator="client"} 9',
    '# EOF',
  ].join('\n');
  const closes = closesFromMetrics(metrics);
  assert.equal(closes.length, 5);
  assert.deepEqual(closeRows({ 1000: 7, 1001: 4, 1008: 2 }, closes), [
    { code: '1000', name: 'normal (client left)', count: 7 },
    { code: '1001', name: 'going away (client left)', count: 3 },
    { code: '1008', name: 'policy (idle, rate, slow, replaced, removed), by the server', count: 2 },
    { code: '1001', name: 'going away (server shutdown)', count: 1 },
  ]);
  // Where /metrics is not served: by code alone, not guessing who.
  assert.deepEqual(closeRows({ 1000: 7, 1001: 4 }, null), [
    { code: '1000', name: 'normal', count: 7 },
    { code: '1001', name: 'going away (a client left, or the server shut down)', count: 4 },
  ]);
  assert.equal(closeName(4000, 'client'), 'link dropped by a browser, seat kept (a silent link, or a page reloading), or another private code, by the client');
  assert.match(closeName(4021, 'server'), /^misdirected hop/, 'the fleet\'s own code has its name');
});

test('while the server cannot be reached or does not answer, the numbers on show are stale since its newest sample', async () => {
  let now = 1_000_000;
  const server = serverProcess('a', now - 10 * PERIOD);
  /** @type {'up' | 'down'} */
  let state = 'up';
  const feed = new StatsFeed(async (since) => {
    if (state === 'down') throw new TypeError('Failed to fetch');
    return server.reply(since, now);
  }, { now: () => now });
  assert.equal(staleSince(feed), null, 'no numbers yet');
  await feed.poll();
  const newest = feed.samples[feed.samples.length - 1].unix_ms;
  assert.equal(staleSince(feed), null, 'live');
  state = 'down';
  now += PERIOD;
  await assert.rejects(feed.poll());
  assert.equal(staleSince(feed), newest, 'unreachable');
  state = 'up';
  await feed.poll();
  assert.equal(staleSince(feed), null, 'live again');
  // Silent (requests hanging) is as stale as unreachable.
  now += SILENT_PERIODS * PERIOD;
  assert.equal(staleSince(feed), feed.samples[feed.samples.length - 1].unix_ms);
});
