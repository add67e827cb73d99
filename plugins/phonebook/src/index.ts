import { definePlugin, type StoreCapability } from '@plexus/core';
import { PhonebookConfigSchema, type PhonebookConfig } from './config.js';
import { phonebookMethods } from './methods.js';
import { PhonebookRegistry } from './registry.js';

export { PhonebookRegistry, type PhonebookRecord } from './registry.js';
export { PhonebookConfigSchema, type PhonebookConfig } from './config.js';
export const PHONEBOOK_PROTOCOL = '/plexus/phonebook/1';

/** The phonebook: who is who. Serves `/plexus/phonebook/1` from the store. */
export const plugin = definePlugin<PhonebookConfig>({
  name: 'phonebook',
  version: '0.1.0',
  description: 'identity registry: names, tids and public keys (ThreeFold phonebook semantics)',
  provides: ['phonebook'],
  requires: ['store'],
  configSchema: PhonebookConfigSchema,
  create(ctx) {
    let registry: PhonebookRegistry | undefined;
    let protocol: string | undefined;
    return {
      async start() {
        if (registry !== undefined) return;
        const store = ctx.capability<StoreCapability>('store');
        registry = new PhonebookRegistry(store.redis);
        protocol = await ctx.rpc.serve(phonebookMethods(registry, ctx.config));
        ctx.log.info({ protocol, records: await registry.count() }, 'phonebook serving');
      },
      async stop() {
        if (protocol !== undefined) await ctx.rpc.unserve(protocol);
        registry = undefined;
        protocol = undefined;
      },
      capability(name) {
        return name === 'phonebook' ? registry : undefined;
      },
    };
  },
});

export default plugin;
