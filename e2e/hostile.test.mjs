// Hostile clients against the real chat-server binary, with default limits.
// Every attack comes from other loopback addresses (127.0.0.2 and up) than
// the legitimate client (127.0.0.1), which keeps chatting meanwhile. Each
// test asserts that the server's memory stays within a bound and that the
// legitimate client got every message back, and prints both figures.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { io } from 'socket.io-client';

import { startServer } from './support/server.mjs';
import { connect, send } from './support/client.mjs';

/** What the server may grow by during one attack. Before the limits, the
 * attachment attack alone took it from 11 to 482 MB in 3 s. */
const RSS_BOUND_MB = 64;

/** The legitimate client's round trip (send to its own broadcast), 99th percentile. */
const P99_BOUND_MS = 1000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/VmRSS:\s+(\d+)/)[1]) / 1024;
}

function threads(pid) {
  return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/Threads:\s+(\d+)/)[1]);
}

/** Samples the server's RSS every 100 ms until stopped; returns the peak. */
function watchMemory(pid) {
  let peak = rssMb(pid);
  const start = peak;
  const timer = setInterval(() => { try { peak = Math.max(peak, rssMb(pid)); } catch { /* exited */ } }, 100);
  return { start, stop: () => { clearInterval(timer); return { start, peak, grew: peak - start }; } };
}

/**
 * A legitimate user on 127.0.0.1: sends a message every 600 ms (within the
 * default 2 per second) and times each until its broadcast comes back.
 */
async function legitimateUser(url, name) {
  const { socket } = await connect(url, { transports: ['websocket'] });
  const pending = new Map();
  const rtts = [];
  socket.on('newmessage', (m) => {
    const sentAt = pending.get(m.client_id);
    if (sentAt !== undefined) { rtts.push(performance.now() - sentAt); pending.delete(m.client_id); }
  });
  // Client ids unique to this run: a repeated one would be taken for a resend.
  const run = Math.random().toString(36).slice(2, 10);
  let n = 0;
  let sent = 0;
  const timer = setInterval(() => {
    const clientId = `${name}-${run}-${n++}`;
    pending.set(clientId, performance.now());
    sent += 1;
    socket.emit('newmessage', { user: name, body: `still here ${n}`, client_id: clientId });
  }, 600);
  return {
    async stop() {
      clearInterval(timer);
      const deadline = Date.now() + 5000;
      while (pending.size > 0 && Date.now() < deadline) await sleep(50);
      socket.close();
      const sorted = [...rtts].sort((a, b) => a - b);
      const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? Infinity;
      return { sent, received: rtts.length, p99 };
    },
  };
}

/** Runs `attack` while a legitimate user chats; checks and prints the figures. */
async function underAttack(server, label, attack) {
  const memory = watchMemory(server.pid);
  const user = await legitimateUser(server.url, 'legit');
  const started = Date.now();
  const result = await attack();
  // Short attacks still see a few of the legitimate user's messages.
  await sleep(Math.max(0, 2500 - (Date.now() - started)));
  const chat = await user.stop();
  const mem = memory.stop();
  console.log(`# ${label}: RSS ${mem.start.toFixed(1)} -> peak ${mem.peak.toFixed(1)} MB (+${mem.grew.toFixed(1)}); `
    + `legitimate user ${chat.received}/${chat.sent} back, p99 ${chat.p99.toFixed(1)} ms`
    + (result ? `; ${JSON.stringify(result)}` : ''));
  assert.ok(server.alive(), 'the server is still running');
  assert.ok(mem.grew < RSS_BOUND_MB, `RSS grew by ${mem.grew.toFixed(1)} MB (bound ${RSS_BOUND_MB})`);
  assert.ok(chat.sent >= 3, 'the legitimate user sent during the attack');
  assert.equal(chat.received, chat.sent, 'every message of the legitimate user came back');
  assert.ok(chat.p99 < P99_BOUND_MS, `legitimate p99 ${chat.p99.toFixed(1)} ms (bound ${P99_BOUND_MS})`);
  return result;
}

