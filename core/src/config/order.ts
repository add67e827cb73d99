/** A plugin as the orderer sees it. */
export interface OrderNode {
  key: string;
  provides: readonly string[];
  requires: readonly string[];
  /** Optional: ordered after their providers when configured, no error when not. */
  uses?: readonly string[];
}

export type OrderResult =
  | { ok: true; order: string[] }
  | { ok: false; missing: { key: string; capability: string }[]; cycle?: string[]; duplicates: { capability: string; keys: string[] }[] };

/**
 * Start order: every plugin after the providers of what it requires or uses; otherwise config order.
 * Reports every missing capability, capabilities offered twice, and one dependency cycle.
 */
export function orderPlugins(nodes: OrderNode[]): OrderResult {
  const provider = new Map<string, string>();
  const duplicates = new Map<string, string[]>();
  for (const n of nodes) {
    for (const cap of n.provides) {
      const prev = provider.get(cap);
      if (prev === undefined) provider.set(cap, n.key);
      else duplicates.set(cap, [...(duplicates.get(cap) ?? [prev]), n.key]);
    }
  }
  const missing: { key: string; capability: string }[] = [];
  const deps = new Map<string, string[]>();
  for (const n of nodes) {
    const d: string[] = [];
    for (const cap of n.requires) {
      const p = provider.get(cap);
      if (p === undefined) missing.push({ key: n.key, capability: cap });
      else if (p !== n.key) d.push(p);
    }
    for (const cap of n.uses ?? []) {
      const p = provider.get(cap);
      if (p !== undefined && p !== n.key) d.push(p);
    }
    deps.set(n.key, d);
  }
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  let cycle: string[] | undefined;
  const visit = (key: string, path: string[]): void => {
    if (cycle !== undefined || state.get(key) === 'done') return;
    if (state.get(key) === 'visiting') {
      cycle = [...path.slice(path.indexOf(key)), key];
      return;
    }
    state.set(key, 'visiting');
    for (const d of deps.get(key) ?? []) visit(d, [...path, key]);
    state.set(key, 'done');
    order.push(key);
  };
  for (const n of nodes) visit(n.key, []);
  const dup = [...duplicates].map(([capability, keys]) => ({ capability, keys }));
  if (missing.length > 0 || cycle !== undefined || dup.length > 0) {
    return cycle === undefined ? { ok: false, missing, duplicates: dup } : { ok: false, missing, cycle, duplicates: dup };
  }
  return { ok: true, order };
}
