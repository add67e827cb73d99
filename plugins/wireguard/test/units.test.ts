import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isHostOf, lowestFree, parseCidr } from '../src/cidr.js';
import { WireguardConfigSchema } from '../src/config.js';
import { parseDump } from '../src/dump.js';
import { desiredPeers, peerChanges, type PeerSpec } from '../src/peers.js';
import { membersViewSchema, type MembersView } from '../src/records.js';

const key = (): string => randomBytes(32).toString('base64');
const hex = (): string => randomBytes(32).toString('hex');

test('CIDR parsing and lowest-free allocation skip the network and broadcast addresses', () => {
  for (const bad of ['10.1.0.1/24', '10.1.0.0/31', '10.1.0.0/7', '10.1.0.0', '::1/64', '10.1.0.0/24 ', '300.1.0.0/24']) assert.equal(parseCidr(bad), undefined, bad);
  const c = parseCidr('10.1.0.0/30')!;
  assert.equal(lowestFree(c, new Set()), '10.1.0.1');
  assert.equal(lowestFree(c, new Set(['10.1.0.1'])), '10.1.0.2');
  assert.equal(lowestFree(c, new Set(['10.1.0.1', '10.1.0.2'])), undefined);
  assert.equal(isHostOf(c, '10.1.0.0'), false);
  assert.equal(isHostOf(c, '10.1.0.3'), false);
  assert.equal(isHostOf(c, '10.1.0.2'), true);
  assert.equal(isHostOf(parseCidr('10.1.0.0/16')!, '10.1.255.254'), true);
});

test('config: every bad key is reported at its path', () => {
  const cases: [unknown, string][] = [
    [{}, 'networks'],
    [{ networks: { redis: { listenPort: 70000 } } }, 'networks.redis.listenPort'],
    [{ networks: { redis: { listenPort: 1, endpoint: 'nope' } } }, 'networks.redis.endpoint'],
    [{ networks: { redis: { listenPort: 1, lisenPort: 2 } } }, 'networks.redis'],
    [{ networks: { Redis: { listenPort: 1 } } }, 'networks.Redis'],
    [{ networks: { a: { listenPort: 1 }, b: { listenPort: 1 } } }, 'networks.b.listenPort'],
    [{ networks: { a: { listenPort: 1, interface: 'wg0' }, b: { listenPort: 2, interface: 'wg0' } } }, 'networks.b.interface'],
    [{ networks: { a: { listenPort: 1, interface: 'a-very-long-name0' } } }, 'networks.a.interface'],
    [{ networks: { a: { listenPort: 1, store: true }, b: { listenPort: 2, store: true } } }, 'networks.b.store'],
    [{ registry: { redis: { cidr: '10.1.0.1/24' } } }, 'registry.redis.cidr'],
    [{ registry: { redis: { cidr: '10.1.0.0/24', topology: 'star' } } }, 'registry.redis.topology'],
    [{ registry: { redis: { cidr: '10.1.0.0/24', allow: ['xyz'] } } }, 'registry.redis.allow.0'],
    [{ networks: { a: { listenPort: 1 } }, implementation: 'bpf' }, 'implementation'],
  ];
  for (const [raw, path] of cases) {
    const r = WireguardConfigSchema.safeParse(raw);
    assert.equal(r.success, false, JSON.stringify(raw));
    assert.ok(r.error!.issues.some((i) => i.path.join('.') === path), `${JSON.stringify(raw)}: ${JSON.stringify(r.error!.issues.map((i) => i.path.join('.')))}`);
  }
  const ok = WireguardConfigSchema.parse({ networks: { redis: { listenPort: 51820, endpoint: '203.0.113.7:51820' }, main: { listenPort: 51821 } } });
  assert.equal(ok.networks.redis!.store, false);
  assert.equal(ok.implementation, 'auto');
});

test('`wg show dump` parsing: interface line, peers, (none) and off, no private key kept', () => {
  const pub = key();
  const [p1, p2] = [key(), key()];
  const text = [
    `${key()}\t${pub}\t51820\toff`,
    `${p1}\t(none)\t10.78.0.2:51820\t10.91.0.2/32\t1700000000\t1234\t5678\toff`,
    `${p2}\t(none)\t(none)\t10.92.0.0/24,10.93.0.0/24\t0\t0\t148\t25`,
    '',
  ].join('\n');
  const d = parseDump(text);
  assert.deepEqual(d, {
    publicKey: pub,
    listenPort: 51820,
    peers: [
      { publicKey: p1, endpoint: '10.78.0.2:51820', allowedIps: ['10.91.0.2/32'], latestHandshake: 1700000000, rxBytes: 1234, txBytes: 5678, keepalive: undefined },
      { publicKey: p2, endpoint: undefined, allowedIps: ['10.92.0.0/24', '10.93.0.0/24'], latestHandshake: undefined, rxBytes: 0, txBytes: 148, keepalive: 25 },
    ],
  });
  assert.throws(() => parseDump(''));
});

function view(topology: MembersView['topology'], names: string[]): MembersView {
  return {
    network: 'main',
    version: 3,
    cidr: '10.2.0.0/24',
    topology,
    registry: hex(),
    members: names.map((name, i) => ({ name, signer: hex(), key: key(), listenPort: 51821, address: `10.2.0.${i + 1}`, joinedAt: 'x', ...(name === 'bot' ? {} : { endpoint: `${name}.example.org:51821` }) })),
  };
}

