/**
 * Names form a tree, and whoever owns a name owns every name below it: `www.bob` is `bob`'s.
 * Otherwise anybody could register the phonebook name `www.bob` with their own key and, through
 * the gateway, answer for bob's `www` (subdomain takeover). The phonebook therefore refuses a name
 * below, or above, a name registered with another key; these helpers find those names cheaply:
 * names above by stripping labels, names below through an index of reversed names.
 */

/** The names strictly above `name`, highest first: `a.www.bob` → `bob`, `www.bob`. */
export function ancestorsOf(name: string): string[] {
  const labels = name.split('.');
  const out: string[] = [];
  for (let i = labels.length - 1; i >= 1; i--) out.push(labels.slice(i).join('.'));
  return out;
}

/**
 * The index form of a name: its labels in reverse order, `www.bob` → `bob.www`. In a sorted set
 * with equal scores, the names below `bob` are then exactly the members from `bob.` to `bob/`
 * (ZRANGEBYLEX), `/` being the character after `.`; `bobby` and `bob-x` fall outside.
 */
export function reversedName(name: string): string {
  return name.split('.').reverse().join('.');
}

/** The inverse of `reversedName` (the same operation). */
export function fromReversed(reversed: string): string {
  return reversedName(reversed);
}

/** One name registered below another name held by a different key. */
export interface OwnershipConflict {
  /** The lower name and its record. */
  name: string;
  tid: number;
  pubkey: string;
  /** The registered name above it, with another key. */
  under: { name: string; tid: number; pubkey: string };
}
