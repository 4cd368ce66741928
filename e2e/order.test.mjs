// A sender's order survives store failures. Clients of the official
// socket.io-client send without waiting for each ack (several messages on
// their way at once), and resend whatever was refused or not acknowledged,
// in the order they wrote it, as the README says a client should. Meanwhile
// PostgreSQL ends the node's connections in the middle of its batches
// (pg_terminate_backend), so one batch fails while the next, on a fresh
// connection, is stored: a later message must never be stored before an
// earlier one that failed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { io } from 'socket.io-client';

import { startPostgres } from './support/postgres.mjs';
import { storedIn } from './support/resuming.mjs';
import { startServer } from './support/server.mjs';

const SENDERS = 4;
const MESSAGES = 120;
/** Messages a sender has on their way at once. */
const WINDOW = 8;
const UNLIMITED = ['--message-burst', '1000000000', '--messages-per-second', '1000000000'];
/** How long a sender may go without an accepted message before the test fails. */
const STALL_MS = 30000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends `count` numbered messages, up to [WINDOW] at a time; whatever is
 * refused or unacknowledged is sent again, oldest first, before anything
 * newer. Resolves with how many refusals it met.
 */
async function sendPipelined(socket, name, count) {
  const outbox = Array.from({ length: count }, (_, i) => ({ n: i + 1, clientId: `${name}-${i + 1}` }));
  let refused = 0;
  let progress = Date.now();
  let lastAnswers = [];
  while (outbox.length > 0) {
    if (Date.now() - progress > STALL_MS) {
      // Fail where it is stuck instead of running into the file's timeout.
      throw new Error(`${name}: nothing accepted for ${STALL_MS} ms; ${outbox.length} left, last answers ${JSON.stringify(lastAnswers)}`);
    }
    const round = outbox.slice(0, WINDOW);
    const answers = await Promise.all(round.map((entry) => socket
      .timeout(2000)
      .emitWithAck('newmessage', { user: name, body: `${name} #${entry.n}`, client_id: entry.clientId })
      .catch(() => null)));
    let wait = 0;
    lastAnswers = answers;
    answers.forEach((answer, i) => {
      if (answer?.accepted) {
        progress = Date.now();
        outbox.splice(outbox.indexOf(round[i]), 1);
      } else {
        if (answer && !['unavailable', 'overloaded'].includes(answer.rejected?.code)) {
          throw new Error(`refused for good: ${JSON.stringify(answer)}`);
        }
        refused += 1;
        wait = Math.max(wait, Math.min(answer?.rejected?.retry_after_ms ?? 100, 200));
      }
    });
    if (wait > 0) await sleep(wait);
  }
  return refused;
}

test('messages sent without waiting for acks are stored in each sender\'s order while the database drops connections mid-batch', async () => {
  const postgres = await startPostgres();
  const server = await startServer({
    args: [...UNLIMITED, '--store', 'postgres', '--database-url', postgres.url, '--node-id', 'order'],
  });
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  const sockets = Array.from({ length: SENDERS }, () => io(server.url, {
    transports: ['websocket'], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500,
  }));
  let cuts = 0;
  let sending = true;
  try {
    // Every sender in the room before the cutting starts: this is about
    // batches failing, not about connecting through a database that drops
    // every query (a sender that could not join for 30 s stalled the test).
    await Promise.all(sockets.map((socket) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('a sender never got its history')), 10000);
      socket.once('history', () => { clearTimeout(timer); resolve(); });
    })));
    // Cut the node's connections that are in the middle of something, again and again.
    const cutter = (async () => {
      while (sending) {
        await sleep(10);
        // In a transaction (an append between its statements) or running one.
        const { rows } = await admin.query(`SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'`)
          // Closed under it when a sender failed: that failure is the one to report.
          .catch((error) => { if (sending) throw error; return { rows: [] }; });
        cuts += rows.filter((row) => row.cut).length;
      }
    })();
    const refusals = await Promise.all(sockets.map((socket, s) => sendPipelined(socket, `sender${s}`, MESSAGES)));
    sending = false;
    await cutter;

    const reader = { socket: sockets[0] };
    const stored = (await storedIn(reader, 'general')).filter((m) => m.user !== 'ChatFriend');
    const violations = [];
    for (let s = 0; s < SENDERS; s += 1) {
      const numbers = stored.filter((m) => m.user === `sender${s}`).map((m) => Number(m.body.split('#')[1]));
      numbers.forEach((n, i) => {
        if (i > 0 && n < numbers[i - 1]) violations.push(`sender${s}: #${n} stored after #${numbers[i - 1]}`);
      });
      assert.equal(new Set(numbers).size, numbers.length, `sender${s}'s messages stored once each`);
      assert.equal(numbers.length, MESSAGES, `all of sender${s}'s messages stored`);
    }
    const report = { stored: stored.length, refusals, cuts, violations: violations.length };
    console.log(`# order: ${JSON.stringify(report)}${violations.length ? ` ${violations.slice(0, 5).join('; ')}` : ''}`);
    assert.ok(cuts > 0, 'connections were cut while messages were being stored');
    assert.ok(refusals.some((n) => n > 0), 'and some messages were refused for it');
    assert.deepEqual(violations, [], 'no sender\'s message stored before an earlier one');
  } finally {
    sending = false;
    for (const socket of sockets) socket.close();
    await admin.end().catch(() => {});
    await server.stop();
    await postgres.stop();
  }
});
