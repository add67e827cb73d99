import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';

/** A temp dir removed when the test ends, pass or fail. */
export async function tempDir(t: TestContext, prefix = 'plexus-core-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  return dir;
}

/** Runs `fn`, which must throw or reject, and returns what it threw. */
export async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected an error, got none');
}

/** Asserts that `fn` throws an error carrying `code`, and returns that error. */
export async function rejectsWithCode(fn: () => unknown, code: string): Promise<{ code: string; data?: Record<string, unknown> } & Error> {
  const err = (await thrown(fn)) as { code?: unknown } & Error;
  assert.equal(err.code, code, `expected ${code}, got ${String(err.code)} (${err.message})`);
  return err as { code: string; data?: Record<string, unknown> } & Error;
}

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'hex'));
}
