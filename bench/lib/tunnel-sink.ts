import { createServer, type Socket } from 'node:net';

/**
 * The "local service" of the tunnel benchmark, run as its own process (`node tunnel-sink.js`): one
 * loopback TCP server that every path ends at (direct, through the plexus router + tunnel, through
 * `ssh -R`), printed as one JSON line `{"port": P}` on stdout. Each connection starts with an HTTP
 * request head (the router needs the `Host:` line to route it); the path picks the behaviour:
 *
 *   GET /up     consume and count every byte after the head; on the client's half-close answer
 *               `<count>\n` and close (the client times the upload up to this answer)
 *   GET /down   write 1 MiB blocks of 'a' as fast as the socket takes them, until the client closes
 *   GET /echo   answer `HTTP/1.1 204 No Content` at once and close (new-connection latency)
 *   GET /idle   answer one byte `.` and keep the connection open, idle, until the client closes it
 */
const BLOCK = Buffer.alloc(1024 * 1024, 0x61);
const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD = 16_384;

function serve(s: Socket): void {
  s.setNoDelay(true);
  s.on('error', () => s.destroy()); // the download side ends with the client resetting
  let head: Buffer = Buffer.alloc(0);
  const onHead = (d: Buffer): void => {
    head = head.length === 0 ? d : Buffer.concat([head, d]);
    const end = head.indexOf(HEAD_END);
    if (end < 0) {
      if (head.length > MAX_HEAD) s.destroy();
      return;
    }
    s.off('data', onHead);
    const line = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
    const rest = head.subarray(end + HEAD_END.length);
    const path = /^GET (\/\w+) /.exec(line)?.[1];
    switch (path) {
      case '/up': {
        let count = rest.length;
        s.on('data', (chunk: Buffer) => (count += chunk.length));
        s.once('end', () => s.end(`${count}\n`));
        return;
      }
      case '/down': {
        s.on('data', () => undefined);
        const pump = (): void => {
          while (!s.destroyed && s.writable) if (!s.write(BLOCK)) return void s.once('drain', pump);
        };
        s.once('end', () => s.destroy());
        pump();
        return;
      }
      case '/echo':
        s.on('data', () => undefined);
        s.end('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
        return;
      case '/idle':
        s.on('data', () => undefined);
        s.once('end', () => s.destroy());
        s.write('.');
        return;
      default:
        s.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
    }
  };
  s.on('data', onHead);
}

const server = createServer({ noDelay: true }, serve);
server.maxConnections = 100_000;
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
