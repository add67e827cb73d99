/**
 * `payload_build` of the ThreeFold phonebook: the fields concatenated with no separator, strings as
 * UTF-8, numbers as decimal text. Signatures over it are Ed25519, 128 lowercase hex chars.
 * Byte-compatible with the original jumpscale actor, so its clients' signatures verify here.
 */
export function payloadBuild(...fields: (string | number)[]): Uint8Array {
  return new TextEncoder().encode(fields.map((f) => (typeof f === 'number' ? decimal(f) : f)).join(''));
}

function decimal(n: number): string {
  if (!Number.isSafeInteger(n)) throw new RangeError(`payload_build: ${n} is not an integer`);
  return n.toString(10);
}

/** What `record_register` signs. */
export function recordPayload(r: { tid: number; name: string; email: string; ipaddr: string; description: string; pubkey: string }): Uint8Array {
  return payloadBuild(r.tid, r.name, r.email, r.ipaddr, r.description, r.pubkey);
}

/** What `update_public_key` signs, with the old key. */
export function updateKeyPayload(tid: number, newPubkey: string): Uint8Array {
  return payloadBuild(tid, newPubkey);
}