/** A raw TCP connection from `localAddress`; resolves once connected. */
function tcp(port, localAddress) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves with how long `socket` stayed open (ms), or null if still open after `ms`. */
function closedWithin(socket, ms) {
  const start = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    socket.once('close', () => { clearTimeout(timer); resolve(Date.now() - start); });
    socket.on('error', () => {});
  });
}

/**
 * `GET /healthz` as a health checker does it: a fresh connection, a 3 s
 * deadline, up to 3 tries a second apart. Resolves {status, body, tries}.
 */
async function healthz(port) {
  for (let tries = 1; ; tries += 1) {
    const answer = await new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      let text = '';
      const timer = setTimeout(() => { socket.destroy(); resolve(null); }, 3000);
      socket.on('data', (d) => { text += d; });
      socket.on('close', () => { clearTimeout(timer); resolve(text || null); });
      socket.on('error', () => {});
    });
    if (answer || tries === 3) {
      return { status: Number(answer?.split(' ')[1] ?? 0), body: answer?.split('\r\n\r\n')[1] ?? '', tries };
    }
    await sleep(1000);
  }
}

/** One HTTP request on a fresh connection; resolves {status, headers, body}. */
async function get(url, { headers = {}, method = 'GET' } = {}) {
  const response = await fetch(url, { method, headers, redirect: 'manual' });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

describe('one attacker among users', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  test('unfinished binary attachments are refused, not buffered', async () => {
    const result = await underAttack(server, 'attachments', async () => {
      const wsUrl = `${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`;
      const chunk = Buffer.alloc(60_000, 7);
      const sockets = await Promise.all(Array.from({ length: 50 }, (_, i) => new Promise((resolve) => {
        const ws = new WebSocket(wsUrl, { localAddress: `127.0.0.${2 + (i % 10)}` });
        ws.on('error', () => {});
        ws.on('open', () => {
          ws.send('40');
          ws.send('451000-["newmessage",{"user":"x","body":"y"}]');
          for (let k = 0; k < 20; k += 1) ws.send(chunk);
          resolve(ws);
        });
        ws.on('close', () => resolve(ws));
      })));
      await sleep(3000);
      const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
      for (const ws of sockets) ws.terminate();
      return { sockets: sockets.length, stillOpen: open };
    });
    assert.equal(result.stillOpen, 0, 'every socket announcing attachments was closed');
  });

  test('slowloris: an unfinished request head, and an idle keep-alive connection, are cut off after the header timeout', async () => {
    const result = await underAttack(server, 'slowloris', async () => {
      const partial = await tcp(server.port, '127.0.0.2');
      partial.write('GET / HT');
      const dripping = await tcp(server.port, '127.0.0.3');
      dripping.write('GET / HTTP/1.1\r\nHost: x\r\n');
      const drip = setInterval(() => dripping.write(`X-Drip-${Date.now()}: 1\r\n`), 2000);
      const idle = await tcp(server.port, '127.0.0.4');
      // A keep-alive connection that asked once and then sits idle.
      const kept = await tcp(server.port, '127.0.0.4');
      kept.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      kept.resume(); // read the answer, so its end is seen
      const [a, b, c, d] = await Promise.all([
        closedWithin(partial, 13_000), closedWithin(dripping, 13_000), closedWithin(idle, 13_000),
        closedWithin(kept, 13_000),
      ]);
      clearInterval(drip);
      for (const s of [partial, dripping, idle, kept]) s.destroy();
      return { partialHeadMs: a, drippingHeadMs: b, silentMs: c, idleKeepAliveMs: d };
    });
    for (const [what, ms] of Object.entries(result)) {
      assert.ok(ms !== null && ms <= 12_500, `${what}: closed after ${ms} ms (default timeout 10 s)`);
    }
  });

  test('a polling handshake flood is rate-limited per address and says when to retry', async () => {
    const result = await underAttack(server, 'handshake flood', async () => {
      const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 16, localAddress: '127.0.0.5' });
      const http = await import('node:http');
      const counts = { ok: 0, refused: 0, retryAfter: null };
      const one = () => new Promise((resolve) => {
        const request = http.get(`${server.url}/socket.io/?EIO=4&transport=polling`, { agent }, (response) => {
          if (response.statusCode === 200) counts.ok += 1;
          if (response.statusCode === 429) { counts.refused += 1; counts.retryAfter = response.headers['retry-after']; }
          response.resume();
          response.on('end', resolve);
        });
        request.on('error', resolve);
      });
      const until = Date.now() + 4000;
      const workers = Array.from({ length: 16 }, async () => { while (Date.now() < until) await one(); });
      await Promise.all(workers);
      agent.destroy();
      return counts;
    });
    assert.ok(result.ok <= 30 + 6, `at most the burst and the rate got sessions: ${result.ok}`);
    assert.ok(result.refused > 100, `the rest was refused: ${result.refused}`);
    assert.ok(Number(result.retryAfter) >= 1, 'refusals say when to retry');
  });

  test('many sockets of one client share its rate limit, and refusals say when to retry', async () => {
    const result = await underAttack(server, 'sockets sharing a rate', async () => {
      const clients = await Promise.all(Array.from({ length: 20 }, () => connect(server.url, {
        transports: ['websocket'], localAddress: '127.0.0.6',
      })));
      const acks = await Promise.all(clients.flatMap(({ socket }, i) => Array.from({ length: 10 }, (_, k) =>
        send(socket, { user: `spam${i}`, body: `spam ${k}` }))));
      for (const { socket } of clients) socket.close();
      const accepted = acks.filter((a) => a.accepted).length;
      const limited = acks.filter((a) => a.rejected?.code === 'rate_limited');
      return { sent: acks.length, accepted, retryAfterMs: limited[0]?.rejected.retry_after_ms };
    });
    assert.ok(result.accepted <= 12, `one address's burst, not one per socket: ${result.accepted} of ${result.sent}`);
    assert.ok(result.retryAfterMs > 0, 'the refusal says when to retry');
  });

  test('new user ids are rate-limited per address', async () => {
    const result = await underAttack(server, 'session flood', async () => {
      const statuses = [];
      let retryAfter = null;
      for (let i = 0; i < 60; i += 1) {
        const response = await new Promise((resolve) => {
          const request = net.connect({ host: '127.0.0.1', port: server.port, localAddress: '127.0.0.7' }, () => {
            request.write('POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
          });
          let text = '';
          request.on('data', (d) => { text += d; });
          request.on('end', () => resolve(text));
          request.on('error', () => resolve(''));
        });
        statuses.push(Number(response.split(' ')[1]));
        const header = response.match(/retry-after: (\d+)/i);
        if (header) retryAfter = Number(header[1]);
      }
      return { created: statuses.filter((s) => s === 200).length, refused: statuses.filter((s) => s === 429).length, retryAfter };
    });
    assert.ok(result.created <= 32, `created ${result.created}`);
    assert.ok(result.refused >= 25, `refused ${result.refused}`);
    assert.ok(result.retryAfter >= 1);
  });

  test('a flood of requests for older messages waits its turn on a few threads', async () => {
    const result = await underAttack(server, 'older flood', async () => {
      const clients = await Promise.all(Array.from({ length: 4 }, () => connect(server.url, {
        transports: ['websocket'], localAddress: '127.0.0.8',
      })));
      let peakThreads = threads(server.pid);
      const sampler = setInterval(() => { peakThreads = Math.max(peakThreads, threads(server.pid)); }, 20);
      const started = Date.now();
      const answers = await Promise.all(clients.flatMap(({ socket }) => Array.from({ length: 2000 }, () =>
        new Promise((resolve) => socket.timeout(5000).emit('older', { before: 1_000_000 }, (err, a) => resolve(err ? 'lost' : a))))));
      const seconds = (Date.now() - started) / 1000;
      clearInterval(sampler);
      for (const { socket } of clients) socket.close();
      return {
        requests: answers.length,
        served: answers.filter((a) => Array.isArray(a?.messages)).length,
        limited: answers.filter((a) => a?.rejected?.code === 'rate_limited').length,
        // Answers beyond what a socket may have queued are dropped: a flooder loses them.
        dropped: answers.filter((a) => a === 'lost').length,
        seconds,
        peakThreads,
      };
    });
    const allowance = 20 + 4 * result.seconds + 4;
    assert.ok(result.served <= allowance, `served ${result.served}, allowance ${allowance.toFixed(0)}`);
    assert.ok(result.limited > 1000, `refused: ${result.limited}`);
    assert.ok(result.peakThreads < 40, `threads stayed few: ${result.peakThreads}`);
  });

  test('names that pass for the bot or reorder the line are refused', async () => {
    const { socket } = await connect(server.url, { transports: ['websocket'], localAddress: '127.0.0.9' });
    try {
      for (const user of ['ChatFriend\u200b', '\u200bChatFriend', 'Chat\u2060Friend', '\ufeffChatFriend',
        'ChatFr\u0456end', '\uff23\uff48\uff41\uff54Friend', 'Cha\u0301tFriend', 'ann\u202e']) {
        const ack = await send(socket, { user, body: 'hi' });
        assert.equal(ack.rejected?.code, 'invalid', `${JSON.stringify(user)}: ${JSON.stringify(ack)}`);
      }
    } finally {
      socket.close();
    }
  });

  test('a token of the wrong type and a malformed older request get errors that say so', async () => {
    const refused = await new Promise((resolve) => {
      const socket = io(server.url, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token: 12345 } });
      socket.once('connect', () => { socket.close(); resolve(null); });
      socket.once('connect_error', (error) => { socket.close(); resolve(error.message); });
    });
    assert.match(refused ?? 'connected anyway', /token must be a string/);
    const { socket } = await connect(server.url, { transports: ['websocket'] });
    const answer = await socket.timeout(5000).emitWithAck('older', { before: 'yesterday' });
    socket.close();
    assert.equal(answer.rejected.code, 'malformed');
    assert.match(answer.rejected.message, /older messages/);
  });
});

