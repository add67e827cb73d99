import { PlexusError } from '../errors.js';

/**
 * Deepest nesting accepted in request params. Well below canonical JSON's own limit (64), so a
 * signed request never reaches the signature code with a value it would refuse.
 */
export const MAX_PARAMS_DEPTH = 32;

interface Visit {
  value: unknown;
  depth: number;
  key: string | number | undefined;
  parent: Visit | undefined;
}

/**
 * Refuses params that JSON can carry but no method means: numbers beyond double range (`1e400`
 * parses as Infinity) and nesting deeper than MAX_PARAMS_DEPTH. Iterative, so a deep value cannot
 * exhaust the stack; each visit links to its parent, so paths cost nothing until one is reported.
 * @throws ERR_PARAMS_INVALID with `data.path` naming the offending field.
 */
export function checkParamsJson(params: unknown): void {
  const stack: Visit[] = [{ value: params, depth: 0, key: undefined, parent: undefined }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const { value, depth } = visit;
    if (typeof value === 'number' && !Number.isFinite(value)) fail(visit, 'number out of range (not a finite double)');
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_PARAMS_DEPTH) fail(visit, `nested deeper than ${MAX_PARAMS_DEPTH} levels`);
    if (Array.isArray(value)) value.forEach((v, i) => stack.push({ value: v, depth: depth + 1, key: i, parent: visit }));
    else for (const [k, v] of Object.entries(value)) stack.push({ value: v, depth: depth + 1, key: k, parent: visit });
  }
}

function fail(visit: Visit, message: string): never {
  const path: string[] = [];
  for (let v: Visit | undefined = visit; v?.key !== undefined; v = v.parent) path.unshift(String(v.key));
  const shown = path.length > 8 ? [...path.slice(0, 8), `…(${path.length - 8} more)`] : path;
  const where = shown.join('.') || '(params)';
  throw new PlexusError('ERR_PARAMS_INVALID', `${where}: ${message}`, { data: { path: where } });
}
