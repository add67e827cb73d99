import type { MembersView } from './records.js';

/** A peer as this node configures it on its interface. */
export interface PeerSpec {
  /** WireGuard public key (base64). */
  key: string;
  /** Member name, for status and logs. */
  name: string;
  endpoint?: string | undefined;
  allowedIps: string[];
  /** Seconds; 0 = off. */
  keepalive: number;
}

/**
 * The peers this member should have, from the registry's view of the network.
 * mesh: every other member, each with its /32. hub: the hub has every other member (their /32s);
 * every other member has only the hub, with the whole network as AllowedIPs, so the hub forwards
 * traffic between members (a member behind NAT is reached through it). A member absent from the
 * view (removed, or not joined yet) has no peers.
 */
export function desiredPeers(view: MembersView, selfSigner: string, keepalive: number): PeerSpec[] {
  const self = view.members.find((m) => m.signer === selfSigner);
  if (self === undefined) return [];
  const others = view.members.filter((m) => m.signer !== selfSigner);
  const spec = (m: (typeof others)[number], allowedIps: string[]): PeerSpec => ({ key: m.key, name: m.name, endpoint: m.endpoint, allowedIps, keepalive });
  if (view.topology === 'mesh') return others.map((m) => spec(m, [`${m.address}/32`]));
  const hubName = view.topology.hub;
  if (self.name === hubName) return others.map((m) => spec(m, [`${m.address}/32`]));
  const hub = others.find((m) => m.name === hubName);
  return hub === undefined ? [] : [spec(hub, [view.cidr])];
}

/**
 * Arguments of one `wg set <if> ...` call that turns `current` into `next`, or [] when nothing
 * changes. Peers are changed one by one (add, update, remove), never by replacing the whole set,
 * so the sessions of unchanged peers carry on. An endpoint is only set when the registry gives one
 * that differs from what was applied: a NATed peer's endpoint is what WireGuard learned from its
 * packets and must not be overwritten.
 */
export function peerChanges(current: readonly PeerSpec[], next: readonly PeerSpec[]): string[] {
  const before = new Map(current.map((p) => [p.key, p]));
  const after = new Map(next.map((p) => [p.key, p]));
  const args: string[] = [];
  for (const p of current) if (!after.has(p.key)) args.push('peer', p.key, 'remove');
  for (const p of next) {
    const old = before.get(p.key);
    const clause: string[] = [];
    if (p.endpoint !== undefined && p.endpoint !== old?.endpoint) clause.push('endpoint', p.endpoint);
    if (old === undefined || old.allowedIps.join(',') !== p.allowedIps.join(',')) clause.push('allowed-ips', p.allowedIps.join(','));
    if (old === undefined ? p.keepalive !== 0 : old.keepalive !== p.keepalive) clause.push('persistent-keepalive', p.keepalive === 0 ? 'off' : String(p.keepalive));
    if (clause.length > 0) args.push('peer', p.key, ...clause);
  }
  return args;
}