describe('output and storage', () => {
  // Seeding 1,100 long messages needs the message limits out of the way;
  // everything under test keeps its default.
  let server;
  before(async () => {
    server = await startServer({ args: ['--message-burst', '100000', '--messages-per-second', '100000', '--store-bytes-per-minute', '100000000'] });
  });
  after(async () => { await server?.stop(); });

  test('clients far behind that stop reading cost a bounded page each, not everything they missed', async () => {
    const { socket: seeder } = await connect(server.url, { transports: ['websocket'], localAddress: '127.0.0.20' });
    const body = 'x'.repeat(1900);
    for (let i = 0; i < 1100; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, k) => send(seeder, { user: 'seed', body: `${i + k} ${body}` })));
    }
    seeder.close();
    const result = await underAttack(server, 'far behind, not reading', async () => {
      const wsUrl = `${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`;
      const sockets = await Promise.all(Array.from({ length: 100 }, (_, i) => new Promise((resolve) => {
        const ws = new WebSocket(wsUrl, { localAddress: `127.0.0.${21 + (i % 4)}` });
        ws.on('error', () => {});
        ws.on('open', () => {
          ws.send('40{"lastId":1}');
          // Then never read again: the kernel buffers fill, then the server's queue.
          ws._socket.pause();
          resolve(ws);
        });
      })));
      await sleep(3000);
      for (const ws of sockets) ws.terminate();
      return { clients: sockets.length };
    });
    assert.equal(result.clients, 100);
    // A client that does read gets the latest page, marked as a reset, and pages back.
    const { socket, inbox } = await connect(server.url, { transports: ['websocket'], auth: { lastId: 1 } });
    const [history] = await inbox.take('history');
    socket.close();
    assert.equal(history.reset, true);
    assert.equal(history.more, true);
    const bytes = JSON.stringify(history).length;
    assert.ok(bytes <= 140_000, `one page is bounded: ${bytes} bytes, ${history.messages.length} messages`);
  });

  test("a client that writes much is stopped by its storage allowance", async () => {
    const own = await startServer({ args: ['--message-burst', '1000', '--messages-per-second', '1000', '--store-bytes-per-minute', '40000'] });
    try {
      const result = await underAttack(own, 'storage flood', async () => {
        const { socket } = await connect(own.url, { transports: ['websocket'], localAddress: '127.0.0.30' });
        const body = 'y'.repeat(1990);
        const acks = [];
        for (let i = 0; i < 100; i += 1) acks.push(await send(socket, { user: 'writer', body: `${i} ${body}` }));
        socket.close();
        const refused = acks.filter((a) => a.rejected?.code === 'rate_limited');
        return {
          accepted: acks.filter((a) => a.accepted).length,
          refused: refused.length,
          message: refused[0]?.rejected.message,
          retryAfterMs: refused[0]?.rejected.retry_after_ms,
        };
      });
      assert.ok(result.accepted <= 20, `about 40 KB stored: ${result.accepted} messages of 2 KB`);
      assert.match(result.message, /a lot in the last minute/);
      assert.ok(result.retryAfterMs > 0);
    } finally {
      await own.stop();
    }
  });
});

