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
  canonicalIp,
  encodeService,
  fqdnOf,
  parseField,
  removeRecords,
  silentLogger,
} from '@plexus/core';
import { addRecords } from './cname.js';
import type { GatewayConfig } from './config.js';
import { ownerCandidates, placesOf, resolveFqdn, resolveTarget } from './domains.js';
import { type ListedEntry, listEntries } from './listing.js';
import { findOwner, requireNameSignature, requireSigner } from './ownership.js';
import type { Placement } from './placement.js';
import { type Change, type GatewayStore, type Step, type Target, planOf } from './store.js';

export type { ListedEntry } from './listing.js';

/** What a register call returns: where the records went and the field as it now reads. */
export interface RegisterResult {
  fqdn: string;
  domain: string;
  name: string;
  owner: string;
  records: FieldRecords;
}

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

  /**
   * `domain_register_a|aaaa|cname|txt`: merges `values` into the field DNS answers the name from,
   * without duplicates. A CNAME never joins other data (ERR_CNAME_CONFLICT) unless `replace`.
   */
  async register(call: RpcCall, recordName: string, domain: string | undefined, type: RecordType, values: readonly string[], replace = false): Promise<RegisterResult> {
    const target = resolveTarget(recordName, domain ?? this.config.threebotDomain, this.config.zones);
    const owner = await this.authorize(call, target.candidates, target.fqdn);
    const { step, changes } = await this.store.transact(
      owner.name,
      () => this.placed(this.store.locate(target.fqdn, target.domain, target.zone, owner.name)),
      ([cur], s) => [{ target: s.targets[0]!, value: readable(() => addRecords(cur ?? null, type, values, { ttl: this.config.ttl, replace, fqdn: target.fqdn })) }],
    );
    const where = step.targets[0] as Target & { kind: 'dns' };
    return { fqdn: target.fqdn, domain: where.domain, name: where.field, owner: owner.name, records: parseField(changes[0]!.value) };
  }

  /**
   * `domain_delete`. Removes, from every hash that can hold records for the DNS name (see
   * `placesOf`: the answering one and any shadowed copy), the records of `type` (all, or the one
   * `value`); without `type` everything, and the name's tcprouter service too. Deleting nothing
   * is not an error.
   */
  async remove(call: RpcCall, recordName: string, domain: string | undefined, type?: RecordType, value?: string): Promise<{ fqdn: string; removed: number }> {
    const target = resolveTarget(recordName, domain ?? this.config.threebotDomain, this.config.zones);
    const owner = await this.authorize(call, target.candidates, target.fqdn);
    const targets: Target[] = placesOf(target.fqdn, target.zone).map((p): Target => ({ kind: 'dns', ...p }));
    if (type === undefined) targets.push({ kind: 'tcp', fqdn: target.fqdn });
    let removed = 0;
    await this.store.transact(owner.name, () => ({ targets }), (current) => {
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
    await this.store.transact(owner.name, () => ({ targets: [t] }), () => [{ target: t, value: encodeService(fqdn, service), checked: false }]);
    return { fqdn, owner: owner.name, key: this.store.keyOf(t) };
  }

  /**
   * `domain_tcpservice_ip_expose` (COMPAT §4): route `NAME.<threebotDomain>` to `privateip` and
   * CNAME `@` in that name's own hash to the threebot domain (whose apex points at the routers).
   * All or nothing. Creating the name's hash moves the names below it there (`placement.ts`); the
   * name's own field becomes `@` beside the CNAME, so data it holds is a CNAME conflict
   * (refused, or dropped with `replace`). Unlike the original, no A record `NAME` → `privateip`
   * is written in the threebot hash: DNS never answers it (the name's hash shadows it, on
   * CoreDNS too) and it would be data beside the CNAME; the routers take the address from the
   * tcprouter route.
   */
  async exposeIp(call: RpcCall, name: string, privateip: string, signature: string, replace = false): Promise<{ fqdn: string; privateip: string }> {
    const { fqdn, owner } = await this.exposeOwner(call, name, signature);
    const zone = this.config.threebotDomain;
    const tcp: Target = { kind: 'tcp', fqdn };
    const service = { addr: privateip, tlsport: DEFAULT_TLS_PORT, httpport: DEFAULT_HTTP_PORT, clientsecret: '' };
    await this.store.transact(
      owner.name,
      async () => {
        const s = await this.placed(this.store.locate(fqdn, fqdn, zone, owner.name));
        return { ...s, targets: [tcp, ...s.targets] };
      },
      ([, apexCur], s) => [
        { target: tcp, value: encodeService(fqdn, service), checked: false },
        { target: s.targets[1]!, value: readable(() => addRecords(apexCur ?? null, 'cname', [`${zone}.`], { ttl: this.config.ttl, replace, fqdn })) },
      ],
    );
    return { fqdn, privateip };
  }

  /**
   * `domain_tcpservice_client_expose` (COMPAT §4): route `NAME.<threebotDomain>` to the tunnel
   * client holding `secret`, and point the name (in the hash DNS answers it from) at the
   * gateway's own public addresses (A and AAAA). `ip_address` is the first of them, as the
   * original returned.
   */
  async exposeClient(call: RpcCall, name: string, secret: string, signature: string, replace = false): Promise<{ fqdn: string; ip_address: string; ips: string[] }> {
    const ips = this.config.publicIps;
    if (ips.length === 0) {
      throw new PlexusError('ERR_UNAVAILABLE', 'this gateway has no publicIps configured, so it cannot point names at itself; use domain_tcpservice_ip_expose or ask the operator');
    }
    const { fqdn, owner } = await this.exposeOwner(call, name, signature);
    const tcp: Target = { kind: 'tcp', fqdn };
    const v4 = ips.filter((ip) => canonicalIp(ip)?.family === 4);
    const v6 = ips.filter((ip) => canonicalIp(ip)?.family === 6);
    const service = { addr: '', tlsport: DEFAULT_TLS_PORT, httpport: DEFAULT_HTTP_PORT, clientsecret: secret };
    const opts = { ttl: this.config.ttl, replace, fqdn };
    await this.store.transact(
      owner.name,
      async () => {
        const s = await this.placed(this.store.locate(fqdn, this.config.threebotDomain, this.config.threebotDomain, owner.name));
        return { ...s, targets: [tcp, ...s.targets] };
      },
      ([, hostCur], s) => {
        let value = hostCur ?? null;
        if (v4.length > 0) value = readable(() => addRecords(value, 'a', v4, opts));
        if (v6.length > 0) value = readable(() => addRecords(value, 'aaaa', v6, opts));
        return [
          { target: tcp, value: encodeService(fqdn, service), checked: false },
          { target: s.targets[1]!, value },
        ];
      },
    );
    return { fqdn, ip_address: ips[0]!, ips: [...ips] };
  }

  /**
   * The owner of `fqdn` when `signer` is its key (ERR_FORBIDDEN / ERR_NOT_FOUND otherwise): the
   * check of every write, for a plugin acting on a request that `signer` signed (acme).
   */
  async authorizeSigner(signer: string, fqdn: string): Promise<PhonebookEntry> {
    const { candidates } = resolveFqdn(fqdn, this.config.zones);
    return this.authorize(delegatedCall(signer), candidates, fqdn);
  }

  /** `domain_register_txt` / `domain_delete` of one TXT value, on behalf of `signer` (see `authorizeSigner`). */
  async txtFor(signer: string, fqdn: string, op: 'add' | 'remove', text: string): Promise<void> {
    const call = delegatedCall(signer);
    const { zone } = resolveFqdn(fqdn, this.config.zones);
    const relative = fqdn.slice(0, -(zone.length + 1));
    if (op === 'add') await this.register(call, relative, zone, 'txt', [text]);
    else await this.remove(call, relative, zone, 'txt', text);
  }

  /** `list`: what the gateway stored for `name`, read back from the keys themselves. */
  async list(name: string): Promise<{ name: string; entries: ListedEntry[] }> {
    if ((await this.phonebook.byName(name)) === undefined) throw new PlexusError('ERR_NOT_FOUND', `no phonebook name '${name}'`);
    return { name, entries: await listEntries(this.store, name) };
  }

  /** Counts for `status()`. */
  async counts(): Promise<Record<string, number>> {
    return this.store.counts();
  }

  /** One DNS placement as a transaction step. */
  private async placed(placement: Promise<Placement>): Promise<Step> {
    const p = await placement;
    return { targets: [{ kind: 'dns', domain: p.domain, field: p.field }], plan: planOf([p]) };
  }

  private async authorize(call: RpcCall, candidates: readonly string[], fqdn: string): Promise<PhonebookEntry> {
    const owner = await findOwner(this.phonebook, candidates, fqdn);
    requireSigner(owner, call);
    return owner;
  }

  /**
   * The expose methods' owner: like every other write, the highest registered name at or above
   * `name` (`www.bob` is exposed by `bob`'s key, never by whoever registered `www.bob`), whose key
   * must sign both the envelope and the name (COMPAT §4 signature).
   */
  private async exposeOwner(call: RpcCall, name: string, signature: string): Promise<{ fqdn: string; owner: PhonebookEntry }> {
    const fqdn = fqdnOf(name, this.config.threebotDomain);
    const { zone } = resolveFqdn(fqdn, this.config.zones);
    if (zone !== this.config.threebotDomain) throw new PlexusError('ERR_FORBIDDEN', `'${fqdn}' is answered from zone ${zone}, not from the threebot domain`);
    const owner = await this.authorize(call, ownerCandidates(name), fqdn);
    requireNameSignature(owner, name, signature);
    return { fqdn, owner };
  }
}

/** The call a delegated write is checked as: only `signer` is read by the ownership rule. */
function delegatedCall(signer: string): RpcCall {
  return { peer: '', signer, method: 'delegated', log: silentLogger() };
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
