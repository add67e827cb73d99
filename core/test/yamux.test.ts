import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { YamuxSession, YamuxStream, YAMUX_HEADER_BYTES, FrameType, Flag, GoAwayCode } from '../src/net/yamux.js';
import { encodeTunnelHandshake, parseTunnelHandshake } from '../src/formats/tunnel.js';

/** A connected TCP pair on loopback (real sockets: the session's backpressure is the kernel's). */
async function socketPair(): Promise<[Socket, Socket, () => void]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const c = connect({ host: '127.0.0.1', port });
  await once(c, 'connect');
  const [s] = await accepted;
  return [c, s, () => server.close()];
}

async function sessions(t: { after(fn: () => void): void }, onServerStream?: (s: YamuxStream) => void, opts: { pingIntervalMs?: number } = {}): Promise<{ client: YamuxSession; server: YamuxSession }> {
  const [c, s, close] = await socketPair();
  const client = new YamuxSession(c, { client: true, pingIntervalMs: opts.pingIntervalMs ?? 0, onStream: (st) => st.pipe(st) });
  const server = new YamuxSession(s, { client: false, pingIntervalMs: opts.pingIntervalMs ?? 0, ...(onServerStream === undefined ? {} : { onStream: onServerStream }) });
  t.after(() => {
    client.destroy();
    server.destroy();
    close();
  });
  return { client, server };
}

function frame(type: number, flags: number, id: number, length: number): Buffer {
  const h = Buffer.alloc(YAMUX_HEADER_BYTES);
  h[1] = type;
  h.writeUInt16BE(flags, 2);
  h.writeUInt32BE(id, 4);
  h.writeUInt32BE(length, 8);
  return h;
}

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

test('the handshake encodes as COMPAT §3 shows and parses back, piece by piece', () => {
  const h = encodeTunnelHandshake('foobar');
  assert.equal(h.toString('hex'), '1111000666 6f6f626172'.replace(' ', ''));
  for (let i = 0; i < h.length; i++) assert.deepEqual(parseTunnelHandshake(h.subarray(0, i)), { kind: 'incomplete' }, `prefix ${i}`);
  const r = parseTunnelHandshake(h);
  assert.equal(r.kind, 'complete');
  assert.equal(r.kind === 'complete' && r.secret.toString(), 'foobar');
  assert.equal(parseTunnelHandshake(Buffer.from('GET / HTTP/1.1')).kind, 'invalid');
  assert.equal(parseTunnelHandshake(Buffer.from([0x11, 0x12])).kind, 'invalid');
  assert.equal(parseTunnelHandshake(Buffer.from([0x11, 0x11, 0, 0])).kind, 'invalid', 'empty secret');
  assert.equal(parseTunnelHandshake(Buffer.from([0x11, 0x11, 0xff, 0xff])).kind, 'invalid', 'longer than we accept');
  assert.throws(() => encodeTunnelHandshake(''), RangeError);
});

test('streams opened by the server reach the client and carry 64 MB each way intact', async (t) => {
  const { server } = await sessions(t);
  const payload = randomBytes(64 * 1024 * 1024);
  const st = server.open();
  const back = readAll(st);
  st.end(payload);
  const got = await back;
  assert.equal(got.length, payload.length);
  assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(payload).digest('hex'));
});

test('many concurrent streams from the client side, each echoed, none mixed up', async (t) => {
  const { client } = await sessions(t, (st) => st.pipe(st));
  const results = await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const st = client.open();
      assert.equal(st.id % 2, 1, 'client ids are odd');
      const data = randomBytes(10_000 + i * 100);
      const back = readAll(st);
      st.end(data);
      return Buffer.compare(await back, data) === 0;
    }),
  );
  assert.ok(results.every(Boolean));
  await new Promise((r) => setImmediate(r));
  assert.equal(client.size, 0, 'closed streams are forgotten');
});

test('half-close: the answer still flows after our FIN', async (t) => {
  const { client } = await sessions(t, (st) => {
    // Answers only once the request ended (FIN), like a server reading to EOF.
    void readAll(st).then((req) => st.end(Buffer.concat([Buffer.from('got '), req])));
  });
  const st = client.open();
  const back = readAll(st);
  st.end('ping');
  assert.equal((await back).toString(), 'got ping');
});

test('a reset stream errors on the other side; the session lives on', async (t) => {
  let serverSide: YamuxStream | undefined;
  const { client } = await sessions(t, (st) => {
    serverSide = st;
  });
  const st = client.open();
  st.write('x');
  const err = once(st, 'error');
  while (serverSide === undefined) await new Promise((r) => setImmediate(r));
  serverSide.destroy();
  const [e] = (await err) as [NodeJS.ErrnoException];
  assert.equal(e.code, 'ECONNRESET');
  assert.ok(st.wasReset);
  const again = client.open();
  again.end();
  assert.equal(client.closed, false);
});

