import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PlexusError } from '../errors.js';
import { REPLAY_WINDOW_FILE, ReplayWindow } from '../rpc/replay-window.js';
import { startDockerd } from './dockerd.js';
import { PLAN_ERRORS } from './errors.js';
import { loadPlanFile } from './load.js';
import { netDown } from './net-down.js';
import { type NetNode, type NetState, idOf, prefix24, readState, runDirOf, saveState } from './net-state.js';
import { type StatusRow, statusRows, statusTable, waitFor } from './net-status.js';
import { alive, inNs, nsenter, requireTools, sh } from './netns.js';
import { renderPlan } from './render.js';
import { PORT_DEFAULTS } from './schema.js';

/**
 * `plexus net up|down|status`: a plan on one Linux machine. Each machine of the plan is a network
 * namespace on a bridge (the LAN, in a namespace of its own), a machine behind NAT sits behind a
 * router namespace that masquerades it (nftables), each node runs `plexus start` with its rendered
 * config under a supervisor, a host node gets a dockerd of its own. Everything made is recorded in
 * `<run dir>/state.json` as it is made, so `down` removes a partial `up` too.
 */

const SUPERVISE = fileURLToPath(new URL('./supervise.js', import.meta.url));
// The launcher, not main.js: it picks the node flags of a serving node (bin/plexus).
const PLEXUS = fileURLToPath(new URL('../../../../bin/plexus', import.meta.url));

export interface UpResult {
  plan: string;
  runDir: string;
  explorer?: string;
  alreadyUp: boolean;
  tookMs: number;
  /** Seconds per step: network (namespaces, NAT), dockerd, render, explorer (start to ready), nodes (the others to ready). */
  phases?: Record<string, number>;
  visitor?: { ns: string; address: string };
  nodes: StatusRow[];
}

