import { phonebookNameSchema, z } from '@plexus/core';

/** Defaults of the `hello` block, next to the schema that applies them (the README lists the same). */
export const HELLO_DEFAULTS = { greeting: 'hello', blocked: [] } as const;

/**
 * `plugins.hello`. Strict: an unknown key (`greting:`) is a config error naming its path, reported
 * by `plexus check-config` before any plugin starts.
 */
export const HelloConfigSchema = z.strictObject({
  /** Word put before the name in every answer. Default `'hello'`. */
  greeting: z.string().min(1).max(64).default(HELLO_DEFAULTS.greeting),
  /**
   * Names `greet` refuses with ERR_HELLO_BLOCKED. Same rule as the names themselves, so a typo in
   * the config (`Alice`) is an error at start-up rather than an entry that never matches.
   * Default `[]`.
   */
  // A fresh array per parse: two configs never share (and mutate) one default.
  blocked: z.array(phonebookNameSchema).max(10_000).default(() => [...HELLO_DEFAULTS.blocked]),
});

/** The validated block, defaults applied: what `ctx.config` holds. */
export type HelloConfig = z.output<typeof HelloConfigSchema>;
