// Nothing is lost, nothing is doubled: many clients of the official
// socket.io-client send numbered messages with acks and retries while the
// real server (SQLite in a temporary folder) is killed with SIGKILL twice
// and restarted on the same port. Each client resumes with `auth: {lastId}`.
// Afterwards every client must hold every message exactly once, in each
// sender's order, with no gap in the ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';

import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';

import { startServer } from './support/server.mjs';

const CLIENTS = 8;
const MESSAGES = 60;
const UNLIMITED = ['--message-burst', '1000000000', '--messages-per-second', '1000000000'];

/** A chat client that keeps every message it has seen, by id, and resumes from the last. */
function resumingClient(url, name) {
  const seen = new Map();
  let lastId = 0;
  const keep = (message) => {
    if (seen.has(message.id)) {
      client.duplicates += 1;
      return;
    }
    seen.set(message.id, message);
    lastId = Math.max(lastId, message.id);
  };
  const socket = io(url, {
    transports: ['websocket'],
    forceNew: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    auth: (cb) => cb({ lastId }),
  });
  socket.on('history', (history) => {
    if (history.reset) {
      // Only a fresh client may be reset: one that resumes must get exactly what it missed.
      assert.equal(lastId, 0, `${name} was reset after ${lastId}`);
    }
    for (const message of history.messages) keep(message);
  });
  socket.on('newmessage', keep);
  socket.on('botmessage', keep);
  const client = {
    name, socket, seen, duplicates: 0,
    /** Sends until the server acknowledges it, however often the server dies meanwhile. */
    async sendForSure(body, clientId) {
      for (let attempt = 1; ; attempt += 1) {
        try {
          const ack = await socket.timeout(1000).emitWithAck('newmessage', { user: name, body, client_id: clientId });
          if (ack.accepted) return { id: ack.accepted.id, attempts: attempt };
          if (!['overloaded', 'unavailable'].includes(ack.rejected?.code)) {
            throw new Error(`refused: ${JSON.stringify(ack)}`);
          }
        } catch (error) {
          if (error.message?.startsWith('refused')) throw error;
          // No ack in time (the server died): the same message again, same client id.
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
  return client;
}

test('messages survive two SIGKILLs of the server, each exactly once and in order', async () => {
  let server = await startServer({ args: UNLIMITED });
  const { port, dataDir } = server;
  const clients = Array.from({ length: CLIENTS }, (_, i) => resumingClient(server.url, `sender${i}`));
  const sent = [];
  let resends = 0;
  try {
    const sending = clients.map(async (client, c) => {
      for (let n = 1; n <= MESSAGES; n += 1) {
        const { id, attempts } = await client.sendForSure(`${client.name} #${n}`, `c${c}-m${n}`);
        resends += attempts - 1;
        sent.push({ id, sender: client.name, n });
      }
    });
    // Kill the server twice while the clients are sending, without warning.
    for (const share of [1 / 3, 2 / 3]) {
      while (sent.length < CLIENTS * MESSAGES * share) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await server.stop('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 300));
      server = await startServer({ port, dataDir, args: UNLIMITED });
    }
    await Promise.all(sending);

    // Every message the server acknowledged under one id each.
    const expected = CLIENTS * MESSAGES;
    assert.equal(new Set(sent.map((s) => s.id)).size, expected, 'each acked message has its own id');

    // Wait until every client has caught up with the latest id.
    const latest = Math.max(...sent.map((s) => s.id));
    const deadline = Date.now() + 30_000;
    while (clients.some((c) => !c.seen.has(latest)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const report = { sent: expected, resends, stored: 0, delivered: [], duplicates: [], gaps: [] };
    // What the server stored: a fresh client gets the latest 100; read all through `older`.
    const fresh = resumingClient(server.url, 'reader');
    const stored = await new Promise((resolve) => fresh.socket.once('history', resolve));
    let all = stored.messages;
    let more = stored.more;
    while (more) {
      const older = await fresh.socket.timeout(5000).emitWithAck('older', { before: all[0].id });
      all = [...older.messages, ...all];
      more = older.more;
    }
    fresh.socket.close();
    const storedUser = all.filter((m) => m.user !== 'ChatFriend');
    report.stored = storedUser.length;

    for (const client of clients) {
      const ids = [...client.seen.keys()].sort((a, b) => a - b);
      const gaps = ids.filter((id, i) => i > 0 && id !== ids[i - 1] + 1).length + (ids[0] === 1 ? 0 : 1);
      const mine = [...client.seen.values()].filter((m) => m.user !== 'ChatFriend');
      report.delivered.push(mine.length);
      report.duplicates.push(client.duplicates + mine.length - new Set(mine.map((m) => m.body)).size);
      report.gaps.push(gaps);
      // Each sender's messages in the order they were sent.
      for (const other of clients) {
        const numbers = ids
          .map((id) => client.seen.get(id))
          .filter((m) => m.user === other.name)
          .map((m) => Number(m.body.split('#')[1]));
        assert.deepEqual(numbers, Array.from({ length: MESSAGES }, (_, i) => i + 1),
          `${client.name} sees ${other.name}'s messages once each, in order`);
      }
    }
    console.log(`# durability: ${JSON.stringify(report)}`);
    assert.equal(report.stored, expected, 'every message stored once');
    assert.ok(report.delivered.every((d) => d === expected), `every client got all ${expected}`);
    assert.ok(report.duplicates.every((d) => d === 0), 'no duplicates');
    assert.ok(report.gaps.every((g) => g === 0), 'no gaps');
    assert.ok(resends > 0, 'the kills really interrupted sending');
  } finally {
    for (const client of clients) client.socket.close();
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
    for (let n = 1; n <= 200 && !refusal; n += 1) {
      const ack = await client.socket.timeout(5000).emitWithAck('newmessage', { user: 'ann', body: `${n} ${body}`, client_id: `full-${n}` });
      if (ack.accepted) accepted.push(ack.accepted.id);
      else refusal = ack.rejected;
    }
    assert.ok(accepted.length > 0, 'some messages fit');
    assert.equal(refusal?.code, 'unavailable', `refused as unavailable: ${JSON.stringify(refusal)}`);
    assert.match(refusal.message, /could not save your message/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(errors.some((e) => e.code === 'unavailable'), 'a chaterror too');
    // Nobody saw the refused message; everything acknowledged is still there after a restart.
    const refusedBody = `${accepted.length + 1} `;
    assert.ok(![...client.seen.values()].some((m) => m.body.startsWith(refusedBody)), 'the refused message was not broadcast');
    await server.stop('SIGKILL');
    const again = await startServer({ port: server.port, dataDir: server.dataDir, args: UNLIMITED });
    try {
      const reader = resumingClient(again.url, 'reader');
      const history = await new Promise((resolve) => reader.socket.once('history', resolve));
      reader.socket.close();
      const ids = history.messages.filter((m) => m.user === 'ann').map((m) => m.id);
      for (const id of accepted) assert.ok(ids.includes(id), `message ${id} survived`);
    } finally {
      await again.stop();
    }
  } finally {
    client.socket.close();
    await server.stop();
  }
});

test('when the history file is read-only the server still shows it and refuses new messages clearly', async () => {
  const first = await startServer();
  const writer = resumingClient(first.url, 'ann');
  const ack = await writer.sendForSure('stored before', 'ro-1');
  writer.socket.close();
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
    const history = await new Promise((resolve) => client.socket.once('history', resolve));
    assert.ok(history.messages.some((m) => m.id === ack.id && m.body === 'stored before'), 'the history is shown');
    const answer = await client.socket.timeout(5000).emitWithAck('newmessage', { user: 'bob', body: 'not storable', client_id: 'ro-2' });
    assert.equal(answer.rejected?.code, 'unavailable', JSON.stringify(answer));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(errors.some((e) => e.code === 'unavailable'), 'a chaterror too');
    assert.ok(![...client.seen.values()].some((m) => m.body === 'not storable'), 'nobody saw it');
    assert.match(server.log(), /read-only/);
  } finally {
    client.socket.close();
    await server.stop();
  }
});
