import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ACME_DEFAULTS, AcmeConfigSchema, certId } from '../src/index.js';

const exec = promisify(execFile);
const PLEXUS = fileURLToPath(new URL('./cli/main.js', import.meta.resolve('@plexus/core')));
const DIR = 'https://acme-staging-v02.api.letsencrypt.org/directory';

/** The path of the first issue, as `plexus check-config` prints it (`plugins.acme.<path>`). */
function firstIssue(raw: unknown): string | undefined {
  const r = AcmeConfigSchema.safeParse(raw);
  return r.success ? undefined : r.error.issues[0]!.path.join('.');
}

test('defaults: the issue example is complete with only directory and certificates', () => {
  const c = AcmeConfigSchema.parse({ directory: DIR, certificates: [{ names: ['*.host1.gateway.tf', 'host1.gateway.tf'] }] });
  assert.equal(c.challenge, 'dns-01');
  assert.equal(c.renewBeforeDays, ACME_DEFAULTS.renewBeforeDays);
  assert.deepEqual(c.dnsServers, []);
  assert.equal(c.serveIssue, false);
  assert.equal(certId(c.certificates[0]!.names[0]!), '_wildcard.host1.gateway.tf');
});

test('strict: each bad key is named', () => {
  const table: [unknown, string][] = [
    [{ directory: DIR, lisen: 1 }, ''],
    [{ directory: 'ftp://x' }, 'directory'],
    [{}, 'directory'],
    [{ directory: DIR, email: 'nope' }, 'email'],
    [{ directory: DIR, challenge: 'tls-alpn-01' }, 'challenge'],
    [{ directory: DIR, certificates: [{ names: [] }] }, 'certificates.0.names'],
    [{ directory: DIR, certificates: [{ names: ['a..b'] }] }, 'certificates.0.names.0'],
    [{ directory: DIR, certificates: [{ names: ['*.*.b.tf'] }] }, 'certificates.0.names.0'],
    [{ directory: DIR, certificates: [{ names: ['a.tf', 'a.tf'] }] }, 'certificates.0.names'],
    [{ directory: DIR, certificates: [{ names: ['a.tf'], extra: 1 }] }, 'certificates.0'],
    [{ directory: DIR, challenge: 'http-01', certificates: [{ names: ['*.a.tf'] }] }, 'certificates.0.names'],
    [{ directory: DIR, certificates: [{ names: ['a.tf'] }, { names: ['a.tf', 'b.tf'] }] }, 'certificates.1.names.0'],
    [{ directory: DIR, dnsServers: ['ns1.example.org:53'] }, 'dnsServers.0'],
    [{ directory: DIR, renewBeforeDays: 0 }, 'renewBeforeDays'],
    [{ directory: DIR, retryMinSeconds: 100, retryMaxSeconds: 10 }, 'retryMinSeconds'],
    [{ directory: DIR, onRenew: { command: [] } }, 'onRenew.command'],
    [{ directory: DIR, onRenew: { command: ['x'], shell: true } }, 'onRenew'],
  ];
  for (const [raw, path] of table) assert.equal(firstIssue(raw), path, JSON.stringify(raw));
});

test('plexus check-config exits 2 naming plugins.acme.<key>', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-acme-config-'));
  try {
    const file = join(dir, 'node.yaml');
    await writeFile(file, `node: { name: t, dataDir: ${join(dir, 'data')} }\nplugins:\n  acme: { directory: ${DIR}, renewBeforeDay: 30 }\n`);
    const r = await exec(process.execPath, [PLEXUS, 'check-config', '--config', file]).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /plugins\.acme\.renewBeforeDay: unknown key 'renewBeforeDay'/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
