/**
 * When to (re)issue a certificate: pure functions of the certificate's dates, its failure count,
 * the clock and a random number, so the scheduling math is tested with a clock the test drives
 * (test/schedule.test.ts runs 200 simulated days).
 */

export interface ScheduleConfig {
  renewBeforeDays: number;
  jitterSeconds: number;
  retryMinSeconds: number;
  retryMaxSeconds: number;
}

export interface CertDates {
  /** Epoch ms; undefined when there is no certificate yet. */
  notBefore?: number;
  notAfter?: number;
}

const DAY = 86_400_000;

/**
 * When renewal is due: `renewBeforeDays` before expiry, but never more than a third of the lifetime
 * before it (a 90-day certificate with the default 30 days renews at day 60; a 30-day test
 * certificate at day 20 rather than at once).
 */
export function renewalDueAt(dates: Required<CertDates>, cfg: ScheduleConfig): number {
  const lifetime = dates.notAfter - dates.notBefore;
  return dates.notAfter - Math.min(cfg.renewBeforeDays * DAY, lifetime / 3);
}

/**
 * The next attempt, in epoch ms. No certificate: now (after a failure: the backoff). A certificate:
 * its due time moved earlier by up to `jitterSeconds` (at most a quarter of the renewal window), so
 * a fleet does not renew at one instant; after `failures` failed attempts, `retryMinSeconds` doubled
 * per failure up to `retryMaxSeconds`, with ±25 % jitter, and never more than a quarter of the time
 * left before expiry, so a long CA outage still leaves several tries before the old certificate lapses.
 * `random` is in [0, 1).
 */
export function nextAttemptAt(dates: CertDates, failures: number, lastAttemptAt: number | undefined, now: number, cfg: ScheduleConfig, random: number): number {
  if (failures > 0 && lastAttemptAt !== undefined) {
    let delay = Math.min(cfg.retryMaxSeconds * 1000, cfg.retryMinSeconds * 1000 * 2 ** Math.min(failures - 1, 30));
    if (dates.notAfter !== undefined) delay = Math.max(cfg.retryMinSeconds * 1000, Math.min(delay, (dates.notAfter - lastAttemptAt) / 4));
    return lastAttemptAt + delay * (0.75 + random / 2);
  }
  if (dates.notBefore === undefined || dates.notAfter === undefined) return now;
  const due = renewalDueAt({ notBefore: dates.notBefore, notAfter: dates.notAfter }, cfg);
  const jitter = Math.min(cfg.jitterSeconds * 1000, (dates.notAfter - due) / 4) * random;
  return due - jitter;
}
