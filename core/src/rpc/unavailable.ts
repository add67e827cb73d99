/**
 * Recognises failures of a backing service (Redis through ioredis, or any socket) so the RPC
 * server answers ERR_UNAVAILABLE instead of ERR_INTERNAL: a store that is down is an outage to
 * report and retry, not a bug in plexus. Decided here, centrally, so no plugin has to wrap every
 * store call.
 */
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTCONN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** ioredis's own wording for a connection that is down or reconnecting, and Redis's "not now" replies. */
const UNAVAILABLE_MESSAGE = /Connection is closed|Stream isn't writeable|enableOfflineQueue|max retries per request|Command timed out|^(LOADING|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN) |^READONLY /i;

/** True when `err` (or one of its causes) says a backing service is unreachable or not ready. */
export function isUnavailableError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (e.name === 'MaxRetriesPerRequestError' || (typeof code === 'string' && UNAVAILABLE_ERRNO.has(code)) || UNAVAILABLE_MESSAGE.test(e.message)) return true;
    e = e.cause;
  }
  return false;
}
