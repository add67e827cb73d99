/**
 * Domain-name helpers. Inside the plugin a name is lowercase, without the trailing dot, and the
 * root is ''. DNS compares names ASCII-case-insensitively (RFC 4343), so only A-Z are folded.
 */

/** ASCII-only lowercase, so that a non-ASCII label never changes length or meaning. */
export function foldCase(name: string): string {
  return /[A-Z]/.test(name) ? name.replace(/[A-Z]+/g, (s) => s.toLowerCase()) : name;
}

/** `Alice.Gateway.TF.` → `alice.gateway.tf`; `.` → ''. */
export function normalizeName(name: string): string {
  const folded = foldCase(name);
  return folded.endsWith('.') ? folded.slice(0, -1) : folded;
}

/** RFC 1035 limits: labels 1..63 bytes, the whole name at most 253 characters in text form. */
export function isValidName(name: string): boolean {
  if (name === '') return true;
  if (Buffer.byteLength(name) > 253) return false;
  for (const label of name.split('.')) {
    const bytes = Buffer.byteLength(label);
    if (bytes === 0 || bytes > 63) return false;
  }
  return true;
}

/** The parent of a name (`a.b.c` → `b.c`, `c` → ''); undefined for the root. */
export function parentOf(name: string): string | undefined {
  if (name === '') return undefined;
  const dot = name.indexOf('.');
  return dot === -1 ? '' : name.slice(dot + 1);
}

/** True when `name` is `zone` or below it. */
export function isInZone(name: string, zone: string): boolean {
  if (zone === '') return true;
  return name === zone || (name.length > zone.length && name.endsWith(zone) && name.charCodeAt(name.length - zone.length - 1) === 46);
}

/** The field of `name` inside the hash of `zone`: `@` for the apex, else the relative labels. */
export function relativeLabel(name: string, zone: string): string {
  if (name === zone) return '@';
  return zone === '' ? name : name.slice(0, name.length - zone.length - 1);
}

/** The absolute name of a field of `zone`'s hash. */
export function absoluteName(label: string, zone: string): string {
  if (label === '@') return zone;
  return zone === '' ? label : `${label}.${zone}`;
}
