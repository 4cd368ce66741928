// The page through nginx (Debian's, with the configuration we ship in
// deploy/nginx.conf) to two chat-server nodes on one PostgreSQL database.
// The node the page is on is killed: the page reconnects through nginx to
// the other node, and what was typed meanwhile reaches everyone once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { expect } from './support/expect.mjs';
import { startNginx } from './support/nginx.mjs';
import { startPostgres } from './support/postgres.mjs';
import { startServer, tempDataDir } from './support/server.mjs';
import { connected, launch, lines, openChat, sendFromForm } from './support/browser.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A node on `postgres`, behind nginx on this machine (whose address it trusts). */
function startNode(postgres, id, dataDir) {
  return startServer({
    dataDir,
    args: ['--store', 'postgres', '--database-url', postgres.url, '--node-id', id, '--trusted-proxy', '127.0.0.1'],
  });
}

/** The Socket.IO connections a node has open now, from its `/metrics`. */
async function connections(node) {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('chat_connections{'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

const bodies = async (page) => (await lines(page)).map((l) => l.body);
const count = (list, body) => list.filter((b) => b === body).length;

test('through nginx to two nodes: the page\'s node is killed, the page moves to the other and nothing typed is lost', async () => {
  const postgres = await startPostgres();
  const dataDir = tempDataDir();
  const nodes = [await startNode(postgres, 'a', dataDir), await startNode(postgres, 'b', dataDir)];
  const nginx = await startNginx(nodes.map((node) => node.url));
  const pages = [];
  try {
    const page = await openChat(browser, nginx.url);
    pages.push(page);
    const [onA, onB] = await expect(() => Promise.all(nodes.map(connections)), (open) => open[0] + open[1] === 1);
    const mine = onA === 1 ? 0 : 1;
    assert.equal(onA + onB, 1);
    // A second reader straight on the other node sees what the page sends.
    const other = await openChat(browser, nodes[1 - mine].url);
    pages.push(other);

    await sendFromForm(page, 'ann', 'before the node died');
    await expect(() => bodies(other), (seen) => seen.includes('before the node died'));

    await nodes[mine].stop('SIGKILL');
    await sendFromForm(page, 'ann', 'typed while moving');
    await connected(page, 20_000);
    await expect(() => connections(nodes[1 - mine]), (open) => open === 2);
    await sendFromForm(page, 'ann', 'after the move');
    for (const reader of [page, other]) {
      const seen = await expect(() => bodies(reader), (list) => list.includes('after the move') && list.includes('typed while moving'));
      assert.equal(count(seen, 'before the node died'), 1);
      assert.equal(count(seen, 'typed while moving'), 1);
      assert.equal(count(seen, 'after the move'), 1);
      assert.ok(seen.indexOf('typed while moving') < seen.indexOf('after the move'), JSON.stringify(seen));
    }
    await expect(() => page.getByTestId('pending-message').count(), (n) => n === 0);
    for (const each of pages) assert.deepEqual(each.problems, []);
  } finally {
    for (const each of pages) await each.context().close();
    await nginx.stop();
    for (const node of nodes) await node.stop();
    await postgres.stop();
  }
});
