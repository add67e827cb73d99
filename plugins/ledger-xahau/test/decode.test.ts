import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PARAM_EVENT_TYPE_KEY, decimalToXfl, decodeLeaseTokenUri, decodeTx, encodeLeaseTokenUri, momentsFor, normalizeTx, xflToDecimal, type Decoded } from '../src/index.js';
import { fixture } from './fixtures.js';

const HOST = 'rnET2YR19WDP4vB8XtDhcF2J4afqMM6xim';
const TENANT = 'rWYkbWkCeg8dP6rXALnjgZSjjLyih5NXm';
const ISSUER = 'ra328vuQhL5fKrjqGB3FzVM45a5zuNS2KR';
const TOKEN = 'C1AE6DDDEEC05CF2978C0BAD6FE27362498D5691DC749DCDD3B95992978C0BA0';
const SEED = Buffer.from(fixture<{ seed: string }>('libsodium-sealed-box.json').seed, 'hex');

const entry = (name: string): Record<string, unknown> => {
  const f = fixture<{ entry?: Record<string, unknown>; message?: Record<string, unknown> }>(name);
  return structuredClone(f.entry ?? f.message!);
};
const decode = (message: unknown, extra: Partial<Parameters<typeof decodeTx>[1]> = {}): Decoded => {
  const ltx = normalizeTx(message);
  assert.ok(ltx, 'normalizes');
  return decodeTx(ltx, { hostAccount: HOST, evrIssuer: ISSUER, messageSeed: SEED, ...extra });
};
const txOf = (e: Record<string, unknown>): Record<string, unknown> => (e.tx ?? e.transaction ?? e.tx_json) as Record<string, unknown>;

test('acquire: URITokenBuy of a host lease token with a plain (0x00) memo, account_tx v1 shape', () => {
  const d = decode(entry('acquire-plain.account_tx.json'));
  assert.equal(d.kind, 'acquire');
  if (d.kind !== 'acquire') return;
  assert.deepEqual(d.tx, { hash: 'A1'.repeat(32), ledgerIndex: 9399132, account: TENANT });
  assert.equal(d.uriTokenId, TOKEN);
  assert.deepEqual(d.paid, { currency: 'EVR', issuer: ISSUER, value: '2' });
  assert.deepEqual([d.lease.version, d.lease.leaseIndex, d.lease.leaseAmount, d.lease.identifier, d.lease.outboundIpv6], [1, 0, '2', 1, '2001:0DB8:0000:0000:0000:0000:0000:0001']);
  assert.deepEqual(d.payload, { ownerPubkey: '5cb83404120ac759609819591ef839b7d222c84f1f08b3012f490586159d2b50', contractId: 'dc411912-bcdd-4f73-af43-32ec45844b9a', image: 'evernodedev/sashimono:hp.latest-ubt.20.04-njs.20', config: {} });
});

test('acquire: memo sealed (0x01) by libsodium to the host message key, transaction stream shape', () => {
  const d = decode(entry('acquire-sealed.stream.json'));
  assert.equal(d.kind, 'acquire');
  if (d.kind === 'acquire') assert.equal(d.payload.image, 'evernodedev/sashimono:hp.latest-ubt.20.04-njs.20');
  const noKey = decode(entry('acquire-sealed.stream.json'), { messageSeed: Buffer.alloc(32, 7) });
  assert.equal(noKey.kind, 'invalid');
  if (noKey.kind === 'invalid') {
    assert.match(noKey.reason, /does not open/);
    assert.deepEqual(noKey.refund, { currency: 'EVR', issuer: ISSUER, value: '2' });
  }
});

test('extend (account_tx v2 shape, delivered amount) and terminate', () => {
  const e = decode(entry('extend.account_tx-v2.json'));
  assert.deepEqual(e.kind === 'extend' && [e.uriTokenId, e.paid.value, e.tx.hash], [TOKEN, '6', 'E1'.repeat(32)]);
  const t = decode(entry('terminate.account_tx.json'));
  assert.deepEqual(t.kind === 'terminate' && [t.uriTokenId, t.tx.account], [TOKEN, TENANT]);
});

test('partial payments count what was delivered', () => {
  const e = entry('extend.account_tx-v2.json');
  (e.meta as Record<string, unknown>).delivered_amount = { currency: 'EVR', issuer: ISSUER, value: '1.5' };
  const d = decode(e);
  assert.equal(d.kind === 'extend' && d.paid.value, '1.5');
});

