// Nothing is lost, nothing is doubled: many clients of the official
// socket.io-client send numbered messages with acks and retries while the
// real server (SQLite in a temporary folder) is killed with SIGKILL twice
// and restarted on the same port, writing to three rooms at once. Each
// client resumes with `auth: {token, rooms: {room: lastId}}`. Afterwards
// every client must hold every message exactly once, in each sender's order
// per room, with no gap in any room's ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';

import { sendThroughFaults } from './support/faults.mjs';
import { newSession, resumingClient as resuming } from './support/resuming.mjs';
import { startServer } from './support/server.mjs';

const resumingClient = (url, name, session) => resuming(url, name, session, ROOMS);

/** The next `history` event of `client`, or a failure after 10 s. */
function nextHistory(client) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${client.name} got no history within 10 s`)), 10_000);
    client.socket.once('history', (history) => {
      clearTimeout(timer);
      resolve(history);
    });
  });
}

const CLIENTS = 8;
const MESSAGES = 60;
const UNLIMITED = ['--message-burst', '1000000000', '--messages-per-second', '1000000000'];

/** The rooms the SIGKILL test writes to at once. */
const ROOMS = ['general', 'dev', 'ops'];

test('messages in three rooms at once survive two SIGKILLs of the server, each exactly once and in order', async () => {
  let server = await startServer({ args: UNLIMITED });
  const { port, dataDir } = server;
  const sessions = await Promise.all(Array.from({ length: CLIENTS + 1 }, () => newSession(server.url)));
  const clients = Array.from({ length: CLIENTS }, (_, i) => resumingClient(server.url, `sender${i}`, sessions[i]));
  try {
    // Kill the server twice while the clients are sending, without warning.
    const killAndRestart = async () => {
      await server.stop('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 300));
      server = await startServer({ port, dataDir, args: UNLIMITED });
    };
    await sendThroughFaults({
      label: 'durability',
      clients,
      rooms: ROOMS,
      messages: MESSAGES,
      faults: [[1 / 3, killAndRestart], [2 / 3, killAndRestart]],
      reader: () => resumingClient(server.url, 'reader', sessions[CLIENTS]),
    });
  } finally {
    for (const client of clients) client.close();
    await server.stop();
  }
});

test('when storage is full the sender is told, gets no acceptance, and nothing stored is lost', async () => {
  // A 64 KiB cap on the SQLite file fails writes exactly as a full disk does.
  const server = await startServer({ args: [...UNLIMITED, '--store-max-kib', '64'] });
  const client = resumingClient(server.url, 'ann');
  const errors = [];
  client.socket.on('chaterror', (error) => errors.push(error));
  try {
    const body = 'x'.repeat(1900);
    const accepted = [];
    let refusal;
    let waits = 0;
    for (let n = 1; n <= 200 && !refusal && waits < 100; n += 1) {
      const ack = await client.socket.timeout(5000).emitWithAck('newmessage', { user: 'ann', body: `${n} ${body}`, client_id: `full-${n}` });
      if (ack.accepted) accepted.push(ack.accepted.id);
      else if (ack.rejected?.code === 'overloaded') {
        waits += 1;
        // Sent while the socket was still joining its rooms (a slow
        // machine): the same message again in a moment, as the client does.
        n -= 1;
        await new Promise((resolve) => setTimeout(resolve, ack.rejected.retry_after_ms ?? 100));
      } else refusal = ack.rejected;
    }
    assert.ok(accepted.length > 0, `some messages fit, then ${JSON.stringify(refusal)}`);
    assert.equal(refusal?.code, 'unavailable', `refused as unavailable: ${JSON.stringify(refusal)}`);
    assert.match(refusal.message, /could not save your message/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(errors.some((e) => e.code === 'unavailable'), 'a chaterror too');
    // Nobody saw the refused message; everything acknowledged is still there after a restart.
    const refusedBody = `${accepted.length + 1} `;
    assert.ok(![...client.seen.get('general').values()].some((m) => m.body.startsWith(refusedBody)), 'the refused message was not broadcast');
    await server.stop('SIGKILL');
    const again = await startServer({ port: server.port, dataDir: server.dataDir, args: UNLIMITED });
    try {
      const reader = resumingClient(again.url, 'reader');
      const history = await nextHistory(reader);
      reader.close();
      const ids = history.messages.filter((m) => m.user === 'ann').map((m) => m.id);
      for (const id of accepted) assert.ok(ids.includes(id), `message ${id} survived`);
    } finally {
      await again.stop();
    }
  } finally {
    client.close();
    await server.stop();
  }
});

test('when the history file is read-only the server still shows it and refuses new messages clearly', async () => {
  const first = await startServer();
  const writer = resumingClient(first.url, 'ann');
  const ack = await writer.sendForSure('stored before', 'ro-1');
  writer.close();
  await first.stop();
  for (const file of ['chat.db', 'chat.db-wal', 'chat.db-shm']) {
    const path = join(first.dataDir, file);
    if (existsSync(path)) chmodSync(path, 0o444);
  }
  // Permissions do not stop root, so the server runs unprivileged.
  const server = await startServer({ port: first.port, dataDir: first.dataDir, asNobody: true });
  const client = resumingClient(server.url, 'bob');
  const errors = [];
  client.socket.on('chaterror', (error) => errors.push(error));
  try {
    const history = await nextHistory(client);
    assert.ok(history.messages.some((m) => m.id === ack.id && m.body === 'stored before'), 'the history is shown');
    const answer = await client.socket.timeout(5000).emitWithAck('newmessage', { user: 'bob', body: 'not storable', client_id: 'ro-2' });
    assert.equal(answer.rejected?.code, 'unavailable', JSON.stringify(answer));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(errors.some((e) => e.code === 'unavailable'), 'a chaterror too');
    assert.ok(![...client.seen.get('general').values()].some((m) => m.body === 'not storable'), 'nobody saw it');
    assert.match(server.log(), /read-only/);
  } finally {
    client.close();
    await server.stop();
  }
});
