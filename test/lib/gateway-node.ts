import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type CliResult, NodeProcess, explorerConfig, freePort, runCli } from './harness.js';

const exec = promisify(execFile);

/**
 * One real `plexus` node with store, phonebook, gateway and dns on loopback, for tests that
 * register through the CLI and check what DNS answers with the real `dig`.
 */
export interface GatewayNode {
  node: NodeProcess;
  dnsPort: number;
  redisPort: number;
  /** `plexus ARGS --explorer <node> --json`, signed with `dir/<who>.key` when `who` is given. */
  cli(args: string[], who?: string): Promise<CliResult>;
  /** `dig +short` lines; '' when nothing answered. */
  dig(name: string, type?: string): Promise<string>;
  /** Polls `dig` until `pred` holds (a condition with a deadline, never a sleep). */
  digUntil(name: string, type: string, pred: (answer: string) => boolean, timeoutMs?: number): Promise<string>;
  /** `redis-cli` against the node's store, for data written by something else than the gateway. */
  redis(...args: string[]): Promise<string>;
}

export const ZONE = 'threebot.gateway.tf';
export const PUBLIC_IP = '203.0.113.1';

export async function startGatewayNode(dir: string): Promise<GatewayNode> {
  const dnsPort = await freePort();
  const { file, ports } = await explorerConfig(
    dir,
    `  gateway: { zones: [${ZONE}], publicIps: [${PUBLIC_IP}] }
  dns: { listen: ['127.0.0.1:${dnsPort}'], zones: [${ZONE}] }
`,
  );
  const node = await NodeProcess.start(file);
  const dig = async (name: string, type = 'A'): Promise<string> => {
    try {
      const { stdout } = await exec('dig', ['@127.0.0.1', '-p', String(dnsPort), name, type, '+short', '+time=1', '+tries=1'], { timeout: 5000 });
      return stdout.trim();
    } catch (err) {
      return `error: ${(err as Error).message}`;
    }
  };
  return {
    node,
    dnsPort,
    redisPort: ports.redis,
    cli: (args, who) => runCli([...args, ...(who === undefined ? [] : ['--key', join(dir, `${who}.key`)]), '--explorer', node.multiaddr, '--json']),
    dig,
    async digUntil(name, type, pred, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      let last = '';
      while (Date.now() < deadline) {
        last = await dig(name, type);
        if (pred(last)) return last;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`dig ${name} ${type}: still '${last}' after ${timeoutMs} ms`);
    },
    async redis(...args) {
      // The managed store generated its password at start (store plugin README, `password`).
      const password = (await readFile(join(dir, 'data', 'store', 'redis.password'), 'utf8')).trim();
      const { stdout } = await exec('redis-cli', ['-p', String(ports.redis), ...args], { timeout: 5000, env: { ...process.env, REDISCLI_AUTH: password } });
      return stdout.trim();
    },
  };
}
