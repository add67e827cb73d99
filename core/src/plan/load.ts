import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ConfigError, type ConfigIssue, fromZod } from '../config/issues.js';
import { PlanSchema, type Plan, type PlanNode, type Role } from './schema.js';

/** Issues of a plan are reported as `PLAN: key.path: message` (the file is named once, in `data.file`). */
const WHERE = 'PLAN';
const MAX_PLAN_BYTES = 1024 * 1024;

/** A plan that passed every check, with what the renderer derives from it. */
export interface LoadedPlan {
  file: string;
  plan: Plan;
  /** The explorer node's name. */
  explorer: string;
  /** The WireGuard network carrying the store's replication, if any. */
  storeNetwork: string | undefined;
}

export class PlanError extends ConfigError {
  constructor(issues: ConfigIssue[], file: string) {
    super(issues);
    Object.assign(this.data as object, { file });
  }
}

export async function loadPlanFile(file: string): Promise<LoadedPlan> {
  let text: string;
  try {
    const bytes = await readFile(file);
    if (bytes.length > MAX_PLAN_BYTES) throw new Error(`the file is ${bytes.length} bytes; a plan is at most ${MAX_PLAN_BYTES}`);
    text = bytes.toString('utf8');
  } catch (err) {
    throw new PlanError([{ file: WHERE, path: '', message: `cannot read ${file}: ${(err as Error).message}` }], file);
  }
  return parsePlan(text, file);
}

export function parsePlan(text: string, file: string): LoadedPlan {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new PlanError(doc.errors.map((e) => ({ file: WHERE, path: '', message: `YAML: ${e.message.split('\n')[0]}` })), file);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new PlanError([{ file: WHERE, path: '', message: `YAML: ${(err as Error).message}` }], file);
  }
  const parsed = PlanSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw new PlanError(fromZod(WHERE, [], parsed.error), file);
  const plan = parsed.data;
  const issues: ConfigIssue[] = [];
  const add = (path: string, message: string): void => void issues.push({ file: WHERE, path, message });

  const byRole = (role: Role): string[] => Object.entries(plan.nodes).filter(([, n]) => n.role === role).map(([k]) => k);
  const explorers = byRole('explorer');
  let explorer = plan.network.explorer;
  if (explorer === undefined) {
    if (explorers.length !== 1) add('network.explorer', `expected the name of the explorer node (the plan has ${explorers.length} nodes with role explorer)`);
    explorer = explorers[0];
  } else if (plan.nodes[explorer]?.role !== 'explorer') add('network.explorer', `expected a node with role explorer, got '${explorer}'`);

  const domain = plan.network.threebotDomain;
  if (domain !== undefined && !plan.network.zones.some((z) => domain === z || domain.endsWith(`.${z}`))) {
    add('network.threebotDomain', `expected a name inside one of the zones (${plan.network.zones.join(', ')})`);
  }

  const storeNets = Object.entries(plan.networks).filter(([, n]) => n.store).map(([k]) => k);
  if (storeNets.length > 1) add('networks', `only one network can carry the store (store: true on ${storeNets.join(', ')})`);

  const addresses = new Map<string, string>();
  for (const [m, machine] of Object.entries(plan.machines)) {
    const other = addresses.get(machine.address);
    if (other !== undefined) add(`machines.${m}.address`, `${machine.address} is already the address of machine ${other}`);
    addresses.set(machine.address, m);
  }
  const onMachine = new Map<string, string>();
  for (const [n, node] of Object.entries(plan.nodes)) {
    const at = `nodes.${n}`;
    if (plan.machines[node.machine] === undefined) add(`${at}.machine`, `expected one of the machines (${Object.keys(plan.machines).join(', ')}), got '${node.machine}'`);
    // One node per machine: every node binds the same ports (53, 80, 443, 4001) on its address.
    const other = onMachine.get(node.machine);
    if (other !== undefined) add(`${at}.machine`, `machine ${node.machine} already runs node ${other}; give each node its own machine`);
    onMachine.set(node.machine, n);
    for (const [i, net] of (node.networks ?? []).entries()) {
      if (plan.networks[net] === undefined) add(`${at}.networks.${i}`, `expected one of the networks (${Object.keys(plan.networks).join(', ') || 'none defined'}), got '${net}'`);
    }
    if (node.tunnel !== undefined && node.role !== 'threebot') add(`${at}.tunnel`, 'only a threebot node has a tunnel');
    if (node.hosting !== undefined && node.role !== 'host') add(`${at}.hosting`, 'only a host node has hosting');
    if (node.router !== undefined && node.role !== 'dns') add(`${at}.router`, 'only a dns node runs a router');
    if (node.replicaOf !== undefined) checkReplicaOf(plan, n, storeNets.length > 0, (m) => add(`${at}.replicaOf`, m));
    if (node.role === 'dev') add(`${at}.role`, 'role dev is the all-in-one node of configs/dev.yaml, not part of a network plan');
    if (node.role === 'threebot' && routers(plan).length === 0) add(`${at}.role`, 'a threebot needs at least one dns node with a router to tunnel to');
  }
  for (const [net, w] of Object.entries(plan.networks)) {
    if (w.topology !== 'mesh') {
      const hub = w.topology.hub;
      const hubNode = plan.nodes[hub];
      if (hubNode === undefined || !networksOf(plan, hubNode).includes(net)) add(`networks.${net}.topology.hub`, `expected a node that is a member of ${net}, got '${hub}'`);
      else if (plan.machines[hubNode.machine]?.nat !== undefined) add(`networks.${net}.topology.hub`, `the hub ${hub} is behind NAT; the others could not reach it`);
    }
    const explorerNode = explorer === undefined ? undefined : plan.nodes[explorer];
    if (w.store && explorerNode !== undefined && !networksOf(plan, explorerNode).includes(net)) {
      add(`nodes.${explorer}.networks`, `the explorer must be a member of ${net}, the network carrying the store`);
    }
  }
  if (issues.length > 0) throw new PlanError(issues, file);
  return { file, plan, explorer: explorer!, storeNetwork: storeNets[0] };
}

