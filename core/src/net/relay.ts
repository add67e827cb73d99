import type { Duplex } from 'node:stream';

/** Either end of a relay: a socket (allowHalfOpen) or a yamux stream. */
export type RelayEnd = Duplex;

/**
 * Relays bytes both ways between `a` and `b` with backpressure (pipe), half-close carried across
 * (a side done sending ends the other's writable side, so the answer still flows back), and an
 * error or an abrupt close on either side destroying both. `onDone` runs once both have closed.
 * Sockets must be created with `allowHalfOpen: true`, or a FIN would close them before the answer.
 */
export function relay(a: RelayEnd, b: RelayEnd, onDone?: () => void): void {
  let open = 2;
  const abort = (): void => {
    a.destroy();
    b.destroy();
  };
  const wire = (x: RelayEnd, y: RelayEnd): void => {
    x.pipe(y);
    x.on('error', abort);
    x.once('close', () => {
      // Closed before both of its directions ended cleanly: the other side cannot finish either.
      if (!(x.readableEnded && x.writableFinished)) y.destroy();
      if (--open === 0) onDone?.();
    });
  };
  wire(a, b);
  wire(b, a);
}
