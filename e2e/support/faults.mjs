// The exactly-once check the durability tests share: clients send numbered
// messages over several rooms while faults strike (servers killed,
// databases restarted); afterwards every client must hold every message
// exactly once, in each sender's order per room, with no gap in any room's
// ids, and the bot must have answered each once.
import assert from 'node:assert/strict';

import { storedIn } from './resuming.mjs';

const BOT = 'ChatFriend';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Has each of `clients` (resuming clients, in every room of `rooms`) send
 * `messages` messages, room after room, while `faults` ([share, strike]
 * pairs) strike once that share of all messages is acknowledged. Then
 * checks everything with a fresh client from `reader()` and returns the
 * report, which `label` prints. Sending that makes no progress for 60 s
 * fails the test with each client's latest attempt and what `stalled()`
 * says of the servers.
 */
export async function sendThroughFaults({ label, clients, rooms, messages, faults, reader, within = 30_000, stalled = async () => '' }) {
  const sent = [];
  let resends = 0;
  await Promise.all(clients.map((client) => client.joinRooms()));
  const sending = clients.map(async (client, c) => {
    for (let n = 1; n <= messages; n += 1) {
      const room = rooms[n % rooms.length];
      const { id, attempts } = await client.sendForSure(`${client.name} #${n}`, `c${c}-m${n}`, room);
      resends += attempts - 1;
      sent.push({ id, room, sender: client.name, n });
    }
  });
  // A sender that fails ends the test at once, with its reason; so does a stall.
  let watching = true;
  const watchdog = (async () => {
    for (let count = -1, since = Date.now(); watching; await sleep(1000)) {
      if (sent.length !== count) [count, since] = [sent.length, Date.now()];
      if (Date.now() - since > 60_000) {
        const attempts = clients.map((c) => `${c.name}: ${JSON.stringify(c.last)}`).join('\n');
        throw new Error(`sending stalled at ${count} of ${clients.length * messages} acknowledged; latest attempts:\n${attempts}\n${await stalled()}`);
      }
    }
  })();
  const allSent = Promise.race([Promise.all(sending), watchdog]).finally(() => { watching = false; });
  allSent.catch(() => {});
  for (const [share, strike] of faults) {
    while (sent.length < clients.length * messages * share) {
      await Promise.race([sleep(10), allSent]);
    }
    await strike();
  }
  await allSent;

  // Every message acknowledged under one id each, per room.
  const expected = clients.length * messages;
  assert.equal(new Set(sent.map((s) => `${s.room}/${s.id}`)).size, expected, 'each acked message has its own id in its room');

  // Wait until every client has caught up with the latest id of each room.
  const behind = () => clients.some((c) => rooms.some((room) => {
    const latest = Math.max(...sent.filter((s) => s.room === room).map((s) => s.id));
    return !c.seen.get(room).has(latest);
  }));
  for (const deadline = Date.now() + within; behind() && Date.now() < deadline;) await sleep(50);

  // Every message gets the bot's answer once, those a fault left unanswered
  // too (asked again): one reply each from the rule bot.
  const answers = (client) => {
    const count = new Map();
    for (const room of rooms) {
      for (const message of client.seen.get(room).values()) {
        if (message.user === BOT) {
          const key = `${room}/${message.answers}`;
          count.set(key, (count.get(key) ?? 0) + 1);
        }
      }
    }
    return sent.map((s) => count.get(`${s.room}/${s.id}`) ?? 0);
  };
  for (const deadline = Date.now() + within; answers(clients[0]).some((n) => n === 0) && Date.now() < deadline;) await sleep(50);

  const report = { rooms: rooms.length, sent: expected, resends, stored: 0, delivered: [], duplicates: [], gaps: [] };
  const answerCounts = answers(clients[0]);
  report.unanswered = answerCounts.filter((n) => n === 0).length;
  report.answeredTwice = answerCounts.filter((n) => n > 1).length;
  if (process.env.DEBUG_NODES) console.log('# unanswered', JSON.stringify(sent.filter((s, i) => answerCounts[i] === 0)));
  // What was stored, room by room, read by a fresh client in every room.
  const fresh = reader();
  await fresh.joinRooms();
  for (const room of rooms) {
    const all = await storedIn(fresh, room);
    report.stored += all.filter((m) => m.user !== BOT).length;
  }
  fresh.close();

  for (const client of clients) {
    let delivered = 0;
    let gaps = 0;
    let doubled = client.duplicates;
    for (const room of rooms) {
      const seen = client.seen.get(room);
      const ids = [...seen.keys()].sort((a, b) => a - b);
      gaps += ids.filter((id, i) => i > 0 && id !== ids[i - 1] + 1).length + (ids[0] === 1 ? 0 : 1);
      const mine = [...seen.values()].filter((m) => m.user !== BOT);
      delivered += mine.length;
      doubled += mine.length - new Set(mine.map((m) => m.body)).size;
      // Each sender's messages in the room, in the order they were sent.
      for (const other of clients) {
        const numbers = ids
          .map((id) => seen.get(id))
          .filter((m) => m.user === other.name)
          .map((m) => Number(m.body.split('#')[1]));
        const inRoom = Array.from({ length: messages }, (_, i) => i + 1).filter((n) => rooms[n % rooms.length] === room);
        assert.deepEqual(numbers, inRoom, `${client.name} sees ${other.name}'s messages in ${room} once each, in order`);
      }
    }
    report.delivered.push(delivered);
    report.duplicates.push(doubled);
    report.gaps.push(gaps);
  }
  console.log(`# ${label}: ${JSON.stringify(report)}`);
  assert.equal(report.stored, expected, 'every message stored once');
  assert.ok(report.delivered.every((d) => d === expected), `every client got all ${expected}`);
  assert.ok(report.duplicates.every((d) => d === 0), 'no duplicates');
  assert.ok(report.gaps.every((g) => g === 0), 'no gaps');
  assert.ok(resends > 0, 'the faults really interrupted sending');
  assert.equal(report.unanswered, 0, 'the bot answered every message, those the faults interrupted too');
  assert.equal(report.answeredTwice, 0, 'and each once');
  return report;
}