test('streams beyond maxStreams are refused with RST, not queued', async (t) => {
  const [c, s, close] = await socketPair();
  const server = new YamuxSession(s, { client: false, pingIntervalMs: 0, maxStreams: 2, onStream: () => undefined });
  const client = new YamuxSession(c, { client: true, pingIntervalMs: 0 });
  t.after(() => {
    client.destroy();
    server.destroy();
    close();
  });
  const streams = [client.open(), client.open(), client.open()];
  const [e] = (await once(streams[2]!, 'error')) as [NodeJS.ErrnoException];
  assert.equal(e.code, 'ECONNRESET');
  assert.equal(server.size, 2);
  assert.equal(server.streamsRefused, 1);
});

test('a peer that never answers pings is dropped after the ping timeout', async (t) => {
  const [c, s, close] = await socketPair();
  const session = new YamuxSession(s, { client: false, pingIntervalMs: 50, pingTimeoutMs: 200 });
  t.after(() => {
    session.destroy();
    c.destroy();
    close();
  });
  c.on('data', () => undefined); // reads, never answers
  const started = Date.now();
  const [err] = (await once(session, 'close')) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ETIMEDOUT');
  assert.ok(Date.now() - started < 2_000);
  assert.ok(s.destroyed);
});

test('a peer that answers pings keeps its session, and the RTT is known', async (t) => {
  const { client, server } = await sessions(t, undefined, { pingIntervalMs: 30 });
  // Several ping rounds each way: each one answered, none ending the session.
  while (server.pingsAnswered < 5 || client.pingsAnswered < 5) await new Promise((r) => setTimeout(r, 10));
  assert.equal(server.closed, false);
  assert.equal(client.closed, false);
  assert.ok(server.rtt !== undefined && server.rtt < 100);
});

test('protocol violations end the session with a go-away: bad version, more than the window, wrong parity, duplicate SYN', async (t) => {
  const cases: [string, Buffer[]][] = [
    ['version 1', [Buffer.from([1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])]],
    ['unknown type', [frame(7, 0, 0, 0)]],
    ['even id from a client', [frame(FrameType.WindowUpdate, Flag.SYN, 2, 0)]],
    ['duplicate SYN', [frame(FrameType.WindowUpdate, Flag.SYN, 1, 0), frame(FrameType.WindowUpdate, Flag.SYN, 1, 0)]],
    ['more than the window', [frame(FrameType.WindowUpdate, Flag.SYN, 1, 0), frame(FrameType.Data, 0, 1, 300 * 1024), Buffer.alloc(300 * 1024)]],
  ];
  for (const [name, bytes] of cases) {
    const [c, s, close] = await socketPair();
    // Streams nobody reads: their window is never granted again, so 300 KiB overflows it.
    const session = new YamuxSession(s, { client: false, pingIntervalMs: 0, onStream: () => undefined });
    t.after(() => {
      session.destroy();
      c.destroy();
      close();
    });
    const received: Buffer[] = [];
    c.on('data', (d: Buffer) => received.push(d));
    const closed = once(session, 'close');
    for (const b of bytes) c.write(b);
    const [err] = (await closed) as [Error];
    assert.equal(err.name, 'YamuxProtocolError', name);
    await once(c, 'end');
    const all = Buffer.concat(received);
    const goAway = all.subarray(all.length - YAMUX_HEADER_BYTES);
    assert.equal(goAway[1], FrameType.GoAway, `${name}: a go-away is the last frame`);
    assert.equal(goAway.readUInt32BE(8), GoAwayCode.ProtocolError, name);
  }
});

test('headers and data split into 1-byte segments are reassembled', async (t) => {
  const [c, s, close] = await socketPair();
  const got: Buffer[] = [];
  const session = new YamuxSession(s, {
    client: false,
    pingIntervalMs: 0,
    onStream: (st) => st.on('data', (d: Buffer) => got.push(d)),
  });
  t.after(() => {
    session.destroy();
    c.destroy();
    close();
  });
  const bytes = Buffer.concat([frame(FrameType.WindowUpdate, Flag.SYN, 1, 0), frame(FrameType.Data, 0, 1, 5), Buffer.from('hello'), frame(FrameType.Data, 0, 1, 3), Buffer.from('abc')]);
  for (const b of bytes) {
    c.write(Buffer.from([b]));
    await new Promise((r) => setImmediate(r));
  }
  while (Buffer.concat(got).length < 8) await new Promise((r) => setTimeout(r, 5));
  assert.equal(Buffer.concat(got).toString(), 'helloabc');
});
