import { definePlugin, masterOnly, type CapabilityMap, type PluginContext, type PluginInstance } from '@plexus/core';
import { PhonebookConfigSchema, type PhonebookConfig } from './config.js';
import { PHONEBOOK_PROTOCOL, phonebookMethods } from './methods.js';
import { PhonebookRegistry } from './registry.js';

export { PhonebookRegistry, type PhonebookRecord } from './registry.js';
export { ancestorsOf, reversedName, type OwnershipConflict } from './name-tree.js';
export { PhonebookConfigSchema, type PhonebookConfig } from './config.js';
export { PHONEBOOK_PROTOCOL, phonebookMethods } from './methods.js';
export { PHONEBOOK_ERRORS } from './errors.js';

/** The running phonebook: serves `/plexus/phonebook/1` from the store; `phonebook` for other plugins. */
export class PhonebookService implements PluginInstance {
  private registry: PhonebookRegistry | undefined;

  constructor(private readonly ctx: PluginContext<PhonebookConfig>) {}

  async start(): Promise<void> {
    if (this.registry !== undefined) return;
    const store = this.ctx.capability('store');
    const registry = new PhonebookRegistry(store.redis);
    // Names registered before the tree index existed: index them, or a name below one of them
    // could be registered with another key. Only a master can write; a replica's copy follows it.
    if (store.role === 'master') {
      const indexed = await registry.ensureTree();
      if (indexed > 0) this.ctx.log.info({ indexed }, 'phonebook names added to the tree index');
    }
    // In a sentinel group only the master takes changes, each acknowledged once replicated.
    await this.ctx.rpc.serve(PHONEBOOK_PROTOCOL, masterOnly(phonebookMethods(registry, this.ctx.config), store));
    this.registry = registry;
    this.ctx.log.info({ protocol: PHONEBOOK_PROTOCOL, records: await registry.count() }, 'phonebook serving');
  }

  async stop(): Promise<void> {
    if (this.registry === undefined) return;
    this.registry = undefined;
    await this.ctx.rpc.unserve(PHONEBOOK_PROTOCOL);
  }

  capabilities(): Partial<CapabilityMap> {
    return this.registry === undefined ? {} : { phonebook: this.registry };
  }

  async status(): Promise<Record<string, unknown>> {
    return { records: this.registry === undefined ? 0 : await this.registry.count() };
  }
}

/** The phonebook: who is who (ThreeFold phonebook semantics, COMPAT §4). */
export const plugin = definePlugin<PhonebookConfig>({
  name: 'phonebook',
  version: '0.1.0',
  description: 'identity registry: names, tids and public keys (ThreeFold phonebook semantics)',
  provides: ['phonebook'],
  requires: ['store'],
  configSchema: PhonebookConfigSchema,
  create: (ctx) => new PhonebookService(ctx),
});

export default plugin;
