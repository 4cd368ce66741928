// Several chat-server nodes on one PostgreSQL database. Under load, one
// node is killed (SIGKILL) and restarted, PostgreSQL itself is restarted
// the hard way (immediate shutdown: connections dropped, crash recovery),
// and the other node is killed: every client, spread over the nodes and
// moving to the other node whenever its own goes away (resuming there with
// its last ids), must see every message exactly once, in one order, with
// dense ids, and the bot must answer each message once.
import { test } from 'node:test';
import pg from 'pg';

import { sendThroughFaults } from './support/faults.mjs';
import { startPostgres } from './support/postgres.mjs';
import { newSession, resumingClient } from './support/resuming.mjs';
import { startNode, tempDataDir } from './support/server.mjs';

const CLIENTS = 8;
const MESSAGES = 60;
const ROOMS = ['general', 'dev', 'ops'];

/** A node of the cluster; every node shares `dataDir`, for one token secret. */
function node(postgres, id, dataDir, port = 0) {
  return startNode(postgres, id, { dataDir, port, env: { RUST_LOG: process.env.DEBUG_NODES ? 'info' : 'warn' } });
}

/** What the nodes and their database are doing: for a test that stalled. */
async function describe(nodes, postgres) {
  const parts = [];
  for (const node of nodes) {
    const metrics = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(2000) })
      .then((response) => response.text())
      .catch((error) => `unreachable: ${error.message}`);
    const counters = metrics.split('\n').filter((line) => /^chat_(messages|connections|node)/.test(line));
    parts.push(`node ${node.url} (alive: ${node.alive()}):\n${counters.join('\n')}\nlog (tail):\n${node.log().split('\n').slice(-40).join('\n')}`);
  }
  const db = new pg.Client({ connectionString: postgres.url });
  try {
    await db.connect();
    const { rows } = await db.query(
      "select pid, application_name, state, wait_event_type, wait_event, now() - state_change as for, left(query, 100) as query from pg_stat_activity where backend_type = 'client backend'",
    );
    parts.push(`pg_stat_activity:\n${rows.map((row) => JSON.stringify(row)).join('\n')}`);
  } catch (error) {
    parts.push(`PostgreSQL unreachable: ${error.message}`);
  } finally {
    await db.end().catch(() => {});
  }
  return parts.join('\n');
}

test('two nodes on PostgreSQL: a node killed, PostgreSQL restarted, the other node killed; every message once, in one order', async () => {
  const postgres = await startPostgres();
  const dataDir = tempDataDir();
  const nodes = [await node(postgres, 'a', dataDir), await node(postgres, 'b', dataDir)];
  const urls = nodes.map((node) => node.url);
  const sessions = await Promise.all(Array.from({ length: CLIENTS + 1 }, (_, i) => newSession(urls[i % 2])));
  // Half the clients start on each node; each moves on when its node goes.
  const clients = Array.from({ length: CLIENTS }, (_, i) => {
    const order = i % 2 === 0 ? urls : [...urls].reverse();
    return resumingClient(order, `sender${i}`, sessions[i], ROOMS);
  });
  const killAndRestart = (n) => async () => {
    const { port } = nodes[n];
    await nodes[n].stop('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 300));
    nodes[n] = await node(postgres, n === 0 ? 'a' : 'b', dataDir, port);
  };
  try {
    await sendThroughFaults({
      label: 'cluster',
      clients,
      rooms: ROOMS,
      messages: MESSAGES,
      faults: [
        [1 / 4, killAndRestart(0)],
        [1 / 2, () => postgres.restartImmediately()],
        [3 / 4, killAndRestart(1)],
      ],
      reader: () => resumingClient(urls[1], 'reader', sessions[CLIENTS], ROOMS),
      stalled: () => describe(nodes, postgres),
    });
    const failovers = clients.reduce((sum, client) => sum + client.failovers, 0);
    console.log(`# cluster: ${failovers} times a client moved to the other node`);
  } finally {
    if (process.env.DEBUG_NODES) for (const node of nodes) console.log(node.log());
    for (const client of clients) client.close();
    for (const node of nodes) await node.stop();
    await postgres.stop();
  }
});
