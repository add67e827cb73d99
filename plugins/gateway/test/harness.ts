import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { type Ed25519KeyPair, type RpcCall, type RpcMethods, generateKeyPair, parseParams, signName, silentLogger, toHex } from '@plexus/core';
import { PhonebookRegistry } from '@plexus/plugin-phonebook';
import { GatewayConfigSchema, type GatewayConfig } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { gatewayMethods } from '../src/methods.js';
import { GatewayStore } from '../src/store.js';

/** A user: a phonebook name and the key that owns it. */
export interface User {
  name: string;
  key: Ed25519KeyPair;
  pubkey: string;
}

export const TEST_CONFIG = {
  zones: ['threebot.gateway.tf', 'gateway.tf'],
  publicIps: ['185.69.166.1', '2a02:1802:5e::1'],
};

/** The real phonebook registry and gateway methods over one Redis connection. */
export function setup(redis: Redis, config: Record<string, unknown> = TEST_CONFIG): { phonebook: PhonebookRegistry; methods: RpcMethods; config: GatewayConfig } {
  const parsed = GatewayConfigSchema.parse(config);
  const phonebook = new PhonebookRegistry(redis);
  return { phonebook, methods: gatewayMethods(new Gateway(new GatewayStore(redis, parsed), phonebook, parsed)), config: parsed };
}

/** Registers `name` in the phonebook with a fresh key. */
export async function user(phonebook: PhonebookRegistry, name: string): Promise<User> {
  const key = generateKeyPair();
  const pubkey = toHex(key.publicKey);
  await phonebook.register({ name, email: `${name}@example.org`, pubkey, wallet_name: '' });
  return { name, key, pubkey };
}

/** The expose signature (COMPAT §4): Ed25519 over the UTF-8 name. */
export const nameSignature = signName;

/** Calls a method as the RPC server does after verifying the envelope, with `signer` as the verified key. */
export async function invoke<T = unknown>(methods: RpcMethods, method: string, params: unknown, signer?: User): Promise<T> {
  const m = methods[method];
  assert.ok(m !== undefined, `no method ${method}`);
  const call: RpcCall = { peer: 'test-peer', signer: signer?.pubkey, method, log: silentLogger() };
  return (await m.handler(parseParams(m, params), call)) as T;
}

export { codeOf } from '@plexus/core/testing';

/** Every key in the database except the phonebook's and the gateway's own index. */
export async function compatKeys(redis: Redis): Promise<string[]> {
  return (await redis.keys('*')).filter((k) => !k.startsWith('phonebook:') && !k.startsWith('gateway:')).sort();
}

/** Reads a tcprouter value the way the test checks it: outer keys, Key, and the decoded inner bytes. */
export async function rawService(redis: Redis, key: string): Promise<{ outerKeys: string[]; Key: unknown; inner: string }> {
  const raw = await redis.get(key);
  assert.ok(raw !== null, `${key} is missing`);
  const outer = JSON.parse(raw) as Record<string, unknown>;
  return { outerKeys: Object.keys(outer), Key: outer.Key, inner: Buffer.from(String(outer.Value), 'base64').toString('utf8') };
}
