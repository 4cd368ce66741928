// Nodes on PostgreSQL never give up on it: a node started before its
// database waits for it (and then serves), and a node whose listening
// connection PostgreSQL keeps cutting (pg_terminate_backend) reconnects and
// reads what it missed, so its clients still get every message another
// node stores, live, once each and in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';

import { connect } from './support/client.mjs';
import { freePort, startPostgres } from './support/postgres.mjs';
import { startNode, startServer } from './support/server.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('a node started while PostgreSQL is down waits for it, then serves', async () => {
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  // startServer resolves once the node listens: only after the database is there.
  const starting = startServer({ args: ['--store', 'postgres', '--database-url', url, '--node-id', 'early'], env: { RUST_LOG: 'warn' } });
  let started = false;
  starting.then(() => { started = true; }, () => {});
  await sleep(1500);
  assert.equal(started, false, 'not listening without its database');
  const postgres = await startPostgres({ port });
  let server;
  try {
    server = await starting;
    assert.match(server.log(), /PostgreSQL is not reachable yet; waiting for it/);
    const { socket } = await connect(server.url, { transports: ['websocket'] });
    const ack = await socket.timeout(5000).emitWithAck('newmessage', { user: 'Ann', body: 'made it' });
    assert.ok(ack.accepted, JSON.stringify(ack));
    socket.close();
  } finally {
    await server?.stop();
    await postgres.stop();
  }
});

test('a node whose listening connection is cut again and again still delivers what other nodes store, once, in order', async () => {
  const postgres = await startPostgres();
  const [a, b] = [await startNode(postgres, 'a'), await startNode(postgres, 'b')];
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  const reader = await connect(a.url, { transports: ['websocket'] });
  const writer = await connect(b.url, { transports: ['websocket'] });
  const seen = [];
  reader.socket.on('newmessage', (message) => seen.push(message));
  let cutting = true;
  let cuts = 0;
  try {
    const cutter = (async () => {
      while (cutting) {
        await sleep(150);
        const { rows } = await admin.query(`SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity
          WHERE application_name = 'chat-server a feed'`);
        cuts += rows.filter((row) => row.cut).length;
      }
    })();
    const COUNT = 200;
    for (let n = 1; n <= COUNT; n += 1) {
      const ack = await writer.socket.timeout(5000).emitWithAck('newmessage', { user: 'Bob', body: `#${n}`, client_id: `m${n}` });
      assert.ok(ack.accepted, JSON.stringify(ack));
      await sleep(10);
    }
    cutting = false;
    await cutter;
    for (const deadline = Date.now() + 15_000; seen.length < COUNT && Date.now() < deadline;) await sleep(50);
    console.log(`# feed cut ${cuts} times; the reader got ${seen.length} of ${COUNT}`);
    assert.ok(cuts >= 3, `the listening connection was cut (${cuts} times)`);
    assert.deepEqual(seen.map((m) => m.body), Array.from({ length: COUNT }, (_, i) => `#${i + 1}`), 'every message once, in order');
    assert.ok(seen.every((m, i) => i === 0 || m.id > seen[i - 1].id), 'in id order');
    assert.ok(reader.socket.connected, 'without reconnecting');
    assert.match(a.log(), /lost the database's notifications; reconnecting/);
  } finally {
    cutting = false;
    reader.socket.close();
    writer.socket.close();
    await admin.end().catch(() => {});
    await a.stop();
    await b.stop();
    await postgres.stop();
  }
});
