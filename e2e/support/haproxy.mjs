// haproxy from Debian's packages with the configuration we ship
// (deploy/haproxy.cfg), its ports replaced by the test's: in front of the
// given chat-server nodes, on a free loopback port. Stopped by PID.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from './postgres.mjs';
import { answering, stopProcess } from './process.mjs';

const HAPROXY = '/usr/sbin/haproxy';
const SHIPPED = new URL('../../deploy/haproxy.cfg', import.meta.url);

/**
 * Starts haproxy in front of `nodes` (two `http://127.0.0.1:PORT` URLs);
 * resolves with its URL once it answers.
 */
export async function startHaproxy(nodes) {
  if (!existsSync(HAPROXY)) throw new Error(`haproxy is missing (${HAPROXY}); \`cargo xtask test\` installs it`);
  if (nodes.length !== 2) throw new Error('deploy/haproxy.cfg is for two nodes');
  const folder = mkdtempSync(join(tmpdir(), 'chat-haproxy-'));
  const port = await freePort();
  const shipped = readFileSync(SHIPPED, 'utf8');
  let config = shipped.replace('bind 127.0.0.1:8080', `bind 127.0.0.1:${port}`);
  nodes.forEach((url, i) => {
    config = config.replace(`127.0.0.1:${3001 + i} `, `${new URL(url).host} `);
  });
  if (/:300[12] /.test(config) || !config.includes(`bind 127.0.0.1:${port}`)) {
    throw new Error('deploy/haproxy.cfg no longer has the node addresses and bind line the tests replace');
  }
  const path = join(folder, 'haproxy.cfg');
  writeFileSync(path, config);
  // -db: in the foreground, not a daemon; the PID is haproxy's own.
  const child = spawn(HAPROXY, ['-db', '-f', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (chunk) => { log += chunk; });
  child.stderr.on('data', (chunk) => { log += chunk; });
  const url = `http://127.0.0.1:${port}`;
  await answering(`${url}/healthz`, child, 'haproxy', () => log);
  return {
    url,
    log: () => log,
    async stop() {
      await stopProcess(child, 'SIGTERM');
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
