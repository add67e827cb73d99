import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextAttemptAt, renewalDueAt, type ScheduleConfig } from '../src/schedule.js';

/**
 * The renewal timing with a clock the test drives. The CA here is a function with outages: only
 * the scheduling math is under test (issuance itself is tested against pebble, test/acme.e2e).
 */
const DAY = 86_400_000;
const CFG: ScheduleConfig = { renewBeforeDays: 30, jitterSeconds: 3600, retryMinSeconds: 60, retryMaxSeconds: 6 * 3600 };

/** A deterministic [0,1) sequence (xorshift), so a failure replays. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

test('due time: renewBeforeDays, capped at a third of the lifetime', () => {
  assert.equal(renewalDueAt({ notBefore: 0, notAfter: 90 * DAY }, CFG), 60 * DAY);
  assert.equal(renewalDueAt({ notBefore: 0, notAfter: 30 * DAY }, CFG), 20 * DAY);
  assert.equal(renewalDueAt({ notBefore: 0, notAfter: 30_000 }, CFG), 20_000);
});

test('no certificate: now; jitter only moves renewal earlier, within a quarter of the window', () => {
  assert.equal(nextAttemptAt({}, 0, undefined, 5, CFG, 0.5), 5);
  const dates = { notBefore: 0, notAfter: 90 * DAY };
  assert.equal(nextAttemptAt(dates, 0, undefined, 0, CFG, 0), 60 * DAY);
  assert.equal(nextAttemptAt(dates, 0, undefined, 0, CFG, 0.999), 60 * DAY - 0.999 * 3600_000);
});

test('backoff doubles from retryMinSeconds up to retryMaxSeconds, ±25 %', () => {
  const at = (failures: number, r: number) => nextAttemptAt({}, failures, 1000, 1000, CFG, r) - 1000;
  assert.equal(at(1, 0.5), 60_000);
  assert.equal(at(2, 0.5), 120_000);
  assert.equal(at(20, 0.5), 6 * 3600_000);
  assert.equal(at(1, 0), 45_000);
  // Close to expiry the wait shrinks to a quarter of what is left, so several tries remain.
  const near = nextAttemptAt({ notBefore: 0, notAfter: 30 * DAY }, 20, 30 * DAY - 3600_000, 0, CFG, 0.5);
  assert.equal(near, 30 * DAY - 3600_000 + 900_000);
});

test('200 simulated days, 30-day certificates, CA outages up to 9 days: never an expired certificate', () => {
  const random = rng(0x5eed);
  const LIFETIME = 30 * DAY;
  // Outages: [start, end) in simulated ms; the CA refuses every order inside them.
  const outages: [number, number][] = [];
  for (let t = 5 * DAY; t < 200 * DAY; t += 17 * DAY + random() * 10 * DAY) outages.push([t, t + random() * 9 * DAY]);
  const caAnswers = (now: number) => !outages.some(([a, b]) => now >= a && now < b) && random() > 0.2;

  let now = 0;
  let cert: { notBefore: number; notAfter: number } | undefined;
  let failures = 0;
  let last: number | undefined;
  let issued = 0;
  let attempts = 0;
  while (now < 200 * DAY) {
    const next = nextAttemptAt(cert ?? {}, failures, last, now, CFG, random());
    assert.ok(next >= now - 1, 'never in the past');
    // Between now and the next attempt the certificate in use must stay valid (after the first one).
    if (cert !== undefined) assert.ok(Math.min(next, 200 * DAY) < cert.notAfter, `certificate expired at day ${(cert.notAfter / DAY).toFixed(2)} before the attempt at ${(next / DAY).toFixed(2)}`);
    now = Math.max(now, next);
    attempts++;
    last = now;
    if (caAnswers(now)) {
      cert = { notBefore: now, notAfter: now + LIFETIME };
      failures = 0;
      issued++;
    } else failures++;
  }
  assert.ok(outages.length >= 6, `${outages.length} outages`);
  assert.ok(issued >= 9 && issued <= 12, `${issued} certificates in 200 days`);
  assert.ok(attempts < 400, `${attempts} attempts`);
});
