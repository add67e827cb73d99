import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcprouterDecodeError, decodeService, encodeInner, encodeService, tcprouterKey } from '../src/formats/tcprouter.js';

// Produced by the original writer's code path: Python 3 `json.dumps` of {"Key", "Value":
// base64(json.dumps(record))} (run once by hand, pasted here), so these are independent vectors.
const PY_IP =
  '{"Key": "/tcprouter/service/alice.threebot.gateway.tf", "Value": "eyJhZGRyIjogIjEwLjIuMC41IiwgInRsc3BvcnQiOiA0NDMsICJodHRwcG9ydCI6IDgwLCAiY2xpZW50c2VjcmV0IjogIiJ9"}';
const PY_CLIENT =
  '{"Key": "/tcprouter/service/bob.threebot.gateway.tf", "Value": "eyJhZGRyIjogIiIsICJ0bHNwb3J0IjogNDQzLCAiaHR0cHBvcnQiOiA4MCwgImNsaWVudHNlY3JldCI6ICJmb29iYXIifQ=="}';

test('tcprouterKey: singular "service", leading slash, lowercased', () => {
  assert.equal(tcprouterKey('Alice.Threebot.Gateway.TF'), '/tcprouter/service/alice.threebot.gateway.tf');
});

test('encodeService writes byte-for-byte what the Python writer wrote', () => {
  const table: [string, Parameters<typeof encodeService>[1], string][] = [
    ['alice.threebot.gateway.tf', { addr: '10.2.0.5', tlsport: 443, httpport: 80, clientsecret: '' }, PY_IP],
    ['bob.threebot.gateway.tf', { addr: '', tlsport: 443, httpport: 80, clientsecret: 'foobar' }, PY_CLIENT],
  ];
  for (const [fqdn, svc, want] of table) assert.equal(encodeService(fqdn, svc), want, fqdn);
  assert.equal(encodeInner({ addr: '10.2.0.5', tlsport: 443, httpport: 80, clientsecret: '' }), '{"addr": "10.2.0.5", "tlsport": 443, "httpport": 80, "clientsecret": ""}');
});

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('decodeService reads like Go: any key case, LastIndex and unknown keys ignored, last duplicate wins', () => {
  const table: { name: string; raw: string; key: string; service: { addr: string; tlsport: number; httpport: number; clientsecret: string } }[] = [
    { name: 'python ip route', raw: PY_IP, key: '/tcprouter/service/alice.threebot.gateway.tf', service: { addr: '10.2.0.5', tlsport: 443, httpport: 80, clientsecret: '' } },
    { name: 'python client route', raw: PY_CLIENT, key: '/tcprouter/service/bob.threebot.gateway.tf', service: { addr: '', tlsport: 443, httpport: 80, clientsecret: 'foobar' } },
    {
      // valkeyrie's KVPair as in the tcprouter README: compact, no leading slash in Key, LastIndex.
      name: 'go valkeyrie value with LastIndex',
      raw: `{"Key":"tcprouter/service/www.google.com","Value":"${b64('{"addr":"172.217.19.46","httpport":80,"tlsport":443}')}","LastIndex":75292246}`,
      key: 'tcprouter/service/www.google.com',
      service: { addr: '172.217.19.46', tlsport: 443, httpport: 80, clientsecret: '' },
    },
    {
      name: 'keys in any case (outer and inner)',
      raw: `{"key":"k","VALUE":"${b64('{"ADDR":"10.0.0.1","TlsPort":8443,"HTTPPORT":8080,"ClientSecret":"s"}')}"}`,
      key: 'k',
      service: { addr: '10.0.0.1', tlsport: 8443, httpport: 8080, clientsecret: 's' },
    },
    {
      name: 'unknown inner keys ignored (tfgateway writes "user"), null is the zero value',
      raw: `{"Key":"k","Value":"${b64('{"addr":null,"clientsecret":"x","user":"42","tlsport":null}')}"}`,
      key: 'k',
      service: { addr: '', tlsport: 0, httpport: 0, clientsecret: 'x' },
    },
    {
      name: 'a later duplicate wins, whatever its case',
      raw: `{"Key":"k","Value":"${b64('{"addr":"10.0.0.1","Addr":"10.0.0.2"}')}"}`,
      key: 'k',
      service: { addr: '10.0.0.2', tlsport: 0, httpport: 0, clientsecret: '' },
    },
  ];
  for (const row of table) assert.deepEqual(decodeService(row.raw), { key: row.key, service: row.service }, row.name);
});

test('decodeService refuses what Go would refuse', () => {
  const table: [string, string][] = [
    ['not JSON', 'nope'],
    ['an array', '[]'],
    ['no Value', '{"Key":"k"}'],
    ['Value not a string', '{"Key":"k","Value":5}'],
    ['unpadded base64', `{"Key":"k","Value":"${b64('{"addr":"a"}').replace(/=+$/, '')}x"}`],
    ['url-safe alphabet', '{"Key":"k","Value":"-_-_"}'],
    ['inner not an object', `{"Key":"k","Value":"${b64('[1]')}"}`],
    ['port as a string', `{"Key":"k","Value":"${b64('{"tlsport":"443"}')}"}`],
    ['fractional port', `{"Key":"k","Value":"${b64('{"tlsport":443.5}')}"}`],
    ['addr not a string', `{"Key":"k","Value":"${b64('{"addr":1}')}"}`],
  ];
  for (const [name, raw] of table) assert.throws(() => decodeService(raw), TcprouterDecodeError, name);
});

test('encode then decode is the identity', () => {
  const svc = { addr: '2001:db8::1', tlsport: 1, httpport: 65535, clientsecret: '' };
  assert.deepEqual(decodeService(encodeService('x.gateway.tf', svc)), { key: '/tcprouter/service/x.gateway.tf', service: svc });
});
