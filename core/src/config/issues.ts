import type { z } from 'zod';
import { PlexusError } from '../errors.js';

/** One problem in a config file: where it is and what was expected. */
export interface ConfigIssue {
  file: string;
  /** Dotted key path inside the file, e.g. `plugins.store.port`. */
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.file}: ${issue.path || '(top level)'}: ${issue.message}`;
}

/** Turns zod issues into ConfigIssues under `prefix`, one per unknown key. */
export function fromZod(file: string, prefix: (string | number)[], error: z.ZodError): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const base = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ file, path: [...base, key].join('.'), message: `unknown key '${key}'` });
    } else {
      out.push({ file, path: base.join('.'), message: describe(issue) });
    }
  }
  return out;
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    const received = (issue as { input?: unknown }).input;
    return received === undefined ? `required: expected ${issue.expected}` : `expected ${issue.expected}, got ${typeOf(received)}`;
  }
  if (issue.code === 'invalid_value') return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return issue.message;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** The error `check-config` and `start` exit 2 with; every issue is in `data.issues`. */
export class ConfigError extends PlexusError {
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super('ERR_CONFIG_INVALID', issues.map(formatIssue).join('\n'), { data: { issues } });
    this.issues = issues;
  }
}
