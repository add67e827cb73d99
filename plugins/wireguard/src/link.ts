import { PlexusError, z, type PeerDialer, type ExplorerClient } from '@plexus/core';
import { WIREGUARD_ERRORS } from './errors.js';
import { WIREGUARD_PROTOCOL } from './methods.js';
import { joinResultSchema, membersViewSchema, type JoinResult, type MembersView } from './records.js';
import type { JoinRequest, Registry } from './registry.js';

/** How a member reaches the registry: over RPC to the explorer, or in-process on the explorer itself. */
export interface RegistryLink {
  join(network: string, req: JoinRequest): Promise<JoinResult>;
  leave(network: string): Promise<void>;
  rotate(network: string, key: string): Promise<void>;
  /** The membership; with `since`, waits up to `waitMs` for a newer version. */
  members(network: string, since: number | undefined, waitMs: number): Promise<MembersView>;
  close(): Promise<void>;
}

/** The explorer's own membership: the registry called directly, signed by nothing but being this node. */
export class LocalLink implements RegistryLink {
  constructor(
    private readonly registry: Registry,
    private readonly self: string,
  ) {}

  join(network: string, req: JoinRequest): Promise<JoinResult> {
    return this.registry.join(network, this.self, req);
  }
  async leave(network: string): Promise<void> {
    await this.registry.remove(network, this.self, false);
  }
  async rotate(network: string, key: string): Promise<void> {
    await this.registry.rotate(network, this.self, key);
  }
  members(network: string, since: number | undefined, waitMs: number): Promise<MembersView> {
    return this.registry.members(network, this.self, since, waitMs);
  }
  async close(): Promise<void> {}
}

/** Registry answers are checked here, before anything of them reaches `wg` or `ip`. */
function validated<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_REGISTRY_DATA, `the registry's ${what} answer is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
}

/**
 * A member's link to the explorer: one RPC client, every call signed with the node's key; dropped
 * after a failure and dialled again by the next call.
 */
export class RemoteLink implements RegistryLink {
  private client: Promise<ExplorerClient> | undefined;

  constructor(
    private readonly peers: PeerDialer,
    /** Longest call, long polls included. */
    private readonly timeoutMs: number,
  ) {}

  private async call(method: string, params: unknown): Promise<unknown> {
    this.client ??= this.peers.explorer({ timeoutMs: this.timeoutMs });
    const pending = this.client;
    try {
      return await (await pending).call(WIREGUARD_PROTOCOL, method, params, { signed: true });
    } catch (err) {
      // The registry's own refusals keep the connection; anything else (timeout, reset, a restarted
      // explorer) dials again next time.
      if (!(err instanceof PlexusError) || !err.code.startsWith('ERR_WIREGUARD_')) {
        if (this.client === pending) this.client = undefined;
        void pending.then((c) => c.close()).catch(() => undefined);
      }
      throw err;
    }
  }

  async join(network: string, req: JoinRequest): Promise<JoinResult> {
    return validated(joinResultSchema, await this.call('join', { network, ...req }), 'join');
  }
  async leave(network: string): Promise<void> {
    await this.call('leave', { network });
  }
  async rotate(network: string, key: string): Promise<void> {
    await this.call('rotate', { network, key });
  }
  async members(network: string, since: number | undefined, waitMs: number): Promise<MembersView> {
    const view = validated(membersViewSchema, await this.call('members', since === undefined ? { network } : { network, since, waitMs }), 'members');
    if (view.network !== network) throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_REGISTRY_DATA, `asked for ${network}, the registry answered ${view.network}`);
    return view;
  }
  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.then((x) => x.close()).catch(() => undefined);
  }
}
