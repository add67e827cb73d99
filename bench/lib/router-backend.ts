import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

/**
 * The backend of the router benchmark, run as its own process (`node router-backend.js KEY CERT`)
 * so that its CPU is not the benchmark client's: an HTTP and an HTTPS server on free loopback
 * ports, printed as one JSON line `{"http": P, "https": P}` on stdout.
 *   GET /big?mib=N   N MiB (a 1 MiB block repeated, written with backpressure)
 *   anything else    `ok`
 */
const [keyFile, certFile] = process.argv.slice(2);
if (keyFile === undefined || certFile === undefined) {
  process.stderr.write('usage: node router-backend.js KEY CERT\n');
  process.exit(2);
}

const BLOCK = Buffer.alloc(1024 * 1024, 0x61);

function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://backend');
  if (url.pathname !== '/big') {
    res.setHeader('Content-Length', 2);
    return void res.end('ok');
  }
  const mib = Math.max(1, Math.min(64 * 1024, Number(url.searchParams.get('mib')) || 1));
  res.setHeader('Content-Length', mib * BLOCK.length);
  let sent = 0;
  const pump = (): void => {
    while (sent < mib) {
      sent++;
      if (!res.write(BLOCK)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

const http = createHttpServer(handler);
const https = createHttpsServer({ key: readFileSync(keyFile), cert: readFileSync(certFile) }, handler);
// Connections come and go by the thousand: no keep-alive wait on our side.
http.keepAliveTimeout = 1_000;
https.keepAliveTimeout = 1_000;
let ready = 0;
const ports: Record<string, number> = {};
for (const [name, server] of [['http', http], ['https', https]] as const) {
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
    ports[name] = (server.address() as { port: number }).port;
    if (++ready === 2) process.stdout.write(`${JSON.stringify(ports)}\n`);
  });
}
process.on('SIGTERM', () => process.exit(0));
