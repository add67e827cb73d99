import { FailoverClient, PlexusError, generateKeyPair, toHex, type Ed25519KeyPair } from '@plexus/core';

/**
 * A registration client for the explorer HA test and bench, run as its own process inside a host's
 * network namespace (`nsenter --net=... node ha-client.js`). Environment:
 *   EXPLORERS  comma-separated explorer multiaddrs, tried in order (FailoverClient)
 *   OWNER      phonebook name the client registers first and then puts A records below
 *   ONCE       set: one `name_register` of the name ONCE (a fresh key) to the first explorer only, no failover
 *   TIMEOUT_MS per-call deadline (default 3000)
 * Prints one JSON line per outcome on stdout: {"ack": i, "at": ms} for an acknowledged
 * registration of `r<i>.OWNER` -> ipFor(i), {"fail": i, "code": ...} for one given up on, and
 * for ONCE {"once": "ok"} or {"once": code}. Runs until SIGTERM; ends after the current call.
 */
const PHONEBOOK = '/plexus/phonebook/1';
const GATEWAY = '/plexus/gateway/1';

/** The address registered for `r<i>`: unique per i, so a DNS answer proves which write it saw. */
export function ipFor(i: number): string {
  return `10.99.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

async function main(): Promise<void> {
  const targets = (process.env.EXPLORERS ?? '').split(',').filter((t) => t !== '');
  const owner = process.env.OWNER ?? 'loop';
  const timeoutMs = Number(process.env.TIMEOUT_MS ?? 3000);
  const key: Ed25519KeyPair = generateKeyPair();
  const print = (o: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify(o)}\n`);
  };
  if (process.env.ONCE !== undefined) {
    const once = new FailoverClient(targets.slice(0, 1), { key, timeoutMs, failoverMs: 0 });
    try {
      await once.call(PHONEBOOK, 'name_register', { name: process.env.ONCE, email: 'ha@example.com', pubkey: toHex(key.publicKey) }, { signed: true });
      print({ once: 'ok' });
    } catch (err) {
      print({ once: err instanceof PlexusError ? err.code : String(err) });
    } finally {
      await once.close();
    }
    return;
  }
  let stopping = false;
  process.on('SIGTERM', () => {
    stopping = true;
  });
  const client = new FailoverClient(targets, { key, timeoutMs, failoverMs: 60_000 });
  const started = Date.now();
  // The owner name first (idempotent for the same key: a retry returns the same record).
  for (;;) {
    try {
      await client.call(PHONEBOOK, 'name_register', { name: owner, email: 'ha@example.com', pubkey: toHex(key.publicKey) }, { signed: true });
      break;
    } catch (err) {
      print({ owner: err instanceof PlexusError ? err.code : String(err) });
    }
  }
  print({ ready: true });
  for (let i = 0; !stopping; i++) {
    try {
      await client.call(GATEWAY, 'domain_register_a', { name: `r${i}.${owner}`, record_ip: ipFor(i) }, { signed: true });
      print({ ack: i, at: Date.now() - started });
    } catch (err) {
      print({ fail: i, code: err instanceof PlexusError ? err.code : String(err), at: Date.now() - started });
    }
  }
  await client.close();
}

if (process.argv[1]?.endsWith('ha-client.js')) {
  main().then(() => process.exit(0), (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
}
