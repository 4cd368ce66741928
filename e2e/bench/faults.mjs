// The faults of a cluster, side by side: two chat-server nodes on one
// PostgreSQL against the peer a user would pick instead, the tutorial's
// Node.js server as two processes with `@socket.io/postgres-adapter`
// (e2e/fixtures/tutorial-server). 20 clients, 10 per node, each sending 40
// messages at 5 a second: 800 messages, 16,000 deliveries expected. Per
// fault, a fresh database and fresh servers:
//   - a node SIGKILLed and started again 1 s later;
//   - a node SIGKILLed for good;
//   - PostgreSQL restarted the hard way (`pg_ctl restart -m immediate`).
// Each side uses its own kind of client as its README has it: the peer's
// clients are socket.io-client as the tutorial's page uses it (emit, no
// ack, socket.io's own reconnection to its one address); ours acknowledge,
// resend, resume with their last ids and move to the other node when
// theirs goes (as the page does through a balancer). Prints one line per
// side and fault: deliveries lost and duplicated.
//
// Run by `cargo xtask bench`; alone: CHAT_SERVER_BIN=target/release/chat-server
// DIST_DIR=dist node e2e/bench/faults.mjs (from the root, after a build).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { io } from 'socket.io-client';

import { startPostgres } from '../support/postgres.mjs';
import { newSession, resumingClient } from '../support/resuming.mjs';
import { startNode, tempDataDir } from '../support/server.mjs';

const CLIENTS = 20;
const MESSAGES = 40;
const EVERY_MS = 200;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A peer process (the tutorial's server with the adapter) on `port` (0: any). */
async function startPeer(databaseUrl, port = 0) {
  const child = spawn(process.execPath, [new URL('../fixtures/tutorial-server/index.cjs', import.meta.url).pathname], {
    env: { ...process.env, PORT: String(port), DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (chunk) => { log += chunk; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`the peer exited with ${code}:\n${log}`)));
  });
  return {
    url,
    port: Number(new URL(url).port),
    crashed: () => child.exitCode !== null && child.signalCode === null,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}

/** The peer's client, as the tutorial's page: emits, and keeps what it hears. */
function peerClient(url, name) {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500 });
  const heard = new Map();
  socket.on('newmessage', (message) => heard.set(message.body, (heard.get(message.body) ?? 0) + 1));
  return {
    name,
    heard,
    send: async (body) => { socket.emit('newmessage', { user: name, body }); },
    close: () => socket.close(),
  };
}

/** Ours: acknowledged, resent, resumed, moving to the other node. */
function ourClient(urls, name, session) {
  const client = resumingClient(urls, name, session, ['general']);
  return {
    name,
    get heard() {
      const heard = new Map();
      for (const message of client.seen.get('general').values()) {
        if (message.user !== 'ChatFriend') heard.set(message.body, (heard.get(message.body) ?? 0) + 1);
      }
      // The same message under two ids would be a duplicate too.
      heard.duplicates = client.duplicates;
      return heard;
    },
    send: async (body, clientId) => { await client.sendForSure(body, clientId); },
    close: () => client.close(),
    connected: () => client.connected(),
  };
}

/** Sends from every client at the pace, striking `fault` a third of the way in; counts. */
async function run({ clients, fault }) {
  const start = Date.now() + 200;
  let struck = false;
  const sending = clients.map(async (client, c) => {
    for (let n = 1; n <= MESSAGES; n += 1) {
      const at = start + (n - 1) * EVERY_MS;
      if (Date.now() < at) await sleep(at - Date.now());
      if (!struck && n > MESSAGES / 3) {
        struck = true;
        fault();
      }
      // A sender whose node is gone for good may never be acknowledged: give up at the end.
      await Promise.race([client.send(`c${c} #${n}`, `c${c}-m${n}`), sleep(start + MESSAGES * EVERY_MS + 15_000 - Date.now())]);
    }
  });
  await Promise.all(sending);
  await sleep(5000);
  let delivered = 0;
  let duplicated = 0;
  for (const client of clients) {
    const heard = client.heard;
    for (const count of heard.values()) {
      delivered += 1;
      duplicated += count - 1;
    }
    duplicated += heard.duplicates ?? 0;
  }
  const expected = clients.length * clients.length * MESSAGES;
  return { lost: expected - delivered, duplicated };
}

const FAULTS = [
  ['a node SIGKILLed, restarted 1 s later', 'restart'],
  ['a node SIGKILLed for good', 'kill'],
  ['PostgreSQL restarted (immediate)', 'postgres'],
];

/**
 * The fault `kind` of [FAULTS] on a cluster: PostgreSQL restarted, or
 * `nodes[0]` killed (and, for `restart`, started again on its port by
 * `start(port)` a second later).
 */
function striking(kind, postgres, nodes, start) {
  return async () => {
    if (kind === 'postgres') return postgres.restartImmediately();
    const { port } = nodes[0];
    await nodes[0].stop('SIGKILL');
    if (kind === 'restart') {
      await sleep(1000);
      nodes[0] = await start(port);
    }
  };
}

async function ours(kind) {
  const postgres = await startPostgres();
  const dataDir = tempDataDir();
  const node = (id, port = 0) => startNode(postgres, id, { dataDir, port });
  const nodes = [await node('a'), await node('b')];
  const urls = nodes.map((n) => n.url);
  const sessions = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => newSession(urls[i % 2])));
  const clients = sessions.map((session, i) => ourClient(i % 2 === 0 ? urls : [...urls].reverse(), `c${i}`, session));
  await Promise.all(clients.map((c) => c.connected()));
  const fault = striking(kind, postgres, nodes, (port) => node('a', port));
  try {
    return await run({ clients, fault });
  } finally {
    clients.forEach((c) => c.close());
    for (const n of nodes) await n.stop();
    await postgres.stop();
  }
}

async function peer(kind) {
  const postgres = await startPostgres();
  const nodes = [await startPeer(postgres.url), await startPeer(postgres.url)];
  const clients = Array.from({ length: CLIENTS }, (_, i) => peerClient(nodes[i % 2].url, `c${i}`));
  await sleep(500);
  const fault = striking(kind, postgres, nodes, (port) => startPeer(postgres.url, port));
  try {
    const result = await run({ clients, fault });
    result.crashed = nodes.filter((n) => n.crashed()).length;
    return result;
  } finally {
    clients.forEach((c) => c.close());
    for (const n of nodes) await n.stop();
    await postgres.stop();
  }
}

console.log(`faults: ${CLIENTS} clients over 2 nodes, ${CLIENTS * MESSAGES} messages, ${CLIENTS * CLIENTS * MESSAGES} deliveries expected`);
console.log(`  ${'fault'.padEnd(40)} ${'chat-server: lost'.padStart(18)} ${'dup'.padStart(5)}   ${'node + adapter: lost'.padStart(21)} ${'dup'.padStart(5)}  peer processes crashed`);
for (const [label, kind] of FAULTS) {
  const a = await ours(kind);
  const b = await peer(kind);
  console.log(`  ${label.padEnd(40)} ${String(a.lost).padStart(18)} ${String(a.duplicated).padStart(5)}   ${String(b.lost).padStart(21)} ${String(b.duplicated).padStart(5)}  ${b.crashed}`);
  console.log(`FAULTS ${JSON.stringify({ fault: kind, ours: a, peer: b })}`);
}
process.exit(0);
