// What the game view says, in Node: failures, the scoreboard of a page that joined mid-round,
// and the intermission message of one that joined in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionClosedError, UnreachableError } from '../../sdk/index.js';

// Node 20 has no navigator (the controls read gamepads from it).
/** @type {any} */ (globalThis).navigator ??= {};
const { describeFailure, ScoreBook, intermissionText } = await import('../../js/game.js');

test('a first join that never connected says the server could not be reached', () => {
  const refused = describeFailure(new UnreachableError(1006, 'HTTP 401: the join token has expired', 6));
  assert.match(refused, /^Could not reach the server \(HTTP 401: the join token has expired\)\./);
  assert.match(describeFailure(new UnreachableError(1006, '', 6)), /^Could not reach the server\. It may be down/);
  // Lost after it was in: a close, not "could not reach".
  assert.match(describeFailure(new ConnectionClosedError(1002, 'bad frame', false)), /^The connection was closed with code 1002: bad frame/);
});

/** @type {Map<number, { name: string, role: string }>} */
const roster = new Map([
  [1, { name: 'ada', role: 'Player' }],
  [2, { name: 'bob', role: 'Player' }],
  [3, { name: 'cy', role: 'Controller' }],
]);

test('a score not seen yet is unknown, not 0, and ranks after the known ones', () => {
  const scores = new ScoreBook();
  scores.set(2, 0); // in view
  scores.set(3, 4); // scored since
  assert.deepEqual(scores.rows(roster), [
    { id: 3, name: 'cy', score: 4 },
    { id: 2, name: 'bob', score: 0 },
    { id: 1, name: 'ada', score: null },
  ]);
  // A new round: everyone starts at 0, seen or not.
  scores.newRound(roster.keys());
  assert.deepEqual(scores.rows(roster).map((r) => r.score), [0, 0, 0]);
  assert.deepEqual(scores.rows(roster).map((r) => r.id), [1, 2, 3]);
  // Spectators have no row.
  const watched = new Map([...roster, [9, { name: 'eve', role: 'Spectator' }]]);
  assert.equal(scores.rows(watched).length, 3);
});

test('an intermission names the winner only of a RoundOver this page saw', () => {
  const nameOf = (/** @type {number} */ id) => ({ 1: 'ada' })[id] ?? `Player ${id}`;
  // Joined during the intermission after round 3: the world's round is the one just over.
  assert.deepEqual(intermissionText({ round: 3, secondsLeft: 6 }, null, nameOf), ['Round 3 over', 'next round in 6 s']);
  assert.deepEqual(intermissionText({ round: 3, secondsLeft: 6 }, { round: 3, winner: 1, score: 9 }, nameOf),
    ['Round 3 over', 'ada wins with 9 · next round in 6 s']);
  assert.deepEqual(intermissionText({ round: 3, secondsLeft: 6 }, { round: 3, winner: null, score: 0 }, nameOf),
    ['Round 3 over', 'Nobody scored · next round in 6 s']);
  // A RoundOver of an earlier round (this one's was missed while reconnecting) is not this round's.
  assert.deepEqual(intermissionText({ round: 4, secondsLeft: 2 }, { round: 3, winner: 1, score: 9 }, nameOf),
    ['Round 4 over', 'next round in 2 s']);
});
