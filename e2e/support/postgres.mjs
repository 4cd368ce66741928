// A throwaway PostgreSQL for the tests that run several nodes: Debian's
// server binaries (installed by `cargo xtask test`), a cluster initialised
// in a temporary folder and started on a free loopback port, as the
// unprivileged user nobody when the tests run as root (initdb refuses
// root). It can be restarted the hard way (`pg_ctl restart -m immediate`),
// and is stopped by PID.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { stopProcess } from './process.mjs';

const BIN = '/usr/lib/postgresql/15/bin';
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

/** `program args`, as nobody when we are root (setpriv execs it: same PID). */
function command(program, args) {
  return asRoot
    ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', program, ...args]]
    : [program, args];
}

/** A loopback port that is free now. */
export async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/** Starts a fresh cluster (on `port`, or a free one); resolves once it accepts connections. */
export async function startPostgres({ port: wanted } = {}) {
  if (!existsSync(join(BIN, 'postgres'))) {
    throw new Error(`PostgreSQL 15 is missing (${BIN}); \`cargo xtask test\` installs it`);
  }
  const folder = mkdtempSync(join(tmpdir(), 'chat-pg-'));
  if (asRoot) chownSync(folder, NOBODY, NOBODY);
  const data = join(folder, 'data');
  const [initdb, initArgs] = command(join(BIN, 'initdb'), ['--username=postgres', '--auth=trust', '--encoding=UTF8', '--no-sync', '--pgdata', data]);
  const made = spawnSync(initdb, initArgs, { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`initdb failed: ${made.stderr}`);
  const port = wanted ?? await freePort();
  const settings = ['-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', folder, '-c', 'max_connections=300'];
  let child;
  let log = '';
  const run = async () => {
    const [program, args] = command(join(BIN, 'postgres'), ['-D', data, ...settings]);
    child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (chunk) => { log += chunk; });
    await ready();
  };
  const ready = async () => {
    for (const started = Date.now(); Date.now() - started < 30_000;) {
      const probe = spawnSync(join(BIN, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)]);
      if (probe.status === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`PostgreSQL did not start:\n${log}`);
  };
  await run();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    log: () => log,
    /**
     * Stops the server the hard way (SIGQUIT: immediate shutdown, what
     * `pg_ctl restart -m immediate` does: no checkpoint, connections
     * dropped, crash recovery at the next start) and starts it again.
     */
    async restartImmediately() {
      const exited = once(child, 'exit');
      child.kill('SIGQUIT');
      await exited;
      await run();
    },
    /** Stops the server (SIGINT: fast shutdown) and removes its folder. */
    async stop() {
      await stopProcess(child, 'SIGINT');
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
