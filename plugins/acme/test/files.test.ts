import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertFiles, writeSecretFile } from '../src/files.js';

test('secret files are 0600 (also when a world-readable one was there), directories 0700', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-acme-files-'));
  try {
    const path = join(dir, 'key.pem');
    await writeFile(path, 'old', { mode: 0o644 });
    await writeFile(`${path}.tmp`, 'stale', { mode: 0o644 });
    await writeSecretFile(path, 'new');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const files = new CertFiles(join(dir, 'certs', 'a.tf'));
    await files.saveState({ names: ['a.tf'], challenge: 'dns-01', pending: [], failures: 0 });
    assert.equal((await stat(files.dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(files.dir, 'state.json'))).mode & 0o777, 0o600);
    assert.deepEqual((await files.loadState())?.names, ['a.tf']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
