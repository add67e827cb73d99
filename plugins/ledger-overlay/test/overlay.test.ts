import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codeOf, startPlugin } from '@plexus/core/testing';
import type { LeaseRequest } from '@plexus/core';
import { LEASE_PROTOCOL, plugin } from '../src/index.js';

const TENANT = 'ab'.repeat(32);

test('requests reach the host handler with the signer as tenant; before a host is attached they are ERR_UNAVAILABLE', async (t) => {
  const { ctx, instance } = await startPlugin(plugin, {}, { after: (fn) => void t.after(fn) });
  const acquire = { image: 'evernode/sashimono:hp.latest', duration_seconds: 3600, config: { a: 1 } };
  assert.equal(await codeOf(ctx.call(LEASE_PROTOCOL, 'lease_acquire', acquire, { signer: TENANT })), 'ERR_UNAVAILABLE');
  const seen: LeaseRequest[] = [];
  instance.capabilities!().ledger!.serve(async (r) => {
    seen.push(r);
    return { kind: 'terminate', leaseId: 'x' };
  });
  await ctx.call(LEASE_PROTOCOL, 'lease_acquire', acquire, { signer: TENANT });
  await ctx.call(LEASE_PROTOCOL, 'lease_extend', { lease_id: 'abc', duration_seconds: 60 }, { signer: TENANT });
  await ctx.call(LEASE_PROTOCOL, 'lease_terminate', { lease_id: 'abc' }, { signer: TENANT });
  assert.deepEqual(seen.map((r) => [r.kind, r.tenant]), [['acquire', TENANT], ['extend', TENANT], ['terminate', TENANT]]);
  assert.deepEqual((seen[0] as Extract<LeaseRequest, { kind: 'acquire' }>).config, { a: 1 });
  assert.deepEqual((await instance.status!()).requests, { acquire: 1, extend: 1, terminate: 1 });
});

test('unsigned, malformed and oversized requests never reach the host', async (t) => {
  const { ctx, instance } = await startPlugin(plugin, {}, { after: (fn) => void t.after(fn) });
  let calls = 0;
  instance.capabilities!().ledger!.serve(async () => {
    calls++;
    return { kind: 'terminate', leaseId: 'x' };
  });
  assert.equal(await codeOf(ctx.call(LEASE_PROTOCOL, 'lease_terminate', { lease_id: 'abc' })), 'ERR_AUTH_REQUIRED');
  const bad: [string, unknown][] = [
    ['lease_acquire', { image: 'UPPER/case', duration_seconds: 60 }],
    ['lease_acquire', { image: 'ok/image:1', duration_seconds: 0 }],
    ['lease_acquire', { image: 'ok/image:1', duration_seconds: 60, config: { big: 'x'.repeat(70_000) } }],
    ['lease_acquire', { image: 'ok/image:1', duration_seconds: 60, contract_id: 'has space' }],
    ['lease_extend', { lease_id: '../etc', duration_seconds: 60 }],
    ['lease_terminate', { lease_id: 'abc', extra: 1 }],
  ];
  for (const [method, params] of bad) assert.equal(await codeOf(ctx.call(LEASE_PROTOCOL, method, params, { signer: TENANT })), 'ERR_PARAMS_INVALID', `${method} ${JSON.stringify(params).slice(0, 60)}`);
  assert.equal(calls, 0);
});
