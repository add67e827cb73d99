import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeService, silentLogger, tcprouterKey, type Logger, type TcpService } from '@plexus/core';
import { MAX_MALFORMED_TRACKED, RouteTable, routeOfValue, type Route } from '../src/routes.js';

/** The routing table: store values as tcprouter writes them, lookup order, what a change moves. */

const svc = (s: Partial<TcpService>): TcpService => ({ addr: '10.2.0.5', tlsport: 443, httpport: 80, clientsecret: '', ...s });
const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('routeOfValue: values of the gateway, of Go valkeyrie, and malformed ones', () => {
  const cases: [string, string, Route | string][] = [
    ['gateway writer', encodeService('a.test', svc({})), { addr: '10.2.0.5', httpPort: 80, tlsPort: 443, clientSecret: '' }],
    ['IPv6 made canonical', encodeService('a.test', svc({ addr: '2001:DB8:0::1' })), { addr: '2001:db8::1', httpPort: 80, tlsPort: 443, clientSecret: '' }],
    ['tunnel route, no addr', encodeService('a.test', svc({ addr: '', clientsecret: 's3cret' })), { addr: '', httpPort: 80, tlsPort: 443, clientSecret: 's3cret' }],
    ['Go with LastIndex and capitalised keys', `{"Key":"/tcprouter/service/a.test","Value":"${b64('{"Addr":"10.0.0.1","TlsPort":8443,"HttpPort":8080}')}","LastIndex":7}`, { addr: '10.0.0.1', httpPort: 8080, tlsPort: 8443, clientSecret: '' }],
    ['missing ports read as 0 (no backend on that port)', `{"Key":"k","Value":"${b64('{"addr":"10.0.0.1"}')}"}`, { addr: '10.0.0.1', httpPort: 0, tlsPort: 0, clientSecret: '' }],
    ['not JSON', 'hello', 'value is not JSON'],
    ['Value not base64', '{"Key":"k","Value":"***"}', 'Value is not standard padded base64'],
    ['addr a host name', encodeService('a.test', svc({ addr: 'backend.local' })), 'addr is not an IP'],
    ['neither addr nor secret', encodeService('a.test', svc({ addr: '' })), 'no addr and no clientsecret'],
    ['port out of range', encodeService('a.test', svc({ httpport: 70000 })), 'port out of range'],
    ['negative port', encodeService('a.test', svc({ tlsport: -1 })), 'port out of range'],
  ];
  for (const [what, raw, want] of cases) assert.deepEqual(routeOfValue(raw), want, what);
});

function capture(): { log: Logger; warnings: Record<string, unknown>[] } {
  const warnings: Record<string, unknown>[] = [];
  const log = Object.assign(silentLogger(), { warn: (obj: Record<string, unknown>) => void warnings.push(obj) });
  return { log, warnings };
}

test('lookup order: static, then store, then catch-all; a name-less client gets only the catch-all', () => {
  const table = new RouteTable(new Map([['s.test', { addr: '10.0.0.1', httpPort: 80, tlsPort: 443 }]]), { addr: '10.0.0.9', httpPort: 81, tlsPort: 444 }, silentLogger());
  table.applyStore(new Map([[tcprouterKey('s.test'), encodeService('s.test', svc({ addr: '10.0.0.2' }))], [tcprouterKey('d.test'), encodeService('d.test', svc({ addr: '10.0.0.3' }))]]));
  assert.equal(table.lookup('s.test')?.source, 'static');
  assert.equal(table.lookup('s.test')?.route.addr, '10.0.0.1');
  assert.equal(table.lookup('d.test')?.source, 'store');
  assert.equal(table.lookup('other.test')?.source, 'catchAll');
  assert.equal(table.lookup(undefined)?.source, 'catchAll');
  assert.equal(new RouteTable(new Map(), undefined, silentLogger()).lookup('x.test'), undefined);
});

test('applyStore names the routes that moved: removed or changed, not rewritten unchanged', () => {
  const table = new RouteTable(new Map(), undefined, silentLogger());
  const key = tcprouterKey('a.test');
  assert.deepEqual(table.applyStore(new Map([[key, encodeService('a.test', svc({}))]])), [], 'a new route moves nothing');
  assert.deepEqual(table.applyStore(new Map([[key, encodeService('a.test', svc({}))]])), [], 'same value again');
  assert.deepEqual(table.applyStore(new Map([[key, encodeService('a.test', svc({ httpport: 8080 }))]])), ['a.test'], 'port changed');
  assert.deepEqual(table.applyStore(new Map([[key, encodeService('a.test', svc({ clientsecret: 'x', addr: '' }))]])), ['a.test'], 'now a tunnel');
  assert.deepEqual(table.counts(), { static: 0, store: 1, catchAll: false, tunnel: 1, malformed: 0 });
  assert.deepEqual(table.applyStore(new Map([[key, 'garbage']])), ['a.test'], 'now malformed: the route is gone');
  assert.equal(table.lookup('a.test'), undefined);
  assert.deepEqual(table.applyStore(new Map([[key, undefined]])), [], 'deleting what is already gone');
  assert.deepEqual(table.counts(), { static: 0, store: 0, catchAll: false, tunnel: 0, malformed: 0 });
  assert.deepEqual(table.applyStore(new Map([['/tcprouter/other', 'x']])), [], 'keys outside the route prefix are ignored');
  // A value read before is not decoded again, but a deletion forgets it: the same value is a route again.
  table.applyStore(new Map([[key, encodeService('a.test', svc({}))]]));
  table.applyStore(new Map([[key, undefined]]));
  assert.equal(table.lookup('a.test'), undefined);
  table.applyStore(new Map([[key, encodeService('a.test', svc({}))]]));
  assert.equal(table.lookup('a.test')?.route.addr, '10.2.0.5');
});

test('a malformed value is warned about once (again only when it changes), and memory stays bounded', () => {
  const { log, warnings } = capture();
  const table = new RouteTable(new Map(), undefined, log);
  const key = tcprouterKey('bad.test');
  for (let i = 0; i < 3; i++) table.applyStore(new Map([[key, 'not json']])); // the periodic full re-reads
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.code, 'ERR_TCPROUTER_ROUTE_INVALID');
  table.applyStore(new Map([[key, 'still not json']]));
  assert.equal(warnings.length, 2, 'a new malformed value is a new warning');
  table.applyStore(new Map([[key, encodeService('bad.test', svc({}))]]));
  table.applyStore(new Map([[key, 'not json']]));
  assert.equal(warnings.length, 3, 'fixed, then broken again');
  // Many malformed keys: one warning each up to the bound, then a single one for the rest.
  const many = new Map<string, string>();
  for (let i = 0; i < MAX_MALFORMED_TRACKED + 500; i++) many.set(tcprouterKey(`m${i}.test`), 'x');
  table.applyStore(many);
  table.applyStore(many);
  assert.equal(warnings.length, 3 + MAX_MALFORMED_TRACKED - 1 + 1);
  assert.equal(table.counts().malformed, MAX_MALFORMED_TRACKED);
  // Deleted keys are forgotten.
  table.applyStore(new Map([...many.keys()].map((k) => [k, undefined])));
  assert.equal(table.counts().malformed, 1);
});
