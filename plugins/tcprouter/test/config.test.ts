import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plugin, TCPROUTER_DEFAULTS, TcprouterConfigSchema } from '../src/index.js';

/** The `tcprouter` block: defaults, normalisation, and errors that name the key. */

test('defaults', () => {
  assert.deepEqual(TcprouterConfigSchema.parse({}), {
    listen: { http: '0.0.0.0:80', tls: '0.0.0.0:443', clients: '0.0.0.0:18000' },
    routes: new Map(),
    limits: { maxConnections: 8192, maxPerIp: 256, peekTimeoutMs: 5000, maxPeekBytes: 16384, connectTimeoutMs: 5000, idleTimeoutMs: 300000 },
    tunnel: {
      maxSessions: 4096,
      maxPerIp: 128,
      maxHandshaking: 512,
      maxSessionsPerSecret: 16,
      maxStreamsPerSession: 1024,
      handshakeTimeoutMs: 10000,
      pingIntervalMs: 30000,
      pingTimeoutMs: 10000,
      maxStreamWindowBytes: 8388608,
    },
  });
  assert.deepEqual(TcprouterConfigSchema.parse({}).limits, TCPROUTER_DEFAULTS.limits);
  assert.deepEqual(TcprouterConfigSchema.parse({}).tunnel, TCPROUTER_DEFAULTS.tunnel);
});

test('routes: names normalized, ports defaulted, IPs canonical; catch-all', () => {
  const c = TcprouterConfigSchema.parse({
    routes: { 'Static.Example.ORG.': { addr: '10.0.0.5' }, 'v6.example.org': { addr: '2001:DB8:0::1', httpPort: 8080, tlsPort: 8443 } },
    catchAll: { addr: '10.0.0.9', tlsPort: 4443 },
    limits: { maxPerIp: 4 },
  });
  assert.deepEqual([...c.routes], [
    ['static.example.org', { addr: '10.0.0.5', httpPort: 80, tlsPort: 443 }],
    ['v6.example.org', { addr: '2001:db8::1', httpPort: 8080, tlsPort: 8443 }],
  ]);
  assert.deepEqual(c.catchAll, { addr: '10.0.0.9', httpPort: 80, tlsPort: 4443 });
  assert.equal(c.limits.maxPerIp, 4);
  assert.equal(c.limits.maxConnections, 8192);
});

const BAD: [string, Record<string, unknown>, string][] = [
  ['unknown key', { lisen: {} }, ''],
  ['unknown listener', { listen: { dns: '0.0.0.0:53' } }, 'listen'],
  ['clients port on the HTTP port', { listen: { http: '0.0.0.0:8000', clients: '0.0.0.0:8000' } }, 'listen.clients'],
  ['ping timeout below 100 ms', { tunnel: { pingTimeoutMs: 5 } }, 'tunnel.pingTimeoutMs'],
  ['listen on a host name', { listen: { http: 'localhost:80' } }, 'listen.http'],
  ['listen without port', { listen: { tls: '0.0.0.0' } }, 'listen.tls'],
  ['both listeners on one address', { listen: { http: '0.0.0.0:8000', tls: '0.0.0.0:8000' } }, 'listen.tls'],
  ['route name not a host name', { routes: { 'bad name': { addr: '10.0.0.1' } } }, 'routes.bad name'],
  ['route addr a host name', { routes: { 'a.test': { addr: 'backend.local' } } }, 'routes.a.test.addr'],
  ['route port 0', { routes: { 'a.test': { addr: '10.0.0.1', httpPort: 0 } } }, 'routes.a.test.httpPort'],
  ['route unknown key', { routes: { 'a.test': { addr: '10.0.0.1', port: 80 } } }, 'routes.a.test'],
  ['catch-all without addr', { catchAll: { httpPort: 80 } }, 'catchAll.addr'],
  ['maxPeekBytes too small for a post-quantum ClientHello', { limits: { maxPeekBytes: 1024 } }, 'limits.maxPeekBytes'],
  ['maxPerIp 0', { limits: { maxPerIp: 0 } }, 'limits.maxPerIp'],
  ['peek timeout 10 ms', { limits: { peekTimeoutMs: 10 } }, 'limits.peekTimeoutMs'],
  ['unknown limit', { limits: { maxConections: 5 } }, 'limits'],
];

for (const [what, raw, path] of BAD) {
  test(`rejected: ${what}`, () => {
    const r = TcprouterConfigSchema.safeParse(raw);
    assert.equal(r.success, false);
    assert.ok(r.error!.issues.some((i) => i.path.join('.') === path), JSON.stringify(r.error!.issues));
  });
}

test('plugin metadata: provides router, requires store', () => {
  assert.equal(plugin.name, 'tcprouter');
  assert.deepEqual(plugin.provides, ['router']);
  assert.deepEqual(plugin.requires, ['store']);
});
