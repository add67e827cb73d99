import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostOf, parseHttpHost, type HttpHostResult } from '../src/http-host.js';

/** The Host of HTTP/1.x request heads: what is routed, what waits for more bytes, what is refused. */

const complete = (host: string | undefined): HttpHostResult => ({ kind: 'complete', host });

test('request heads: the Host, port stripped, lowercased, no trailing dot', () => {
  const cases: [string, string, HttpHostResult][] = [
    ['curl', 'GET / HTTP/1.1\r\nHost: www.alice.test\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n', complete('www.alice.test')],
    ['port and case', 'GET /x?y=1 HTTP/1.1\r\nhOsT: WWW.Alice.Test:8080\r\n\r\n', complete('www.alice.test')],
    ['trailing dot', 'GET / HTTP/1.1\r\nHost: www.alice.test.\r\n\r\n', complete('www.alice.test')],
    ['spaces around the value', 'GET / HTTP/1.1\r\nHost:    a.test  \r\n\r\n', complete('a.test')],
    ['IPv6 literal', 'GET / HTTP/1.1\r\nHost: [2001:DB8::1]:80\r\n\r\n', complete('2001:db8::1')],
    ['IPv4 literal', 'GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n', complete('10.0.0.1')],
    ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n', complete(undefined)],
    ['empty Host', 'GET / HTTP/1.1\r\nHost:\r\n\r\n', complete(undefined)],
    ['bare LF line ends', 'GET / HTTP/1.1\nHost: lf.test\n\n', complete('lf.test')],
    ['empty lines before the request line', '\r\n\r\nGET / HTTP/1.1\r\nHost: a.test\r\n\r\n', complete('a.test')],
    ['a body after the head', 'POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4\r\n\r\n\x00\x01\x02\x03', complete('a.test')],
    ['other methods', 'OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n', complete('a.test')],
    ['Host after many headers', `GET / HTTP/1.1\r\n${'X-A: b\r\n'.repeat(100)}Host: late.test\r\n\r\n`, complete('late.test')],
    ['obs-text in another header', 'GET / HTTP/1.1\r\nX-Name: caf\xe9\r\nHost: a.test\r\n\r\n', complete('a.test')],
  ];
  for (const [what, text, want] of cases) assert.deepEqual(parseHttpHost(Buffer.from(text, 'latin1')), want, what);
});

test('every proper prefix of a request head is incomplete', () => {
  const head = 'GET /index.html HTTP/1.1\r\nHost: www.alice.test\r\nAccept: */*\r\n\r\n';
  for (let cut = 0; cut < head.length; cut++) {
    const r = parseHttpHost(Buffer.from(head.slice(0, cut)));
    if (r.kind !== 'incomplete') assert.fail(`cut at ${cut}: ${JSON.stringify(r)}`);
  }
});

test('what is not a request, or one to answer 400, is invalid as soon as the bytes show it', () => {
  const cases: [string, Buffer | string][] = [
    ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])],
    ['binary garbage', Buffer.from([0x00, 0xff, 0x13, 0x37])],
    ['SSH banner', 'SSH-2.0-OpenSSH_9.2p1\r\n'],
    ['no version', 'GET /\r\nHost: a.test\r\n\r\n'],
    ['version without minor', 'GET / HTTP/2\r\nHost: a.test\r\n\r\n'],
    ['method too long, no space yet', 'A'.repeat(40)],
    ['method with a bad character', 'GE(T / HTTP/1.1\r\n'],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n'],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: a.test\r\n X-Folded: yes\r\n\r\n'],
    ['header without colon', 'GET / HTTP/1.1\r\nHost a.test\r\n\r\n'],
    ['space before the colon', 'GET / HTTP/1.1\r\nHost : a.test\r\n\r\n'],
    ['control byte in a header', 'GET / HTTP/1.1\r\nHost: a.test\r\nX: \x01\r\n\r\n'],
    ['Host with userinfo', 'GET / HTTP/1.1\r\nHost: user@a.test\r\n\r\n'],
    ['Host with a space', 'GET / HTTP/1.1\r\nHost: a b.test\r\n\r\n'],
    ['Host with a bad port', 'GET / HTTP/1.1\r\nHost: a.test:80x\r\n\r\n'],
    ['Host with a path', 'GET / HTTP/1.1\r\nHost: a.test/x\r\n\r\n'],
    ['IPv6 without brackets', 'GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n'],
    ['bad bracketed literal', 'GET / HTTP/1.1\r\nHost: [not-v6]\r\n\r\n'],
  ];
  for (const [what, bytes] of cases) {
    const r = parseHttpHost(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    assert.equal(r.kind, 'invalid', `${what}: ${JSON.stringify(r)}`);
  }
});

test('hostOf', () => {
  const cases: [string, string | undefined | null][] = [
    ['a.test', 'a.test'],
    ['A.TEST:443', 'a.test'],
    ['a.test:', 'a.test'],
    ['[::1]', '::1'],
    ['[::1]:8443', '::1'],
    ['', undefined],
    ['a.test:99999x', null],
    ['*.a.test', null],
    ['[::1', null],
    ['a..test', null],
  ];
  for (const [value, want] of cases) assert.equal(hostOf(value), want, value);
});
