/**
 * Two network namespaces joined by one veth pair (eth1 on each side) for the
 * linux_tc data-plane tests: A at <net>.1, B at <net>.2 and <net>.3 (lab
 * addresses in 198.18.0.0/15), an iperf3 server in B. Needs root; stop()
 * removes the server and both namespaces, also after a partial start.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';

export interface VethLab {
  stop(): Promise<void>;
}

/** `net` is the first three octets, e.g. `198.18.10`. */
export async function startVethLab(a: string, b: string, net: string): Promise<VethLab> {
  let server: ChildProcess | undefined;
  const stop = async () => {
    if (server && server.exitCode === null) {
      const gone = new Promise<void>((res) => server!.once('exit', () => res()));
      server.kill('SIGTERM');
      await gone;
    }
    spawnSync('ip', ['netns', 'del', a]);
    spawnSync('ip', ['netns', 'del', b]);
  };
  try {
    execFileSync('ip', ['netns', 'add', a]);
    execFileSync('ip', ['netns', 'add', b]);
    execFileSync('ip', ['-n', a, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', b]);
    execFileSync('ip', ['-n', a, 'addr', 'add', `${net}.1/24`, 'dev', 'eth1']);
    execFileSync('ip', ['-n', b, 'addr', 'add', `${net}.2/24`, 'dev', 'eth1']);
    execFileSync('ip', ['-n', b, 'addr', 'add', `${net}.3/24`, 'dev', 'eth1']);
    for (const ns of [a, b]) {
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      execFileSync('ip', ['-n', ns, 'link', 'set', 'eth1', 'up']);
    }
    server = spawn('ip', ['netns', 'exec', b, 'iperf3', '-s', '-B', '0.0.0.0'], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      if (spawnSync('ip', ['netns', 'exec', a, 'bash', '-c', `exec 3<>/dev/tcp/${net}.2/5201`], { stdio: 'ignore' }).status === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
