// Rolling restarts behind the load balancers we ship (deploy/nginx.conf,
// deploy/haproxy.cfg): two nodes on one PostgreSQL, clients of the official
// socket.io-client connecting through the balancer as a user's would
// (long-polling first, then the upgrade to WebSocket, cookies kept, the
// client's own reconnection). New sessions are spread over both nodes and
// stay on theirs. Under load every node is stopped with SIGTERM (it drains:
// see e2e/drain.test.mjs) and started again, one after the other, twice:
// every client must see every message exactly once, in one order, and the
// bot must answer each once.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { sendThroughFaults } from './support/faults.mjs';
import { startHaproxy } from './support/haproxy.mjs';
import { startNginx } from './support/nginx.mjs';
import { startPostgres } from './support/postgres.mjs';
import { newSession, resumingClient } from './support/resuming.mjs';
import { startNode, tempDataDir } from './support/server.mjs';

const CLIENTS = 8;
const MESSAGES = 60;
const ROOMS = ['general', 'dev', 'ops'];
/** A node behind the balancer, on loopback; every node shares `dataDir`, for one token secret. */
function node(postgres, id, dataDir, port = 0) {
  return startNode(postgres, id, { dataDir, port, args: ['--trusted-proxy', '127.0.0.1'] });
}

/** Socket.IO connections a node has open now, from its `/metrics`. */
async function connectionsOf(node) {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('chat_connections{'))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

for (const [name, startBalancer] of [['nginx', startNginx], ['haproxy', startHaproxy]]) {
  test(`behind ${name}: sessions spread over the nodes, and every node restarted in turn (SIGTERM) twice loses nothing`, async () => {
    const postgres = await startPostgres();
    const dataDir = tempDataDir();
    const ids = ['a', 'b'];
    const nodes = [await node(postgres, 'a', dataDir), await node(postgres, 'b', dataDir)];
    const balancer = await startBalancer(nodes.map((node) => node.url));
    const sessions = await Promise.all(Array.from({ length: CLIENTS + 1 }, () => newSession(balancer.url)));
    // Long-polling first, upgraded to WebSocket: the upgrade must reach the
    // node that holds the session, by the balancer's cookie.
    const options = { transports: ['polling', 'websocket'], withCredentials: true };
    const clients = Array.from({ length: CLIENTS }, (_, i) => resumingClient(balancer.url, `sender${i}`, sessions[i], ROOMS, options));
    const restart = (n) => async () => {
      const { port } = nodes[n];
      await nodes[n].stop('SIGTERM');
      assert.deepEqual(nodes[n].status(), { code: 0, signal: null }, `node ${ids[n]} drained and exited by itself`);
      nodes[n] = await node(postgres, ids[n], dataDir, port);
    };
    try {
      await Promise.all(clients.map((client) => client.connected()));
      await Promise.all(clients.map((client) => client.upgraded()));
      const spread = await Promise.all(nodes.map(connectionsOf));
      console.log(`# ${name}: sessions per node ${JSON.stringify(spread)}`);
      assert.ok(spread.every((count) => count >= 2), `both nodes hold sessions: ${spread}`);
      const report = await sendThroughFaults({
        label: `rolling restart behind ${name}`,
        clients,
        rooms: ROOMS,
        messages: MESSAGES,
        faults: [
          [1 / 5, restart(0)],
          [2 / 5, restart(1)],
          [3 / 5, restart(0)],
          [4 / 5, restart(1)],
        ],
        reader: () => resumingClient(balancer.url, 'reader', sessions[CLIENTS], ROOMS, options),
      });
      const refusals = clients.reduce((all, client) => {
        for (const [code, count] of Object.entries(client.refusals)) all[code] = (all[code] ?? 0) + count;
        return all;
      }, {});
      console.log(`# ${name}: refusals while restarting ${JSON.stringify(refusals)}; ${report.resends} resends`);
    } finally {
      for (const client of clients) client.close();
      await balancer.stop();
      for (const node of nodes) await node.stop();
      await postgres.stop();
    }
  });
}