/** A dns node's `replicaOf`: the explorer or another dns node, no cycle, not over a store network. */
function checkReplicaOf(plan: Plan, name: string, storeNetwork: boolean, add: (message: string) => void): void {
  const node = plan.nodes[name]!;
  const up = node.replicaOf!;
  const upNode = plan.nodes[up];
  if (node.role !== 'dns') return add('only a dns node replicates another store');
  if (upNode === undefined || (upNode.role !== 'dns' && upNode.role !== 'explorer')) return add(`expected a dns node or the explorer, got '${up}'`);
  if (up === name) return add('a node cannot replicate itself');
  // The wireguard plugin moves a replica onto the store network's registry node only: a chained
  // replica there would silently replicate the explorer instead.
  if (upNode.role === 'dns' && storeNetwork) return add('a chained replica (of a dns node) needs a plan without a store network; it replicates over the machines\' addresses');
  const seen = new Set([name]);
  for (let at: string | undefined = up; at !== undefined; at = plan.nodes[at]?.replicaOf) {
    if (seen.has(at)) return add(`replicaOf makes a cycle (${[...seen, at].join(' -> ')})`);
    seen.add(at);
  }
}

/** The node whose store a dns node replicates: its `replicaOf`, else the explorer. */
export function upstreamOf(loaded: LoadedPlan, name: string): string {
  return loaded.plan.nodes[name]!.replicaOf ?? loaded.explorer;
}

/** True when some dns node replicates `name`'s store (its store must then listen on its address). */
export function hasReplicas(plan: Plan, name: string): boolean {
  return Object.values(plan.nodes).some((n) => n.replicaOf === name);
}

/** DNS nodes that run a router, in plan order. */
export function routers(plan: Plan): string[] {
  return Object.entries(plan.nodes).filter(([, n]) => n.role === 'dns' && n.router !== false).map(([k]) => k);
}

/** The WireGuard networks a node joins: its own list, else its role's default. */
export function networksOf(plan: Plan, node: PlanNode): string[] {
  if (node.networks !== undefined) return node.networks;
  const all = Object.entries(plan.networks);
  switch (node.role) {
    case 'explorer':
      return all.filter(([, n]) => n.store).map(([k]) => k);
    case 'dns':
      return all.map(([k]) => k);
    case 'threebot':
      return all.filter(([, n]) => !n.store).map(([k]) => k);
    default:
      return [];
  }
}
