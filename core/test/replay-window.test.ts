import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPLAY_WINDOW_FILE, ReplayWindow } from '../src/rpc/replay-window.js';
import { ensureDataDir } from '../src/data-dir.js';
import { rejectsWithCode, tempDir } from './helpers.js';

const SKEW = 30_000;

async function recorded(dir: string): Promise<number> {
  return (JSON.parse(await readFile(join(dir, REPLAY_WINDOW_FILE), 'utf8')) as { acceptedUntil: number }).acceptedUntil;
}

test('a fresh identity accepts from its start; a restart refuses every ts the earlier run admitted', async (t) => {
  const dir = await tempDir(t);
  const t0 = Date.now();
  const first = await ReplayWindow.open(dir, { maxClockSkewMs: SKEW, fresh: true }, t0);
  assert.equal(first.notBefore, t0);
  // A request signed 4 s ahead is admitted only once the record covers it.
  await first.admit(t0 + 4000);
  assert.ok(first.acceptedUntil >= t0 + 4000);
  assert.equal(await recorded(dir), first.acceptedUntil);

  // Restarted 1 s later (a crash: nothing more was written).
  const second = await ReplayWindow.open(dir, { maxClockSkewMs: SKEW, fresh: false }, t0 + 1000);
  assert.ok(second.notBefore > t0 + 4000, `notBefore ${second.notBefore - t0} must be past the admitted ts`);
  // Honest traffic after the window is admitted again.
  await second.admit(second.notBefore);
});

test('admits near the mark extend it in the background; one write covers many requests', async (t) => {
  const dir = await tempDir(t);
  const t0 = Date.now();
  const w = await ReplayWindow.open(dir, { maxClockSkewMs: SKEW, fresh: true }, t0);
  await Promise.all(Array.from({ length: 50 }, (_, i) => w.admit(t0 + i)));
  const mark = w.acceptedUntil;
  assert.ok(mark >= t0 + 49);
  // Below the mark by more than half a lease: no write at all.
  await w.admit(t0);
  assert.equal(await recorded(dir), mark);
});

test('without a record, an identity that may have served refuses the old forward allowance once', async (t) => {
  const dir = await tempDir(t);
  const t0 = Date.now();
  const w = await ReplayWindow.open(dir, { maxClockSkewMs: SKEW, fresh: false }, t0);
  assert.equal(w.notBefore, t0 + SKEW + 1);
  // A torn record is treated the same way.
  await writeFile(join(dir, REPLAY_WINDOW_FILE), '{"acceptedUnt');
  const torn = await ReplayWindow.open(dir, { maxClockSkewMs: SKEW, fresh: false }, t0);
  assert.equal(torn.notBefore, t0 + SKEW + 1);
  // `plexus id --create` records "nothing accepted" next to a new key.
  await ReplayWindow.initialise(dir);
  assert.equal((await ReplayWindow.open(dir, { maxClockSkewMs: SKEW, fresh: false }, t0)).notBefore, t0);
});

test('a record that cannot be written refuses the request with ERR_UNAVAILABLE', async (t) => {
  const dir = await tempDir(t);
  const w = await ReplayWindow.open(dir, { maxClockSkewMs: SKEW, fresh: true });
  // A non-empty directory where the record goes: the atomic rename fails even for root, which
  // file modes would not stop.
  await rm(join(dir, REPLAY_WINDOW_FILE));
  await mkdir(join(dir, REPLAY_WINDOW_FILE, 'blocker'), { recursive: true });
  await rejectsWithCode(() => w.admit(Date.now() + 3000), 'ERR_UNAVAILABLE');
});

test('ensureDataDir creates missing parents, and fails fast with ERR_DATA_DIR where nothing can be created', async (t) => {
  const dir = await tempDir(t);
  await ensureDataDir(join(dir, 'a', 'b', 'c'));
  await writeFile(join(dir, 'file'), 'x');
  const notDir = await rejectsWithCode(() => ensureDataDir(join(dir, 'file', 'sub')), 'ERR_DATA_DIR');
  assert.match(notDir.message, /not a directory/);
  // /proc refuses creation with ENOENT: Node's recursive mkdir would spin forever on it.
  const started = Date.now();
  const proc = await rejectsWithCode(() => ensureDataDir('/proc/plexus-data'), 'ERR_DATA_DIR');
  assert.match(proc.message, /\/proc\/plexus-data/);
  assert.ok(Date.now() - started < 1000);
  await rm(join(dir, 'a'), { recursive: true });
});
