// One message to many conversations of a portfolio. The node has no request that posts to
// several rooms (a broadcast room is a separate audience with its own history), so the page
// sends one `send` per conversation: each lands in the jobseeker's own conversation, with its
// read receipts, digests and reply times, like a message written there.
//
// The sends share the connection's request budget (hello.limits: burst_messages at once, then
// max_messages_per_s) with everything else the advisor does; a burst past it would be refused
// and refusals in numbers close the connection (max_violations). So at most CONCURRENCY sends
// are in flight, and they take BUDGET_SHARE of the budget: with the defaults (40, 20/s) 150
// messages take 20 at once then 10 a second, about 14 s.

export const CONCURRENCY = 4;
export const BUDGET_SHARE = 0.5;

/**
 * @param {{send: (room: string, text: string) => Promise<any>}} client
 * @param {string[]} rooms
 * @param {string} text
 * @param {object} [options]
 * @param {{max_messages_per_s?: number, burst_messages?: number}} [options.limits]
 * @param {(done: number, failed: number) => void} [options.onProgress]
 * @param {(ms: number) => Promise<void>} [options.sleep]
 * @returns {Promise<{sent: string[], failed: Array<{room: string, error: any}>}>}
 */
export async function sendToMany(client, rooms, text, { limits = {}, onProgress = () => {},
  sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms)) } = {}) {
  let tokens = Math.max(1, Math.floor((limits.burst_messages ?? 40) * BUDGET_SHARE));
  const intervalMs = 1000 / Math.max(0.1, (limits.max_messages_per_s ?? 20) * BUDGET_SHARE);
  /** @type {string[]} */ const sent = [];
  /** @type {Array<{room: string, error: any}>} */ const failed = [];
  const queue = [...rooms];
  // One pacer for all workers: a send waits for a token; tokens come back one per interval.
  let gate = Promise.resolve();
  const take = () => {
    const turn = gate.then(async () => {
      if (tokens > 0) tokens -= 1;
      else await sleep(intervalMs);
    });
    gate = turn;
    return turn;
  };
  const worker = async () => {
    for (let room = queue.shift(); room !== undefined; room = queue.shift()) {
      await take();
      try {
        await client.send(room, text);
        sent.push(room);
      } catch (error) {
        failed.push({ room, error });
      }
      onProgress(sent.length, failed.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, rooms.length) }, worker));
  return { sent, failed };
}
