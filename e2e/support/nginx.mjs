// nginx from Debian's packages with the configuration we ship
// (deploy/nginx.conf), its ports replaced by the test's: in front of the
// given chat-server nodes, on a free loopback port. Stopped by PID.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from './postgres.mjs';
import { answering, stopProcess } from './process.mjs';

const NGINX = '/usr/sbin/nginx';
const SHIPPED = new URL('../../deploy/nginx.conf', import.meta.url);

/**
 * Starts nginx in front of `nodes` (their `http://127.0.0.1:PORT` URLs);
 * resolves with its URL once it answers.
 */
export async function startNginx(nodes) {
  if (!existsSync(NGINX)) throw new Error(`nginx is missing (${NGINX}); \`cargo xtask test\` installs it`);
  const folder = mkdtempSync(join(tmpdir(), 'chat-nginx-'));
  // Workers run as nobody when we are root: they need to write here.
  mkdirSync(join(folder, 'tmp'));
  chmodSync(folder, 0o755);
  chmodSync(join(folder, 'tmp'), 0o777);
  const port = await freePort();
  const shipped = readFileSync(SHIPPED, 'utf8');
  // The shipped file names two nodes, 127.0.0.1:3001 and :3002, in its
  // upstream and its maps (plain and as regular expressions).
  if (nodes.length !== 2) throw new Error('deploy/nginx.conf is for two nodes');
  let config = shipped.replace('listen 127.0.0.1:8080;', `listen 127.0.0.1:${port};`);
  nodes.forEach((url, i) => {
    const { host } = new URL(url);
    const shippedHost = `127.0.0.1:${3001 + i}`;
    config = config.replaceAll(shippedHost, host).replaceAll(shippedHost.replaceAll('.', '\\.'), host.replaceAll('.', '\\.'));
  });
  if (config === shipped || !config.includes(`listen 127.0.0.1:${port};`) || /:300[12]\b/.test(config)) {
    throw new Error('deploy/nginx.conf no longer has the node addresses and listen line the tests replace');
  }
  const path = join(folder, 'nginx.conf');
  writeFileSync(path, config);
  const child = spawn(NGINX, ['-p', folder, '-e', 'stderr', '-c', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (chunk) => { log += chunk; });
  const url = `http://127.0.0.1:${port}`;
  await answering(`${url}/healthz`, child, 'nginx', () => log);
  return {
    url,
    log: () => log,
    async stop() {
      await stopProcess(child, 'SIGQUIT');
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
