import { Resolver } from 'node:dns/promises';
import { PlexusError, acmeHttp01Key, formatHostPort, parseHostPort, type GatewayCapability, type Logger, type ExplorerClient, type StoreCapability } from '@plexus/core';
import type { AcmeConfig } from './config.js';
import { ACME_ERRORS } from './errors.js';
import type { ChallengeRecord } from './files.js';

/** The gateway's protocol id (`/plexus/gateway/1`); the acme plugin talks to it, never imports it. */
const GATEWAY_PROTOCOL = '/plexus/gateway/1';

/** How the challenge responses get published: through the gateway (DNS-01) or the store the routers read (HTTP-01). */
export interface ChallengeDeps {
  config: AcmeConfig;
  log: Logger;
  /** The gateway on this node, when it runs one. */
  gateway: GatewayCapability | undefined;
  /** The store on this node, when it runs one. */
  store: StoreCapability | undefined;
  /** This node's key: the signer of its own certificates' TXT records. */
  nodeKey: string;
  /** A client of the remote gateway (`plugins.acme.gateway` or `node.explorer`), signed with the node's key. */
  remoteGateway(): Promise<ExplorerClient>;
}

/** `_acme-challenge.<name>` (a wildcard's TXT lives at its base name, RFC 8555 §8.4). */
export function dnsChallengeName(identifier: string): string {
  return `_acme-challenge.${identifier.replace(/^\*\./, '')}`;
}

/** Publishes and removes challenge responses, and waits until DNS serves them. */
export class Challenges {
  constructor(private readonly deps: ChallengeDeps) {}

  async present(record: ChallengeRecord): Promise<void> {
    if (record.type === 'http-01') {
      await this.store().redis.set(acmeHttp01Key(record.host, record.token), record.keyAuthorization, 'EX', this.deps.config.http01TtlSeconds);
      return;
    }
    await this.txt(record, 'add');
  }

  /** Removes a response; removing one that is not there is fine (cleanup after a crash). */
  async remove(record: ChallengeRecord): Promise<void> {
    if (record.type === 'http-01') {
      await this.store().redis.del(acmeHttp01Key(record.host, record.token));
      return;
    }
    await this.txt(record, 'remove');
  }

  /** Resolves once every configured DNS server answers every DNS-01 value (ERR_ACME_PROPAGATION after the deadline). */
  async propagated(records: readonly ChallengeRecord[]): Promise<void> {
    const txts = records.filter((r): r is ChallengeRecord & { type: 'dns-01' } => r.type === 'dns-01');
    const { dnsServers, propagationTimeoutSeconds } = this.deps.config;
    if (txts.length === 0 || dnsServers.length === 0) return;
    const started = Date.now();
    const deadline = started + propagationTimeoutSeconds * 1000;
    await Promise.all(
      dnsServers.map(async (server) => {
        const resolver = new Resolver({ timeout: 1000, tries: 1 });
        const hp = parseHostPort(server, true)!;
        resolver.setServers([formatHostPort(hp)]);
        for (const r of txts) {
          for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
            if (await answers(resolver, r.fqdn, r.value)) break;
            if (Date.now() > deadline) {
              throw new PlexusError(ACME_ERRORS.ERR_ACME_PROPAGATION, `DNS server ${server} did not answer TXT ${r.fqdn} within ${propagationTimeoutSeconds} s`, {
                data: { server, name: r.fqdn },
              });
            }
            await new Promise((res) => setTimeout(res, delay));
          }
        }
      }),
    );
    this.deps.log.info({ servers: dnsServers, names: [...new Set(txts.map((r) => r.fqdn))], ms: Date.now() - started }, 'acme: every DNS server answers the challenge');
  }

  private store(): StoreCapability {
    const store = this.deps.store;
    if (store === undefined || store.role !== 'master') throw new PlexusError(ACME_ERRORS.ERR_ACME_NO_STORE, 'HTTP-01 needs the store master on this node');
    return store;
  }

  private async txt(record: ChallengeRecord & { type: 'dns-01' }, op: 'add' | 'remove'): Promise<void> {
    const { gateway, nodeKey } = this.deps;
    if (gateway?.txtFor !== undefined) {
      await gateway.txtFor(record.signer, record.fqdn, op, record.value);
      return;
    }
    // Only this node's own names can go through a remote gateway: the call is signed with its key.
    if (record.signer !== nodeKey) throw new PlexusError(ACME_ERRORS.ERR_ACME_NO_GATEWAY, `cannot write ${record.fqdn} for another key without a gateway on this node`);
    const [label, ...rest] = record.fqdn.split('.');
    const where = { name: label!, domain: rest.join('.') };
    const client = await this.deps.remoteGateway();
    try {
      if (op === 'add') await client.call(GATEWAY_PROTOCOL, 'domain_register_txt', { ...where, text: record.value }, { signed: true });
      else await client.call(GATEWAY_PROTOCOL, 'domain_delete', { ...where, type: 'txt', value: record.value }, { signed: true });
    } finally {
      await client.close();
    }
  }
}

async function answers(resolver: Resolver, name: string, value: string): Promise<boolean> {
  try {
    return (await resolver.resolveTxt(name)).some((chunks) => chunks.join('') === value);
  } catch {
    // NXDOMAIN / no data / timeout: not there yet.
    return false;
  }
}
