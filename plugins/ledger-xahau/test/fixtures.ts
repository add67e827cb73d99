import { readFileSync } from 'node:fs';

/** Fixtures live in the repository's test/fixtures/xahau (README.md there cites their sources). */
export function fixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../../../test/fixtures/xahau/${name}`, import.meta.url), 'utf8')) as T;
}
