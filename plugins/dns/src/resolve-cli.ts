import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import dnsPacket, { type Answer, type Packet } from 'dns-packet';
import { type HostPort, PlexusError, formatHostPort, literalLookup, parseHostPort } from '@plexus/core';

/**
 * `plexus dns query`: one question over UDP (TCP when the answer is truncated), with the same
 * packet library the dns plugin answers with. For checking a DNS node without dig.
 */

export interface QueryAnswer {
  server: string;
  name: string;
  type: string;
  rcode: string;
  authoritative: boolean;
  answers: { name: string; type: string; ttl: number; data: string }[];
}

const TYPES = ['A', 'AAAA', 'CNAME', 'TXT', 'MX', 'NS', 'SOA', 'SRV', 'CAA'] as const;
export type QueryType = (typeof TYPES)[number];

export function queryType(value: string): QueryType {
  const t = value.toUpperCase();
  if (!(TYPES as readonly string[]).includes(t)) throw new PlexusError('ERR_USAGE', `--type must be one of ${TYPES.join(', ')}, got '${value}'`);
  return t as QueryType;
}

/** `IP:PORT`, or an IP (port 53). A wildcard listen address means this machine. */
export function serverAddress(value: string): HostPort {
  const hp = parseHostPort(value, true) ?? parseHostPort(value.includes(':') ? `[${value}]:53` : `${value}:53`, true);
  if (hp === undefined) throw new PlexusError('ERR_USAGE', `--server must be IP or IP:PORT, got '${value}'`);
  if (hp.host === '0.0.0.0') return { host: '127.0.0.1', port: hp.port };
  if (hp.host === '::') return { host: '::1', port: hp.port };
  return hp;
}

export async function queryServer(server: HostPort, name: string, type: QueryType, timeoutMs: number): Promise<QueryAnswer> {
  const id = randomInt(0, 0x10000);
  const question = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }] });
  const reply = dnsPacket.decode(await udpExchange(server, question, id, timeoutMs));
  const rcode = (reply as Packet & { rcode?: string }).rcode ?? 'NOERROR';
  return {
    server: formatHostPort(server),
    name,
    type,
    rcode,
    authoritative: ((reply.flags ?? 0) & dnsPacket.AUTHORITATIVE_ANSWER) !== 0,
    answers: (reply.answers ?? []).map((a) => ({ name: a.name, type: a.type, ttl: (a as { ttl?: number }).ttl ?? 0, data: presentation(a) })),
  };
}

function udpExchange(server: HostPort, question: Buffer, id: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type: server.host.includes(':') ? 'udp6' : 'udp4', lookup: literalLookup });
    const timer = setTimeout(() => finish(new PlexusError('ERR_TIMEOUT', `no answer from ${formatHostPort(server)} within ${timeoutMs} ms (is a DNS node listening there?)`)), timeoutMs);
    const finish = (result: Buffer | Error): void => {
      clearTimeout(timer);
      sock.close();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    sock.on('message', (msg, rinfo) => {
      // Only the server asked may answer, with our id.
      if (rinfo.port !== server.port || msg.length < 12 || msg.readUInt16BE(0) !== id) return;
      finish(msg);
    });
    sock.on('error', (err) => finish(new PlexusError('ERR_CONNECT', `${formatHostPort(server)}: ${err.message}`)));
    sock.send(question, server.port, server.host);
  });
}

/** One answer's data as dig +short prints it. */
function presentation(a: Answer): string {
  const d = (a as { data?: unknown }).data;
  switch (a.type) {
    case 'TXT':
      return (Array.isArray(d) ? d : [d]).map((c) => JSON.stringify(Buffer.isBuffer(c) ? c.toString('utf8') : String(c))).join(' ');
    case 'MX': {
      const m = d as { preference: number; exchange: string };
      return `${m.preference} ${m.exchange}.`;
    }
    case 'SRV': {
      const s = d as { priority: number; weight: number; port: number; target: string };
      return `${s.priority} ${s.weight} ${s.port} ${s.target}.`;
    }
    case 'SOA': {
      const s = d as { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };
      return `${s.mname}. ${s.rname}. ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`;
    }
    case 'CAA': {
      const c = d as { flags: number; tag: string; value: string };
      return `${c.flags} ${c.tag} ${JSON.stringify(c.value)}`;
    }
    case 'CNAME':
    case 'NS':
      return `${String(d)}.`;
    default:
      return String(d);
  }
}
