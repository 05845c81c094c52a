// The fleet's room directory (Redis) as the dashboard sees it through `/rooms` and `/nodes`.
// While a node cannot read the directory, its `/rooms` lists only its own rooms, marked by a
// response header, and its `/nodes` answers 503: without this the dashboard showed a partial
// room list and the node table of before as if they were the fleet's, under a green "live".

import { formatStart } from './dashboard-poll.js';

/**
 * What a node of `/nodes` runs, next to the node answering: its release and the protocol version
 * its clients speak. While a fleet upgrades across a protocol version each node places its
 * clients only in rooms of nodes of its own version, so a node of another one is marked: the
 * upgrade is not over until every row says the same. A node of a release before nodes said so
 * shows a dash.
 * @param {{ protocol?: number | null, release?: string | null }} node
 * @param {number | null | undefined} localProtocol the answering node's protocol
 * @returns {{ text: string, other: boolean }}
 */
export function releaseOf(node, localProtocol) {
  if (node.protocol == null) return { text: '—', other: false };
  const text = `${node.release ?? '?'} (protocol ${node.protocol})`;
  return { text, other: localProtocol != null && node.protocol !== localProtocol };
}

/** What `/rooms` carries (`unavailable`) while it lists the answering node's rooms alone. */
export const DIRECTORY_HEADER = 'x-tickwire-directory';

/** What the last `/rooms` and `/nodes` answers said of the directory. */
export class DirectoryWatch {
  constructor() {
    /** The last `/rooms` answer listed this node's rooms only. */
    this.roomsPartial = false;
    /** The last `/nodes` answer was a 503: the node cannot read the directory. */
    this.nodesAway = false;
    /** The last `/nodes` request gave no list (a 503, another error, no answer at all). */
    this.nodesFailing = false;
    /** When `/nodes` last gave a list (ms since the epoch); null before it ever did. @type {number | null} */
    this.nodesReadAt = null;
  }

  /**
   * A `/rooms` answer. One that never came says nothing of the directory: the stats poll
   * reports an unreachable server.
   * @param {{ headers: { get(name: string): string | null } }} response
   */
  rooms(response) {
    this.roomsPartial = response.headers.get(DIRECTORY_HEADER) === 'unavailable';
  }

  /**
   * A `/nodes` answer, or null for a request that failed or timed out.
   * @param {{ ok: boolean, status: number } | null} response @param {number} now ms since the epoch
   */
  nodes(response, now) {
    this.nodesAway = response?.status === 503;
    this.nodesFailing = !response?.ok;
    if (response?.ok) this.nodesReadAt = now;
  }

  /** Whether the node said it cannot read the directory, by either route. */
  get away() {
    return this.roomsPartial || this.nodesAway;
  }

  /** The notice at the top of the page while the directory is away; empty otherwise. */
  notice() {
    return this.away
      ? 'Room directory unavailable: the Rooms table lists this node’s rooms only.'
      : '';
  }

  /**
   * The note over the nodes table while it shows an earlier list than the server would give
   * now, with that list's time; empty while it is current, or before it showed any.
   * @param {number} now ms since the epoch
   */
  nodesStale(now) {
    if (!this.nodesFailing || this.nodesReadAt === null) return '';
    const why = this.nodesAway ? 'the room directory is unavailable' : 'the server is not answering';
    return `Stale: ${why}. These are the nodes as listed at ${formatStart(this.nodesReadAt, now)}.`;
  }
}

/**
 * The status line, no longer a green "live" while the directory is away: the stats it speaks
 * of are live, the fleet's picture is not.
 * @param {{ className: string, text: string }} line from `statusOf`
 * @param {DirectoryWatch} watch
 * @returns {{ className: string, text: string }}
 */
export function withDirectory(line, watch) {
  if (!watch.away || !line.className.split(' ').includes('live')) return line;
  return { className: `${line.className} degraded`, text: line.text };
}