describe('file descriptors', () => {
  let server;
  before(async () => { server = await startServer({ fdLimit: 1024 }); });
  after(async () => { await server?.stop(); });

  test('1,200 silent connections from many addresses leave /healthz and the chat working', async () => {
    const result = await underAttack(server, 'fd exhaustion (ulimit -n 1024)', async () => {
      const sockets = [];
      for (let a = 0; a < 24; a += 1) {
        const opened = await Promise.allSettled(Array.from({ length: 50 }, () => tcp(server.port, `127.0.1.${a + 1}`)));
        for (const s of opened) if (s.status === 'fulfilled') { s.value.on('error', () => {}); sockets.push(s.value); }
      }
      const health = await healthz(server.port);
      const fds = readdirSync(`/proc/${server.pid}/fd`).length;
      for (const s of sockets) s.destroy();
      return { opened: sockets.length, serverFds: fds, healthz: health.status, body: health.body.trim(), tries: health.tries };
    });
    assert.equal(result.healthz, 200);
    assert.equal(result.body, 'ok');
    assert.doesNotMatch(server.log(), /Too many open files/);
  });

  test('one address gets its share of connections and a clear refusal beyond it', async () => {
    const sockets = await Promise.all(Array.from({ length: 70 }, () => tcp(server.port, '127.0.2.1')));
    const answer = await new Promise((resolve) => {
      const last = sockets.at(-1);
      let text = '';
      last.on('data', (d) => { text += d; });
      last.on('close', () => resolve(text));
      last.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    for (const s of sockets) s.destroy();
    assert.match(answer, /^HTTP\/1.1 503/);
    assert.match(answer, /retry-after: 10/i);
    assert.match(answer, /Too many connections from your address/);
  });
});

describe('HTTP', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  test('pages carry a strict policy, hashed files are cached for good, missing files are 404', async () => {
    const page = await get(`${server.url}/`);
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval' 'sha256-/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const wasm = page.body.match(/\/[\w-]+_bg\.wasm/)[0];
    const bundle = await fetch(`${server.url}${wasm}`, { headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(bundle.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(bundle.headers.get('content-encoding'), 'br');
    await bundle.arrayBuffer();
    assert.equal((await get(`${server.url}/missing.js`)).status, 404);
    assert.equal((await get(`${server.url}/some/page/route`)).status, 200);
  });

  test('Socket.IO refuses pages of other origins, and null', async () => {
    for (const origin of ['https://evil.example', 'null']) {
      const response = await get(`${server.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin } });
      assert.equal(response.status, 403, origin);
      assert.match(response.body, /may not use this chat server/);
    }
    const own = await get(`${server.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: server.url } });
    assert.equal(own.status, 200);
    const upgraded = await new Promise((resolve) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, { origin: 'https://evil.example' });
      ws.on('open', () => { ws.close(); resolve('open'); });
      ws.on('unexpected-response', (_, response) => resolve(response.statusCode));
      ws.on('error', () => resolve('error'));
    });
    assert.equal(upgraded, 403);
  });

  test('the data folder and its files are private to the server', async () => {
    const mode = (path) => statSync(path).mode & 0o777;
    assert.equal(mode(server.dataDir), 0o700);
    assert.equal(mode(join(server.dataDir, 'chat.db')), 0o600);
    assert.equal(mode(join(server.dataDir, 'secret')), 0o600);
  });
});
