import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareStreamIds, streamEntriesLost } from '../src/formats/zone-changes.js';
import { startRedis } from '../src/testing/redis.js';

/** The change stream's bookkeeping, against what a real redis-server's XINFO STREAM says. */

test('compareStreamIds orders by milliseconds, then sequence, as numbers', () => {
  assert.equal(compareStreamIds('2-0', '10-0'), -1);
  assert.equal(compareStreamIds('5-10', '5-9'), 1);
  assert.equal(compareStreamIds('1796136774288-1', '1796136774288-1'), 0);
  assert.equal(compareStreamIds('0-0', '1-0'), -1);
});

test('streamEntriesLost: entries after the reader deleted or trimmed are lost; ones it read are not', async (t) => {
  const redis = await startRedis({ tmpPrefix: 'plexus-core-stream-' });
  t.after(() => redis.stop());
  const c = redis.client();
  const add = async (): Promise<string> => (await c.xadd('s', '*', 'k', 'z.', 'f', 'x'))!;
  const lost = async (lastId: string): Promise<boolean> => streamEntriesLost((await c.call('XINFO', 'STREAM', 's')) as unknown[], lastId);
  const ids = [await add(), await add(), await add(), await add()];
  assert.equal(await lost('0-0'), false, 'nothing removed');
  assert.equal(await lost(ids[1]!), false);
  // Trimmed: entries up to ids[1] go. A reader at ids[2] had read them; one at ids[0] lost ids[1].
  await c.xtrim('s', 'MAXLEN', 2);
  assert.equal(await lost(ids[2]!), false, 'trimmed only what the reader had');
  assert.equal(await lost(ids[0]!), true, 'ids[1] was trimmed unread');
  // A trim that stopped exactly at the reader: said lost (a re-read for nothing, never a miss).
  assert.equal(await lost(ids[1]!), true);
  assert.equal(await lost('0-0'), true, 'a reader from the start lost two');
  // Deleted: XDEL of an entry after the reader.
  await c.xdel('s', ids[3]!);
  assert.equal(await lost(ids[2]!), true, 'ids[3] deleted unread');
  assert.equal(await lost(ids[3]!), false, 'the reader had ids[3]');
});