export async function netUp(planFile: string, runDirOpt?: string): Promise<UpResult> {
  const t0 = Date.now();
  const loaded = await loadPlanFile(planFile);
  const { plan } = loaded;
  const runDir = runDirOf(loaded, runDirOpt);
  const old = await readState(runDir);
  if (old !== undefined && old.supervisors.some((s) => alive(s.pid))) {
    return { plan: plan.network.name, runDir, alreadyUp: true, tookMs: 0, ...(old.explorer === undefined ? {} : { explorer: old.explorer }), ...(old.visitor === undefined ? {} : { visitor: old.visitor }), nodes: await statusRows(old) };
  }
  // What an earlier run left (a crash, a reboot): removed before building anew.
  if (old !== undefined) await netDown(planFile, runDir);
  const hosts = Object.entries(plan.nodes).filter(([, n]) => n.role === 'host');
  await requireTools(hosts.length > 0 ? [['dockerd', 'docker.io']] : []);

  // One LAN: every machine (or its NAT router) and the visitor share a /24.
  const lanAddrs = [...Object.values(plan.machines).map((m) => m.nat?.router ?? m.address), ...(plan.network.visitor === undefined ? [] : [plan.network.visitor])];
  const lan = prefix24(lanAddrs[0]!);
  const off = lanAddrs.find((a) => prefix24(a) !== lan);
  if (off !== undefined) throw new PlexusError(PLAN_ERRORS.ERR_NET, `net up puts every machine on one LAN: ${off} is not in ${lan}.0/24 like ${lanAddrs[0]}`);

  const id = idOf(runDir);
  /** Seconds each step took, for the operator (and the < 30 s aim). */
  const phases: Record<string, number> = {};
  let mark = Date.now();
  const phase = (what: string): void => {
    phases[what] = (Date.now() - mark) / 1000;
    mark = Date.now();
  };
  await mkdir(join(runDir, 'logs'), { recursive: true });
  const state: NetState = { plan: resolve(planFile), name: plan.network.name, id, runDir, namespaces: [], nft: [], supervisors: [], dockerds: [], nodes: [] };
  await saveState(state);
  let veths = 0;
  const addNs = async (ns: string): Promise<void> => {
    await sh(['ip', 'netns', 'add', ns]);
    state.namespaces.push(ns);
    await saveState(state);
    await inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
  };
  /** A veth pair from `a` (as `nameA`) to `b` (as `nameB`, or on the bridge when b is the LAN). */
  const link = async (nsA: string, nameA: string, addrA: string, nsB: string, nameB: string | undefined, addrB?: string): Promise<void> => {
    const n = ++veths;
    const a = `pv${id}${n}a`;
    const b = `pv${id}${n}b`;
    await sh(['ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    await sh(['ip', 'link', 'set', a, 'netns', nsA]);
    await sh(['ip', 'link', 'set', b, 'netns', nsB]);
    await inNs(nsA, ['ip', 'link', 'set', a, 'name', nameA]);
    await inNs(nsA, ['ip', 'addr', 'add', addrA, 'dev', nameA]);
    await inNs(nsA, ['ip', 'link', 'set', nameA, 'up']);
    if (nameB === undefined) {
      await inNs(nsB, ['ip', 'link', 'set', b, 'master', 'br0']);
      await inNs(nsB, ['ip', 'link', 'set', b, 'up']);
    } else {
      await inNs(nsB, ['ip', 'link', 'set', b, 'name', nameB]);
      if (addrB !== undefined) await inNs(nsB, ['ip', 'addr', 'add', addrB, 'dev', nameB]);
      await inNs(nsB, ['ip', 'link', 'set', nameB, 'up']);
    }
  };

  try {
    const lanNs = `px${id}-lan`;
    await addNs(lanNs);
    await inNs(lanNs, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await inNs(lanNs, ['ip', 'link', 'set', 'br0', 'up']);
    const nsOf = new Map<string, string>();
    for (const [m, machine] of Object.entries(plan.machines)) {
      const ns = `px${id}-${m}`;
      await addNs(ns);
      nsOf.set(m, ns);
      if (machine.nat === undefined) {
        await link(ns, 'eth0', `${machine.address}/24`, lanNs, undefined);
        continue;
      }
      // A home router: one leg on the LAN, one to the machine; masquerades it, lets in only replies.
      const gw = `px${id}-${m}-nat`;
      await addNs(gw);
      await link(gw, 'eth0', `${machine.nat.router}/24`, lanNs, undefined);
      const inside = `${prefix24(machine.address)}.1`;
      await link(gw, 'eth1', `${inside}/24`, ns, 'eth0', `${machine.address}/24`);
      await inNs(ns, ['ip', 'route', 'add', 'default', 'via', inside]);
      await inNs(gw, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
      const table = `pxnet_${id}`;
      const net = `${prefix24(machine.address)}.0/24`;
      await inNs(
        gw,
        ['nft', '-f', '-'],
        `table ip ${table} {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; oifname "eth0" ip saddr ${net} masquerade; }
  chain forward {
    type filter hook forward priority filter; policy drop;
    iifname "eth1" oifname "eth0" ip saddr ${net} accept
    iifname "eth0" oifname "eth1" ct state established,related accept
  }
}
`,
      );
      state.nft.push({ ns: gw, table });
      await saveState(state);
    }
    if (plan.network.visitor !== undefined) {
      const ns = `px${id}-visitor`;
      await addNs(ns);
      await link(ns, 'eth0', `${plan.network.visitor}/24`, lanNs, undefined);
      state.visitor = { ns, address: plan.network.visitor };
    }

    phase('network');
    const names = Object.keys(plan.nodes);
    const sockets = new Map<string, string>();
    for (const [i, [name, node]] of hosts.entries()) {
      const d = await startDockerd({ node: name, ns: nsOf.get(node.machine)!, id, index: i, runDir, log: join(runDir, 'logs', `${name}-dockerd.log`) });
      state.dockerds.push(d);
      await saveState(state);
      sockets.set(name, d.socket);
    }
    phase('dockerd');
    const rendered = await renderPlan({
      plan: planFile,
      out: join(runDir, 'config'),
      secrets: join(runDir, 'secrets.yaml'),
      dataRoot: join(runDir, 'data'),
      // wireguard-go's control sockets (/var/run/wireguard/IFACE.sock) are shared by all namespaces.
      interfaceName: (node, net) => `px${id}${names.indexOf(node)}${net}`.slice(0, 15),
      dockerSocket: (node) => sockets.get(node),
    });
    state.explorer = rendered.explorer;
    for (const r of rendered.nodes) {
      const dataDir = join(runDir, 'data', r.name);
      const natted = plan.machines[r.machine]!.nat !== undefined;
      const p2p = plan.nodes[r.name]!.ports?.p2p ?? plan.defaults.ports?.p2p ?? PORT_DEFAULTS.p2p;
      state.nodes.push({
        name: r.name,
        role: r.role,
        ns: nsOf.get(r.machine)!,
        address: r.address,
        dataDir,
        config: r.config,
        log: join(runDir, 'logs', `${r.name}.log`),
        ...(natted ? {} : { multiaddr: `/ip4/${r.address}/tcp/${p2p}/p2p/${r.peerId}` }),
        ...(sockets.has(r.name) ? { docker: sockets.get(r.name)! } : {}),
      });
      // A fresh data dir with a key that has served nothing: no need to wait out a replay window.
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      if ((await stat(join(dataDir, REPLAY_WINDOW_FILE)).catch(() => undefined)) === undefined) await ReplayWindow.initialise(dataDir);
    }
    await saveState(state);
    phase('render');

    const start = async (n: NetNode): Promise<void> => {
      const argv = nsenter(n.ns, [process.execPath, SUPERVISE, n.log, '--', PLEXUS, 'start', '--config', n.config]);
      const fd = openSync(join(runDir, 'logs', 'supervise.log'), 'a');
      const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd] });
      closeSync(fd);
      child.unref();
      state.supervisors.push({ node: n.name, pid: child.pid! });
      await saveState(state);
    };
    const explorer = state.nodes.find((n) => n.name === loaded.explorer)!;
    await start(explorer);
    await waitFor(state, [explorer], (row) => row.health !== 'starting' && row.health !== 'down', 60_000);
    phase('explorer');
    for (const n of state.nodes) if (n !== explorer) await start(n);
    await waitFor(state, state.nodes, (row) => row.health === 'ready', 120_000);
    phase('nodes');
    state.upMs = Date.now() - t0;
    await saveState(state);
    return { plan: plan.network.name, runDir, alreadyUp: false, tookMs: state.upMs, phases, explorer: rendered.explorer, ...(state.visitor === undefined ? {} : { visitor: state.visitor }), nodes: await statusRows(state) };
  } catch (err) {
    throw new PlexusError(PLAN_ERRORS.ERR_NET, `net up failed: ${(err as Error).message}\n(everything made so far stays for inspection: logs in ${join(runDir, 'logs')}; plexus net down --plan ${planFile} removes it)`);
  }
}

export function formatUp(r: UpResult): string {
  const steps = r.phases === undefined ? '' : ` (${Object.entries(r.phases).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')})`;
  const head = r.alreadyUp ? `${r.plan} is already up (${r.runDir}); nothing started.` : `${r.plan} is up in ${(r.tookMs / 1000).toFixed(1)} s${steps}; run dir ${r.runDir}.`;
  const visitor = r.visitor === undefined ? [] : [`visitor: nsenter --net=/run/netns/${r.visitor.ns} (${r.visitor.address})`];
  const explorer = r.explorer === undefined ? [] : [`explorer: ${r.explorer}`];
  return [head, statusTable(r.nodes), ...explorer, ...visitor].join('\n');
}

/**
 * `net exec NODE -- COMMAND...`: runs COMMAND in the namespace of NODE (or `visitor`), with this
 * process's stdio; resolves with its exit code.
 */
export async function netExec(planFile: string, runDirOpt: string | undefined, target: string, argv: string[]): Promise<number> {
  const loaded = await loadPlanFile(planFile);
  const runDir = runDirOf(loaded, runDirOpt);
  const state = await readState(runDir);
  if (state === undefined) throw new PlexusError(PLAN_ERRORS.ERR_NET, `${loaded.plan.network.name} is not up (no state in ${runDir}); run plexus net up first`);
  const ns = target === 'visitor' ? state.visitor?.ns : state.nodes.find((n) => n.name === target)?.ns;
  if (ns === undefined) throw new PlexusError('ERR_USAGE', `no node '${target}' in ${state.name} (nodes: ${state.nodes.map((n) => n.name).join(', ')}${state.visitor === undefined ? '' : ', visitor'})`);
  if (argv.length === 0) throw new PlexusError('ERR_USAGE', 'name a command to run: plexus net exec --plan PLAN NODE -- COMMAND [ARG...]');
  const full = nsenter(ns, argv);
  return new Promise((res, rej) => {
    const child = spawn(full[0]!, full.slice(1), { stdio: 'inherit' });
    child.on('error', rej);
    child.on('exit', (code, signal) => res(code ?? (signal === null ? 1 : 128)));
  });
}

export { netStatus, formatStatus } from './net-status.js';
export { netDown, formatDown, lastDownLeft } from './net-down.js';
