import { PlexusError } from '../errors.js';

/**
 * The code `p` (or `fn()`) fails with, 'no error' when it succeeds; a failure that is not a
 * PlexusError is rethrown, since a test of coded errors must not pass on a crash.
 */
export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (err instanceof PlexusError) return err.code;
    throw err;
  }
  return 'no error';
}