test('desired peers: mesh peers with all, a hub with all, spokes with the hub only (whole network)', () => {
  const mesh = view('mesh', ['a', 'b', 'bot']);
  const a = desiredPeers(mesh, mesh.members[0]!.signer, 0);
  assert.deepEqual(a.map((p) => [p.name, p.allowedIps, p.endpoint]), [['b', ['10.2.0.2/32'], 'b.example.org:51821'], ['bot', ['10.2.0.3/32'], undefined]]);
  const hub = view({ hub: 'a' }, ['a', 'b', 'bot']);
  assert.deepEqual(desiredPeers(hub, hub.members[0]!.signer, 0).map((p) => [p.name, p.allowedIps]), [['b', ['10.2.0.2/32']], ['bot', ['10.2.0.3/32']]]);
  const bot = desiredPeers(hub, hub.members[2]!.signer, 25);
  assert.deepEqual(bot.map((p) => [p.name, p.allowedIps, p.keepalive]), [['a', ['10.2.0.0/24'], 25]]);
  assert.deepEqual(desiredPeers(hub, hex(), 0), [], 'not a member: no peers');
  assert.deepEqual(desiredPeers(view({ hub: 'gone' }, ['b', 'bot']), hub.members[1]!.signer, 0), []);
});

test('peer changes: one wg set call adding, updating and removing peers individually; nothing when equal', () => {
  const [k1, k2, k3, k4] = [key(), key(), key(), key()];
  const cur: PeerSpec[] = [
    { key: k1, name: 'a', endpoint: '10.0.0.1:1', allowedIps: ['10.2.0.1/32'], keepalive: 0 },
    { key: k2, name: 'b', endpoint: undefined, allowedIps: ['10.2.0.2/32'], keepalive: 0 },
    { key: k3, name: 'c', endpoint: '10.0.0.3:1', allowedIps: ['10.2.0.3/32'], keepalive: 0 },
  ];
  assert.deepEqual(peerChanges(cur, cur), []);
  const next: PeerSpec[] = [
    { ...cur[0]!, endpoint: '10.0.0.9:1' }, // endpoint changed
    cur[1]!, // unchanged (a NATed peer's learned endpoint is left alone)
    { key: k4, name: 'c', endpoint: '10.0.0.3:1', allowedIps: ['10.2.0.3/32'], keepalive: 25 }, // c rotated its key
  ];
  assert.deepEqual(peerChanges(cur, next), [
    'peer', k3, 'remove',
    'peer', k1, 'endpoint', '10.0.0.9:1',
    'peer', k4, 'endpoint', '10.0.0.3:1', 'allowed-ips', '10.2.0.3/32', 'persistent-keepalive', '25',
  ]);
  assert.deepEqual(peerChanges([], [cur[1]!]), ['peer', k2, 'allowed-ips', '10.2.0.2/32']);
  assert.deepEqual(peerChanges(cur, []), ['peer', k1, 'remove', 'peer', k2, 'remove', 'peer', k3, 'remove']);
  assert.deepEqual(peerChanges([cur[0]!], [{ ...cur[0]!, keepalive: 25 }]), ['peer', k1, 'persistent-keepalive', '25']);
  assert.deepEqual(peerChanges([{ ...cur[0]!, keepalive: 25 }], [cur[0]!]), ['peer', k1, 'persistent-keepalive', 'off']);
});

test('registry answers are validated before anything reaches wg: keys, endpoints, addresses, duplicates', () => {
  const good = view('mesh', ['a', 'b']);
  assert.equal(membersViewSchema.safeParse(good).success, true);
  const tamper = (f: (v: any) => void): boolean => {
    const v = structuredClone(good) as any;
    f(v);
    return membersViewSchema.safeParse(v).success;
  };
  const bad: [string, (v: any) => void][] = [
    ['key with an argument after it', (v) => (v.members[0].key = `${v.members[0].key} remove`)],
    ['key of 43 chars', (v) => (v.members[0].key = v.members[0].key.slice(1))],
    ['key not 32 bytes', (v) => (v.members[0].key = `${'A'.repeat(42)}B=`)],
    ['key starting with a dash', (v) => (v.members[0].key = `-${v.members[0].key.slice(1)}`)],
    ['endpoint with arguments', (v) => (v.members[0].endpoint = '1.2.3.4:51820 allowed-ips 0.0.0.0/0')],
    ['endpoint as an option', (v) => (v.members[0].endpoint = '--help:1')],
    ['address outside the network', (v) => (v.members[0].address = '10.9.0.1')],
    ['network address', (v) => (v.members[0].address = '10.2.0.0')],
    ['broadcast address', (v) => (v.members[0].address = '10.2.0.255')],
    ['address with a prefix', (v) => (v.members[0].address = '0.0.0.0/0')],
    ['duplicate address', (v) => (v.members[1].address = v.members[0].address)],
    ['duplicate key', (v) => (v.members[1].key = v.members[0].key)],
    ['cidr not a network', (v) => (v.cidr = '0.0.0.0/0')],
    ['unknown field', (v) => (v.members[0].extra = 1)],
    ['hub name with a space', (v) => (v.topology = { hub: 'a b' })],
  ];
  for (const [what, f] of bad) assert.equal(tamper(f), false, what);
});
