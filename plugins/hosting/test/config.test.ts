import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostingConfigSchema, shareOf } from '../src/index.js';

test('defaults: Sashimono port plan, 8 instances, loop disks; the share of each instance', () => {
  const c = HostingConfigSchema.parse({ publicHost: 'host1.gateway.tf' });
  assert.deepEqual(c.ports, { peer: 22861, user: 26201 });
  assert.deepEqual(c.capacity, { instances: 8, cpus: 4, memoryMb: 8192, diskMb: 40960 });
  assert.equal(c.disk, 'loop');
  assert.equal(c.perInstanceUser, false);
  assert.deepEqual(shareOf(c), { cpus: 0.5, memoryMb: 1024, diskMb: 5120 });
});

test('every mistake names its key', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['no publicHost', {}, 'publicHost'],
    ['publicHost not a name', { publicHost: 'not a host' }, 'publicHost'],
    ['port ranges overlap', { publicHost: 'h.test', ports: { peer: 30000, user: 30004 } }, 'ports.user'],
    ['range past 65535', { publicHost: 'h.test', ports: { peer: 65530, user: 20000 } }, 'ports.peer'],
    ['too little memory each', { publicHost: 'h.test', capacity: { instances: 100, memoryMb: 1000 } }, 'capacity.memoryMb'],
    ['too little disk each', { publicHost: 'h.test', capacity: { instances: 100, diskMb: 1000 } }, 'capacity.diskMb'],
    ['unknown disk mode', { publicHost: 'h.test', disk: 'zfs' }, 'disk'],
    ['unknown key', { publicHost: 'h.test', dockr: {} }, ''],
  ];
  for (const [name, raw, path] of cases) {
    const r = HostingConfigSchema.safeParse(raw);
    assert.equal(r.success, false, name);
    assert.ok(r.error!.issues.some((i) => i.path.join('.') === path), `${name}: ${JSON.stringify(r.error!.issues.map((i) => i.path.join('.')))}`);
  }
  assert.ok(HostingConfigSchema.safeParse({ publicHost: 'h.test', capacity: { instances: 100, diskMb: 1000 }, disk: 'dir' }).success, 'dir disks have no minimum');
});
