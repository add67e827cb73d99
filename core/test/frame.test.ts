import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FrameDecoder, encodeFrame, type DecodedFrame } from '../src/rpc/frame.js';
import { PlexusError } from '../src/errors.js';

/** A frame with an arbitrary body: 4-byte big-endian length, then the bytes as given. */
function rawFrame(body: Uint8Array | string): Uint8Array {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  const out = Buffer.alloc(FRAME_HEADER_BYTES + b.length);
  out.writeUInt32BE(b.length, 0);
  b.copy(out, FRAME_HEADER_BYTES);
  return out;
}

function header(length: number): Uint8Array {
  const out = Buffer.alloc(FRAME_HEADER_BYTES);
  out.writeUInt32BE(length, 0);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts.map((p) => Buffer.from(p)));
}

function values(frames: DecodedFrame[]): unknown[] {
  return frames.map((f) => {
    assert.ok(f.ok, `unexpected bad frame: ${f.ok ? '' : f.error.code}`);
    return f.value;
  });
}

const SAMPLES: unknown[] = [
  { id: 1, method: 'echo', params: { text: 'hello' } },
  { id: 'abc', method: 'set', params: { key: 'ü日本😀', value: 3 }, auth: { pubkey: 'a'.repeat(64) } },
  [],
  null,
  'just a string',
  { big: 'x'.repeat(3000) },
];

test('encodeFrame writes a big-endian length then the UTF-8 JSON', () => {
  const frame = encodeFrame({ a: 'é' });
  const body = Buffer.from('{"a":"é"}', 'utf8');
  assert.equal(Buffer.from(frame).readUInt32BE(0), body.length);
  assert.deepEqual(Buffer.from(frame).subarray(4), body);
});

test('FrameDecoder: a stream of frames split at every byte boundary', () => {
  const stream = concat(...SAMPLES.map(encodeFrame));
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new FrameDecoder();
    const got = [...values(d.push(stream.subarray(0, cut))), ...values(d.push(stream.subarray(cut)))];
    assert.deepEqual(got, SAMPLES, `cut at ${cut}`);
    assert.equal(d.pendingBytes, 0);
  }
});

test('FrameDecoder: one byte at a time', () => {
  const stream = concat(...SAMPLES.map(encodeFrame));
  const d = new FrameDecoder();
  const got: unknown[] = [];
  for (let i = 0; i < stream.length; i++) got.push(...values(d.push(stream.subarray(i, i + 1))));
  assert.deepEqual(got, SAMPLES);
});

test('FrameDecoder: two cuts at every pair of positions inside a frame pair', () => {
  const stream = concat(encodeFrame(SAMPLES[0]), encodeFrame(SAMPLES[1]));
  for (let i = 0; i <= stream.length; i++) {
    for (let j = i; j <= stream.length; j += 3) {
      const d = new FrameDecoder();
      const got = [
        ...values(d.push(stream.subarray(0, i))),
        ...values(d.push(stream.subarray(i, j))),
        ...values(d.push(stream.subarray(j))),
      ];
      assert.deepEqual(got, [SAMPLES[0], SAMPLES[1]], `cuts at ${i}, ${j}`);
    }
  }
});

test('FrameDecoder: several frames in one chunk, with a partial one kept for later', () => {
  const full = concat(...SAMPLES.map(encodeFrame));
  const last = encodeFrame({ tail: true });
  const d = new FrameDecoder();
  assert.deepEqual(values(d.push(concat(full, last.subarray(0, 6)))), SAMPLES);
  assert.equal(d.pendingBytes, 6);
  assert.deepEqual(values(d.push(last.subarray(6))), [{ tail: true }]);
  assert.equal(d.pendingBytes, 0);
});

test('FrameDecoder: works on views into larger buffers', () => {
  const frame = encodeFrame({ v: 1 });
  const big = new Uint8Array(frame.length + 20);
  big.set(frame, 10);
  const d = new FrameDecoder();
  assert.deepEqual(values(d.push(big.subarray(10, 10 + frame.length))), [{ v: 1 }]);
});

test('FrameDecoder: a frame of exactly maxFrameBytes is accepted', () => {
  const max = 64;
  const body = `"${'x'.repeat(max - 2)}"`;
  const d = new FrameDecoder(max);
  assert.deepEqual(values(d.push(rawFrame(body))), ['x'.repeat(max - 2)]);
});

const OVERSIZE: { name: string; max: number; bytes: Uint8Array }[] = [
  { name: 'header alone, one byte over the limit', max: 64, bytes: header(65) },
  { name: 'header alone, 4 GiB declared', max: DEFAULT_MAX_FRAME_BYTES, bytes: header(0xffffffff) },
  { name: 'after a good frame in the same chunk', max: 64, bytes: concat(encodeFrame({ ok: 1 }), header(1000)) },
];

for (const c of OVERSIZE) {
  test(`FrameDecoder: oversize declared length throws ERR_FRAME_TOO_LARGE before the body arrives (${c.name})`, () => {
    const d = new FrameDecoder(c.max);
    let err: unknown;
    try {
      d.push(c.bytes);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof PlexusError);
    assert.equal(err.code, 'ERR_FRAME_TOO_LARGE');
    assert.equal(err.data?.limit, c.max);
  });
}

test('FrameDecoder: an oversize header split over two chunks throws once the 4th byte arrives', () => {
  const d = new FrameDecoder(64);
  const h = header(100_000);
  assert.deepEqual(d.push(h.subarray(0, 3)), []);
  assert.throws(() => d.push(h.subarray(3)), (e: unknown) => e instanceof PlexusError && e.code === 'ERR_FRAME_TOO_LARGE');
});

const MALFORMED: { name: string; body: Uint8Array | string }[] = [
  { name: 'not JSON', body: 'hello' },
  { name: 'truncated JSON', body: '{"id":1,' },
  { name: 'two JSON values', body: '{} {}' },
  { name: 'empty body', body: '' },
  { name: 'invalid UTF-8 (0xff)', body: new Uint8Array([0x22, 0xff, 0x22]) },
  { name: 'invalid UTF-8 (lone continuation byte)', body: new Uint8Array([0x22, 0x80, 0x22]) },
  { name: 'invalid UTF-8 (overlong encoding of "/")', body: new Uint8Array([0x22, 0xc0, 0xaf, 0x22]) },
  { name: 'invalid UTF-8 (truncated multi-byte)', body: new Uint8Array([0x22, 0xe6, 0x97, 0x22]) },
  { name: 'UTF-16 surrogate encoded in UTF-8', body: new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]) },
];

for (const c of MALFORMED) {
  test(`FrameDecoder: ${c.name} gives {ok:false} ERR_FRAME_MALFORMED and decoding continues`, () => {
    const d = new FrameDecoder();
    const frames = d.push(concat(encodeFrame({ before: 1 }), rawFrame(c.body), encodeFrame({ after: 2 })));
    assert.equal(frames.length, 3);
    assert.deepEqual(frames[0], { ok: true, value: { before: 1 } });
    const bad = frames[1]!;
    assert.equal(bad.ok, false);
    assert.ok(!bad.ok && bad.error instanceof PlexusError && bad.error.code === 'ERR_FRAME_MALFORMED');
    assert.deepEqual(frames[2], { ok: true, value: { after: 2 } });
    // And the decoder is still usable afterwards.
    assert.deepEqual(values(d.push(encodeFrame({ later: 3 }))), [{ later: 3 }]);
  });
}
