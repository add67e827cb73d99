import {
  DEFAULT_HTTP_PORT,
  DEFAULT_TLS_PORT,
  FieldFormatError,
  type FieldRecords,
  PlexusError,
  type PhonebookCapability,
  type PhonebookEntry,
  type RecordType,
  type RpcCall,
  type TcpService,
  TcprouterDecodeError,
  canonicalIp,
  decodeService,
  encodeService,
  fqdnOf,
  mergeRecords,
  parseField,
  removeRecords,
} from '@plexus/core';
import type { GatewayConfig } from './config.js';
import { placesOf, resolveFqdn, resolveTarget } from './domains.js';
import { findOwner, requireNameSignature, requireSigner } from './ownership.js';
import type { Change, GatewayStore, Target } from './store.js';

/** What a register call returns: where the records went and the field as it now reads. */
export interface RegisterResult {
  fqdn: string;
  domain: string;
  name: string;
  owner: string;
  records: FieldRecords;
}

/** One entry of `list`. Client secrets are never returned: whoever knows one can take the route. */
export type ListedEntry =
  | { kind: 'dns'; domain: string; name: string; fqdn: string; records: FieldRecords | null; error?: string }
  | { kind: 'tcp'; domain: string; addr: string; tlsport: number; httpport: number; tunnel: boolean; error?: string };

/**
 * The gateway's behaviour, apart from RPC framing: resolve which name owns a DNS name, check the
 * caller is that name's key, then change the COMPAT §1/§2 keys through the store atomically.
 */
export class Gateway {
  constructor(
    private readonly store: GatewayStore,
    private readonly phonebook: PhonebookCapability,
    private readonly config: GatewayConfig,
  ) {}

  /** `domain_register_a|aaaa|cname|txt`: merges `values` into the field without duplicates. */
  async register(call: RpcCall, recordName: string, domain: string | undefined, type: RecordType, values: readonly string[]): Promise<RegisterResult> {
    const target = await this.store.answeringPlace(resolveTarget(recordName, domain ?? this.config.threebotDomain, this.config.zones));
    const owner = await this.authorize(call, target.candidates, target.fqdn);
    const t: Target = { kind: 'dns', domain: target.domain, field: target.field };
    const { changes } = await this.store.transact(owner.name, [t], ([cur]) => [{ target: t, value: readable(() => mergeRecords(cur ?? null, type, values, this.config.ttl)) }]);
    return { fqdn: target.fqdn, domain: target.domain, name: target.field, owner: owner.name, records: parseField(changes[0]!.value) };
  }

  /**
   * `domain_delete`. With `type` (and optionally `value`): those records of the one field named.
   * Without: everything stored for the DNS name, i.e. its records in every hash that can hold
   * them (see `placesOf`) and its tcprouter service. Deleting nothing is not an error.
   */
  async remove(call: RpcCall, recordName: string, domain: string | undefined, type?: RecordType, value?: string): Promise<{ fqdn: string; removed: number }> {
    const target = resolveTarget(recordName, domain ?? this.config.threebotDomain, this.config.zones);
    const owner = await this.authorize(call, target.candidates, target.fqdn);
    const targets: Target[] =
      type === undefined
        ? [...placesOf(target.fqdn, target.zone).map((p): Target => ({ kind: 'dns', ...p })), { kind: 'tcp', fqdn: target.fqdn }]
        : [{ kind: 'dns', domain: target.domain, field: target.field }];
    let removed = 0;
    await this.store.transact(owner.name, targets, (current) => {
      removed = 0;
      const changes: Change[] = [];
      targets.forEach((t, i) => {
        const cur = current[i] ?? null;
        if (cur === null) return;
        if (t.kind === 'tcp') {
          removed += 1;
          changes.push({ target: t, value: null });
          return;
        }
        const r = readable(() => removeRecords(cur, type, value));
        removed += r.removed;
        if (r.removed > 0) changes.push({ target: t, value: r.value });
      });
      return changes;
    });
    return { fqdn: target.fqdn, removed };
  }

  /** `tcpservice_ip_register` / `tcpservice_client_register`: (re)writes the route of `fqdn`. */
  async registerTcp(call: RpcCall, fqdn: string, service: TcpService): Promise<{ fqdn: string; owner: string; key: string }> {
    const resolved = resolveFqdn(fqdn, this.config.zones);
    const owner = await this.authorize(call, resolved.candidates, fqdn);
    const t: Target = { kind: 'tcp', fqdn };
    await this.store.transact(owner.name, [t], () => [{ target: t, value: encodeService(fqdn, service), checked: false }]);
    return { fqdn, owner: owner.name, key: this.store.keyOf(t) };
  }

  /**
   * `domain_tcpservice_ip_expose` (COMPAT §4): route `NAME.<threebotDomain>` to `privateip`, CNAME
   * `@` in that name's own hash to the threebot domain (whose apex points at the routers), and an
   * A (AAAA for IPv6) record `NAME` in the threebot domain's hash to `privateip`. All or nothing.
   */
  async exposeIp(call: RpcCall, name: string, privateip: string, signature: string): Promise<{ fqdn: string; privateip: string }> {
    const { fqdn, owner } = await this.exposeOwner(call, name, signature);
    const zone = this.config.threebotDomain;
    const tcp: Target = { kind: 'tcp', fqdn };
    const apex: Target = { kind: 'dns', domain: fqdn, field: '@' };
    const host: Target = { kind: 'dns', domain: zone, field: name };
    const type: RecordType = canonicalIp(privateip)?.family === 6 ? 'aaaa' : 'a';
    const service = { addr: privateip, tlsport: DEFAULT_TLS_PORT, httpport: DEFAULT_HTTP_PORT, clientsecret: '' };
    await this.store.transact(owner.name, [tcp, apex, host], ([, apexCur, hostCur]) => [
      { target: tcp, value: encodeService(fqdn, service), checked: false },
      { target: apex, value: readable(() => mergeRecords(apexCur ?? null, 'cname', [`${zone}.`], this.config.ttl)) },
      { target: host, value: readable(() => mergeRecords(hostCur ?? null, type, [privateip], this.config.ttl)) },
    ]);
    return { fqdn, privateip };
  }

