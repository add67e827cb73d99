import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InfoAnswer } from '../src/client.js';
import { buildStatus, parseInfo, parseReplicas, type StoreStatusReport } from '../src/status.js';

/** INFO text as redis sends it: a section header, `key:value` lines, CRLF. */
function info(fields: Record<string, string | number>): string {
  return ['# Replication', ...Object.entries(fields).map(([k, v]) => `${k}:${v}`), ''].join('\r\n');
}

const REPLID = 'ef2b11b2577e8916385245c88e6a6f5c8de18f03';
const OTHER_REPLID = 'afc2705647bb41f43652cf7f68862c8f474aa19e';

const replicaUp = {
  role: 'slave',
  master_host: '10.1.0.1',
  master_port: 6378,
  master_link_status: 'up',
  master_last_io_seconds_ago: 2,
  master_sync_in_progress: 0,
  slave_read_repl_offset: 900,
  slave_repl_offset: 900,
  connected_slaves: 0,
  master_replid: REPLID,
  master_repl_offset: 900,
};
const replicaDown = {
  ...replicaUp,
  master_link_status: 'down',
  master_last_io_seconds_ago: -1,
  master_link_down_since_seconds: 42,
};
const masterAt = (offset: number, replid = REPLID): InfoAnswer => ({
  ok: true,
  info: info({ role: 'master', connected_slaves: 1, master_replid: replid, master_repl_offset: offset }),
});

const base = { managed: true, address: '127.0.0.1:6379', keys: 3, configuredMaster: '10.1.0.1:6378' };

describe('buildStatus', () => {
  const cases: { name: string; local: Record<string, string | number>; master?: InfoAnswer; expected: StoreStatusReport }[] = [
    {
      name: 'master with two replicas, one still syncing',
      local: {
        role: 'master',
        connected_slaves: 2,
        slave0: 'ip=10.1.0.2,port=6379,state=online,offset=1000,lag=0',
        slave1: 'ip=fd00::3,port=6380,state=wait_bgsave,offset=0,lag=1',
        master_replid: REPLID,
        master_repl_offset: 1014,
      },
      expected: {
        ...{ role: 'master', managed: true, address: '127.0.0.1:6379', keys: 3 },
        connectedReplicas: 2,
        replicas: [
          { addr: '10.1.0.2:6379', state: 'online', offset: 1000, lagBytes: 14 },
          { addr: '[fd00::3]:6380', state: 'wait_bgsave', offset: 0, lagBytes: 1014 },
        ],
      },
    },
    {
      name: 'master without replicas',
      local: { role: 'master', connected_slaves: 0, master_repl_offset: 0 },
      expected: { role: 'master', managed: true, address: '127.0.0.1:6379', keys: 3, connectedReplicas: 0, replicas: [] },
    },
    {
      name: 'replica in sync: lag is the master offset minus the applied offset',
      local: replicaUp,
      master: masterAt(1250),
      expected: {
        role: 'replica', managed: true, address: '127.0.0.1:6379', keys: 3,
        masterHost: '10.1.0.1:6378', masterLink: 'up', syncInProgress: false, lastIoSecondsAgo: 2, lagBytes: 350,
      },
    },
    {
      name: 'replica whose master is unreachable: link down, lag unknown, reason given',
      local: replicaDown,
      master: { ok: false, error: 'connect ECONNREFUSED 10.1.0.1:6378', authFailed: false },
      expected: {
        role: 'replica', managed: true, address: '127.0.0.1:6379', keys: 3,
        masterHost: '10.1.0.1:6378', masterLink: 'down', syncInProgress: false, linkDownSinceSeconds: 42,
        masterError: 'connect ECONNREFUSED 10.1.0.1:6378',
      },
    },
    {
      name: 'replica that redis still thinks linked, but the master does not answer us: down',
      local: replicaUp,
      master: { ok: false, error: 'no answer within 500 ms', authFailed: false },
      expected: {
        role: 'replica', managed: true, address: '127.0.0.1:6379', keys: 3,
        masterHost: '10.1.0.1:6378', masterLink: 'down', syncInProgress: false, lastIoSecondsAgo: 2,
        masterError: 'no answer within 500 ms',
      },
    },
    {
      name: 'replica with a refused masterauth says so',
      local: replicaDown,
      master: { ok: false, error: 'WRONGPASS invalid username-password pair', authFailed: true },
      expected: {
        role: 'replica', managed: true, address: '127.0.0.1:6379', keys: 3,
        masterHost: '10.1.0.1:6378', masterLink: 'down', syncInProgress: false, linkDownSinceSeconds: 42,
        masterError: 'the master refused masterauth: WRONGPASS invalid username-password pair',
      },
    },
    {
      name: 'master restarted on a new history: link down, sync due, lag unknown',
      local: { ...replicaDown, master_sync_in_progress: 1 },
      master: masterAt(14, OTHER_REPLID),
      expected: {
        role: 'replica', managed: true, address: '127.0.0.1:6379', keys: 3,
        masterHost: '10.1.0.1:6378', masterLink: 'down', syncInProgress: true, linkDownSinceSeconds: 42,
      },
    },
    {
      name: 'replica not asked about its master (external store): link from INFO alone',
      local: replicaUp,
      expected: {
        role: 'replica', managed: true, address: '127.0.0.1:6379', keys: 3,
        masterHost: '10.1.0.1:6378', masterLink: 'up', syncInProgress: false, lastIoSecondsAgo: 2,
      },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(buildStatus({ ...base, local: parseInfo(info(c.local)), master: c.master }), c.expected);
    });
  }

  test('lag is never negative, even if the offsets were read out of order', () => {
    const status = buildStatus({ ...base, local: parseInfo(info(replicaUp)), master: masterAt(800) });
    assert.equal(status.lagBytes, 0);
  });

  test('the configured master is named when redis does not report one', () => {
    const local = parseInfo(info({ role: 'slave', master_link_status: 'down' }));
    assert.equal(buildStatus({ ...base, local }).masterHost, '10.1.0.1:6378');
  });
});

describe('parseReplicas', () => {
  test('ignores lines that are not slaveN', () => {
    const fields = parseInfo(info({ master_repl_offset: 10, slave_read_only: 1, slave0: 'ip=1.2.3.4,port=1,state=online,offset=10,lag=0' }));
    assert.deepEqual(parseReplicas(fields), [{ addr: '1.2.3.4:1', state: 'online', offset: 10, lagBytes: 0 }]);
  });
});
