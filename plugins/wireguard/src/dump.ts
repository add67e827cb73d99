/** `wg show <if> dump`, parsed. The private key in its first line is dropped on purpose. */

export interface InterfaceDump {
  publicKey: string;
  listenPort: number;
  peers: PeerDump[];
}

export interface PeerDump {
  publicKey: string;
  /** `host:port` WireGuard sends to (configured or learned); undefined when none yet. */
  endpoint: string | undefined;
  allowedIps: string[];
  /** Unix seconds of the last handshake; undefined when there was none. */
  latestHandshake: number | undefined;
  rxBytes: number;
  txBytes: number;
  /** Seconds; undefined when off. */
  keepalive: number | undefined;
}

const num = (v: string | undefined): number => {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
};

/**
 * Parses the dump format: one tab-separated line for the interface (private key, public key,
 * listen port, fwmark), then one per peer (public key, preshared key, endpoint, allowed ips,
 * latest handshake, rx, tx, persistent keepalive), `(none)` and `off` meaning unset.
 * @throws Error when the first line is not an interface line.
 */
export function parseDump(text: string): InterfaceDump {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const head = lines[0]?.split('\t');
  if (head === undefined || head.length < 4) throw new Error('not a `wg show dump` output: no interface line');
  const peers: PeerDump[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split('\t');
    if (f.length < 8) continue;
    const handshake = num(f[4]);
    peers.push({
      publicKey: f[0]!,
      endpoint: f[2] === '(none)' ? undefined : f[2],
      allowedIps: f[3] === '(none)' ? [] : f[3]!.split(','),
      latestHandshake: handshake === 0 ? undefined : handshake,
      rxBytes: num(f[5]),
      txBytes: num(f[6]),
      keepalive: f[7] === 'off' ? undefined : num(f[7]),
    });
  }
  return { publicKey: head[1]!, listenPort: num(head[2]), peers };
}