  /**
   * `domain_tcpservice_client_expose` (COMPAT §4): route `NAME.<threebotDomain>` to the tunnel
   * client holding `secret`, and point `NAME` in the threebot domain's hash at the gateway's own
   * public addresses (A and AAAA). `ip_address` is the first of them, as the original returned.
   */
  async exposeClient(call: RpcCall, name: string, secret: string, signature: string): Promise<{ fqdn: string; ip_address: string; ips: string[] }> {
    const ips = this.config.publicIps;
    if (ips.length === 0) {
      throw new PlexusError('ERR_UNAVAILABLE', 'this gateway has no publicIps configured, so it cannot point names at itself; use domain_tcpservice_ip_expose or ask the operator');
    }
    const { fqdn, owner } = await this.exposeOwner(call, name, signature);
    const tcp: Target = { kind: 'tcp', fqdn };
    const host: Target = { kind: 'dns', domain: this.config.threebotDomain, field: name };
    const v4 = ips.filter((ip) => canonicalIp(ip)?.family === 4);
    const v6 = ips.filter((ip) => canonicalIp(ip)?.family === 6);
    const service = { addr: '', tlsport: DEFAULT_TLS_PORT, httpport: DEFAULT_HTTP_PORT, clientsecret: secret };
    await this.store.transact(owner.name, [tcp, host], ([, hostCur]) => {
      let value = hostCur ?? null;
      if (v4.length > 0) value = readable(() => mergeRecords(value, 'a', v4, this.config.ttl));
      if (v6.length > 0) value = readable(() => mergeRecords(value, 'aaaa', v6, this.config.ttl));
      return [
        { target: tcp, value: encodeService(fqdn, service), checked: false },
        { target: host, value },
      ];
    });
    return { fqdn, ip_address: ips[0]!, ips: [...ips] };
  }

  /** `list`: what the gateway stored for `name`, read back from the keys themselves. */
  async list(name: string): Promise<{ name: string; entries: ListedEntry[] }> {
    if ((await this.phonebook.byName(name)) === undefined) throw new PlexusError('ERR_NOT_FOUND', `no phonebook name '${name}'`);
    const targets = await this.store.entries(name);
    const values = await this.store.read(targets);
    const entries: ListedEntry[] = [];
    targets.forEach((t, i) => {
      const raw = values[i] ?? null;
      if (raw === null) return; // deleted by someone else (or a newer, more specific owner)
      entries.push(t.kind === 'dns' ? listedDns(t.domain, t.field, raw) : listedTcp(t.fqdn, raw));
    });
    return { name, entries };
  }

  /** Counts for `status()`. */
  async counts(): Promise<Record<string, number>> {
    return this.store.counts();
  }

  private async authorize(call: RpcCall, candidates: readonly string[], fqdn: string): Promise<PhonebookEntry> {
    const owner = await findOwner(this.phonebook, candidates, fqdn);
    requireSigner(owner, call);
    return owner;
  }

  private async exposeOwner(call: RpcCall, name: string, signature: string): Promise<{ fqdn: string; owner: PhonebookEntry }> {
    const fqdn = fqdnOf(name, this.config.threebotDomain);
    const { zone } = resolveFqdn(fqdn, this.config.zones);
    if (zone !== this.config.threebotDomain) throw new PlexusError('ERR_FORBIDDEN', `'${fqdn}' is answered from zone ${zone}, not from the threebot domain`);
    const owner = await findOwner(this.phonebook, [name], fqdn);
    requireSigner(owner, call);
    requireNameSignature(owner, name, signature);
    return { fqdn, owner };
  }
}

/** Runs a dns-records step, turning an unreadable stored field into a coded error. */
function readable<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof FieldFormatError) {
      throw new PlexusError('ERR_INTERNAL', `a stored DNS field is not a JSON object (${err.raw.slice(0, 40)}); delete the name without a type to clear it`);
    }
    throw err;
  }
}

function listedDns(domain: string, field: string, raw: string): ListedEntry {
  try {
    const records = parseField(raw);
    return { kind: 'dns', domain, name: field, fqdn: fqdnOf(field, domain), records };
  } catch {
    return { kind: 'dns', domain, name: field, fqdn: fqdnOf(field, domain), records: null, error: 'not a JSON object' };
  }
}

function listedTcp(fqdn: string, raw: string): ListedEntry {
  try {
    const { service } = decodeService(raw);
    return { kind: 'tcp', domain: fqdn, addr: service.addr, tlsport: service.tlsport, httpport: service.httpport, tunnel: service.clientsecret !== '' };
  } catch (err) {
    const error = err instanceof TcprouterDecodeError ? err.message : 'unreadable';
    return { kind: 'tcp', domain: fqdn, addr: '', tlsport: 0, httpport: 0, tunnel: false, error };
  }
}
