import { z } from '@plexus/core';

/** `plugins.phonebook`. */
export const PhonebookConfigSchema = z.strictObject({
  /** Records per `list` page when the caller gives no limit. Default 50. */
  defaultPageSize: z.number().int().min(1).max(1000).default(50),
  /** Largest page a caller may ask for. Default 500. */
  maxPageSize: z.number().int().min(1).max(10_000).default(500),
});

export type PhonebookConfig = z.infer<typeof PhonebookConfigSchema>;
