import { parseArgs } from 'node:util';

/** Parses a positive number flag; exits 2 with a usage message when it is not one. */
export function positiveNumber(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) usageError(`--${name} expects a positive number, got '${value}'`);
  return n;
}

export function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

export { parseArgs };
