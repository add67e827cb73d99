import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acmeChallengeToken, challengeResponse } from '../src/acme-challenge.js';

test('acmeChallengeToken: only GET/HEAD of a base64url token under /.well-known/acme-challenge/', () => {
  const head = (line: string) => Buffer.from(`${line}\r\nHost: a.example\r\n\r\n`, 'latin1');
  const table: [string, string | undefined][] = [
    ['GET /.well-known/acme-challenge/abc_DEF-123 HTTP/1.1', 'abc_DEF-123'],
    ['HEAD /.well-known/acme-challenge/tok HTTP/1.0', 'tok'],
    ['POST /.well-known/acme-challenge/tok HTTP/1.1', undefined],
    ['GET /.well-known/acme-challenge/ HTTP/1.1', undefined],
    ['GET /.well-known/acme-challenge/../../etc HTTP/1.1', undefined],
    ['GET /.well-known/acme-challenge/a/b HTTP/1.1', undefined],
    ['GET /.well-known/acme-challenge/tok?x=1 HTTP/1.1', undefined],
    [`GET /.well-known/acme-challenge/${'a'.repeat(129)} HTTP/1.1`, undefined],
    ['GET /index.html HTTP/1.1', undefined],
  ];
  for (const [line, want] of table) assert.equal(acmeChallengeToken(head(line)), want, line);
});

test('challengeResponse: a complete 200 carrying exactly the key authorization', () => {
  const r = challengeResponse('tok.thumb').toString('latin1');
  assert.match(r, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(r, /\r\nContent-Length: 9\r\n/);
  assert.ok(r.endsWith('\r\n\r\ntok.thumb'));
});
