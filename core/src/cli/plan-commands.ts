import { runCommand } from './support.js';
import { textTable } from './node-commands.js';

/** `plexus render` and `plexus net up|down|status`: the whole network from one plan file (docs/plan.md). */

export async function render(opts: { plan: string; out: string; secrets?: string; json?: boolean }): Promise<void> {
  const { renderPlan } = await import('../plan/render.js');
  await runCommand(
    opts,
    () => renderPlan({ plan: opts.plan, out: opts.out, ...(opts.secrets === undefined ? {} : { secrets: opts.secrets }) }),
    (r) =>
      [
        textTable(
          ['node', 'role', 'machine', 'address', 'files'],
          r.nodes.map((n) => [n.name, n.role, n.machine, n.address, String(n.files.length)]),
          '(no nodes)',
        ),
        `explorer: ${r.explorer}`,
        `configs in ${r.out} (manifest.json lists every file)`,
        `secrets: ${r.secrets.file} (${r.secrets.created ? 'created' : r.secrets.updated ? 'new secrets added' : 'reused'}; mode 0600)`,
      ].join('\n'),
  );
}

export interface NetFlags {
  plan: string;
  runDir?: string;
  json?: boolean;
}

export async function netUp(opts: NetFlags): Promise<void> {
  const net = await import('../plan/net.js');
  await runCommand(opts, () => net.netUp(opts.plan, opts.runDir), net.formatUp);
}

export async function netStatus(opts: NetFlags): Promise<void> {
  const net = await import('../plan/net.js');
  await runCommand(opts, () => net.netStatus(opts.plan, opts.runDir), net.formatStatus);
}

export async function netDown(opts: NetFlags): Promise<void> {
  const net = await import('../plan/net.js');
  await runCommand(opts, () => net.netDown(opts.plan, opts.runDir), net.formatDown);
  // Anything left behind is a failure the operator must see in the exit code too.
  if (process.exitCode === 0 && net.lastDownLeft() > 0) process.exitCode = 1;
}

export async function netExec(opts: { plan: string; runDir?: string }, node: string, argv: string[]): Promise<void> {
  const net = await import('../plan/net.js');
  try {
    process.exitCode = await net.netExec(opts.plan, opts.runDir, node, argv);
  } catch (err) {
    const { reportError } = await import('./support.js');
    reportError(err);
  }
}

/**
 * `plexus net get --plan P NODE FIELD`: one value of a node's status row (what `net status --json`
 * shows), e.g. `explorer multiaddr`, `host1 docker`, `bot wireguard.main`, `visitor address`; for
 * scripts and the README's walkthrough, which should not need jq or python to read the table.
 */
export async function netGet(opts: { plan: string; runDir?: string; json?: boolean }, node: string, field: string): Promise<void> {
  const net = await import('../plan/net.js');
  const { PlexusError } = await import('../errors.js');
  const { PLAN_ERRORS } = await import('../plan/errors.js');
  await runCommand(
    opts,
    async () => {
      const s = await net.netStatus(opts.plan, opts.runDir);
      if (s.nodes.length === 0) throw new PlexusError(PLAN_ERRORS.ERR_NET, `${s.plan} is not up (no state in ${s.runDir})`, { hint: `plexus net up --plan ${opts.plan}` });
      const row = (node === 'visitor' ? s.visitor : s.nodes.find((n) => n.node === node)) as Record<string, unknown> | undefined;
      if (row === undefined) {
        const names = [...s.nodes.map((n) => n.node), ...(s.visitor === undefined ? [] : ['visitor'])];
        throw new PlexusError(PLAN_ERRORS.ERR_NET, `no node '${node}' in ${s.plan}; nodes: ${names.join(', ')}`);
      }
      let value: unknown = row;
      for (const k of field.split('.')) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[k] : undefined;
      if (value === undefined || (value !== null && typeof value === 'object')) {
        const fields = Object.entries(row).flatMap(([k, v]) => (v !== null && typeof v === 'object' ? Object.keys(v).map((s2) => `${k}.${s2}`) : [k]));
        throw new PlexusError(PLAN_ERRORS.ERR_NET, `node '${node}' has no value '${field}'; it has: ${fields.join(', ')}`);
      }
      return { node, field, value };
    },
    (r) => String(r.value),
  );
}