test('table: what is refused (invalid, with refund) and what is not ours (ignored)', () => {
  type Case = [string, string, (e: Record<string, unknown>) => void, 'invalid' | 'ignored', RegExp?];
  const cases: Case[] = [
    ['acquire-plain.account_tx.json', 'memo not base64 JSON', (e) => ((txOf(e).Memos as { Memo: Record<string, string> }[])[0]!.Memo.MemoData = Buffer.from(Buffer.from([0, 123, 110]).toString('base64')).toString('hex')), 'invalid', /not JSON/],
    ['acquire-plain.account_tx.json', 'unknown memo prefix', (e) => ((txOf(e).Memos as { Memo: Record<string, string> }[])[0]!.Memo.MemoData = Buffer.from(Buffer.from([7, 1, 2]).toString('base64')).toString('hex')), 'invalid', /prefix/],
    ['acquire-plain.account_tx.json', 'no memo', (e) => delete txOf(e).Memos, 'invalid', /memo missing/],
    ['acquire-plain.account_tx.json', 'wrong event', (e) => ((txOf(e).HookParameters as { HookParameter: Record<string, string> }[])[0]!.HookParameter.HookParameterValue = Buffer.from('evnHostReg').toString('hex')), 'invalid', /without evnAcquireLease/],
    ['acquire-plain.account_tx.json', 'not a lease token', (e) => (((e.meta as { AffectedNodes: { ModifiedNode: { FinalFields: Record<string, string> } }[] }).AffectedNodes[0]!.ModifiedNode.FinalFields.URI = '657672686F7374')), 'invalid', /not a lease slot/],
    ['acquire-plain.account_tx.json', 'paid in XAH', (e) => (txOf(e).Amount = '2000000'), 'invalid', /not paid in EVR/],
    ['acquire-plain.account_tx.json', 'fake EVR issuer', (e) => (txOf(e).Amount = { currency: 'EVR', issuer: TENANT, value: '2' }), 'invalid', /not paid in EVR/],
    ['acquire-plain.account_tx.json', 'token sold by someone else', (e) => (((e.meta as { AffectedNodes: { ModifiedNode: { PreviousFields: Record<string, string> } }[] }).AffectedNodes[0]!.ModifiedNode.PreviousFields.Owner = TENANT)), 'ignored'],
    ['acquire-plain.account_tx.json', 'failed transaction', (e) => ((e.meta as Record<string, string>).TransactionResult = 'tecNO_PERMISSION'), 'ignored'],
    ['extend.account_tx-v2.json', 'extend data not a token id', (e) => ((txOf(e).HookParameters as { HookParameter: Record<string, string> }[])[1]!.HookParameter.HookParameterValue = 'ABCD'), 'invalid', /not a URIToken id/],
    ['extend.account_tx-v2.json', 'payment to someone else', (e) => (txOf(e).Destination = TENANT), 'ignored'],
    ['extend.account_tx-v2.json', 'no event', (e) => delete txOf(e).HookParameters, 'ignored'],
    ['terminate.account_tx.json', 'sent by the host', (e) => (txOf(e).Account = HOST), 'ignored'],
  ];
  for (const [file, name, mutate, kind, reason] of cases) {
    const e = entry(file);
    mutate(e);
    const d = decode(e);
    assert.equal(d.kind, kind, name);
    if (reason && d.kind === 'invalid') assert.match(d.reason, reason, name);
  }
  assert.equal(normalizeTx({ ...entry('terminate.account_tx.json'), validated: false }), undefined, 'unvalidated is never handled');
  // What is refunded when the payment was not EVR: the same amount back.
  const xah = entry('acquire-plain.account_tx.json');
  txOf(xah).Amount = '2000000';
  const d = decode(xah);
  assert.equal(d.kind === 'invalid' && d.refund, '2000000');
});

test('the event-type parameter name is evernode-js-client\'s PARAM_EVENT_TYPE_KEY', () => {
  assert.equal(PARAM_EVENT_TYPE_KEY, '4556520100000000000000000000000000000000000000000000000000000002');
  const p = (txOf(entry('acquire-plain.account_tx.json')).HookParameters as { HookParameter: Record<string, string> }[])[0]!.HookParameter;
  assert.equal(Buffer.from(p.HookParameterValue!, 'hex').toString(), 'evnAcquireLease');
});

test('moments = floor(paid / lease amount), exact on decimals', () => {
  const table: [string, string, number][] = [['6', '2', 3], ['5.99', '2', 2], ['0.3', '0.1', 3], ['1', '2', 0], ['100', '0.000001', 100_000_000]];
  for (const [paid, lease, n] of table) assert.equal(momentsFor(paid, lease), n, `${paid}/${lease}`);
});

test('lease token URIs: hex of base64 of evrlease|LTV version|index|half ToS hash|XFL amount|id|IPv6; XFL both ways', () => {
  for (const v of ['2', '0.5', '1.23', '100', '0.000001', '123456.789', '1000000']) assert.equal(xflToDecimal(decimalToXfl(v)), v, v);
  // A known XFL: 2 = mantissa 2e15, exponent -15 (stored 82).
  assert.equal(decimalToXfl('2'), (1n << 62n) | (82n << 54n) | 2_000_000_000_000_000n);
  const uri = encodeLeaseTokenUri({ version: 1, leaseIndex: 7, halfTosHash: 'cd'.repeat(16), leaseAmount: '0.25', identifier: 9 });
  assert.ok(Buffer.from(Buffer.from(uri, 'hex').toString(), 'base64').subarray(0, 8).equals(Buffer.from('evrlease')), 'base64 inside hex');
  assert.deepEqual(decodeLeaseTokenUri(uri), { version: 1, leaseIndex: 7, halfTosHash: 'cd'.repeat(16), leaseAmount: '0.25', identifier: 9, outboundIpv6: null });
  const legacy = encodeLeaseTokenUri({ leaseIndex: 2, halfTosHash: '00'.repeat(16), leaseAmount: '3' });
  assert.deepEqual([decodeLeaseTokenUri(legacy)?.version, decodeLeaseTokenUri(legacy)?.leaseAmount], [null, '3']);
  for (const bad of ['', '6576726C65617365', Buffer.from(Buffer.from('evrhost').toString('base64')).toString('hex'), 'ZZ']) assert.equal(decodeLeaseTokenUri(bad), undefined, bad);
});
