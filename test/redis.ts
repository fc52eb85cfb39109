/**
 * A real redis-server on a loopback port for the tests that need one (the sweep queue), started per test
 * file and stopped afterwards. Where redis-server is missing it is installed from Debian's package when
 * running as root on Debian (as CI does); elsewhere the caller skips its tests, saying why.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

export interface RedisServer { url: string; port: number; stop(): Promise<void> }

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Makes sure redis-server exists; returns why not when it cannot. */
export function ensureRedis(): string | null {
  if (which('redis-server')) return null;
  const root = process.getuid?.() === 0;
  if (!root || !existsSync('/etc/debian_version') || !which('apt-get')) return 'redis-server is not installed (apt-get install redis-server, as root)';
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], { env, encoding: 'utf8' });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { env });
    r = spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], { env, encoding: 'utf8' });
  }
  return which('redis-server') ? null : `installing redis-server failed: ${(r.stderr || r.stdout).slice(-300)}`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const proc: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`redis-server did not start on port ${port}: ${out}`)), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) { clearTimeout(t); resolve(); }
    });
    proc.once('exit', (code) => { clearTimeout(t); reject(new Error(`redis-server exited with ${code}: ${out}`)); });
  });
  return {
    url: `redis://127.0.0.1:${port}/0`, port,
    stop: () => new Promise((resolve) => { proc.once('exit', () => resolve()); proc.kill('SIGTERM'); }),
  };
}
