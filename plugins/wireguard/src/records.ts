import { phonebookNameSchema, publicKeyHexSchema, z } from '@plexus/core';
import { isHostOf, parseCidr } from './cidr.js';
import { endpointSchema, networkNameSchema, topologySchema } from './config.js';

/**
 * What the registry stores and answers, as schemas. A member checks every registry answer against
 * them before a value reaches `wg` or `ip`: a WireGuard key is exactly 44 base64 chars of 32 bytes,
 * an endpoint is HOST:PORT with no space or leading dash, an address is a host of the network.
 */

/** A WireGuard (Curve25519) public key in base64: 44 chars, 32 bytes. */
export const wgKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/, 'expected a WireGuard key: 44 base64 chars (32 bytes)');

/** One member of a network, as stored in the registry (`wireguard:members:<network>`, field = signer). */
export const memberRecordSchema = z.strictObject({
  /** Node name the member gave (unique per network). */
  name: phonebookNameSchema,
  /** Node key that signed its join: the member's identity. */
  signer: publicKeyHexSchema,
  /** WireGuard public key. */
  key: wgKeySchema,
  endpoint: endpointSchema.optional(),
  listenPort: z.number().int().min(1).max(65535),
  /** IPv4 address allocated in the network. */
  address: z.string().max(15),
  joinedAt: z.string().max(40),
});
export type MemberRecord = z.output<typeof memberRecordSchema>;

/** The `members` answer: one network's whole membership at `version`. */
export const membersViewSchema = z
  .strictObject({
    network: networkNameSchema,
    /** Bumped at every change; a member asks with the version it has and waits for a newer one. */
    version: z.number().int().min(0),
    cidr: z.string().max(18),
    topology: topologySchema,
    /** Node key of the registry node: its membership is the store master's address. */
    registry: publicKeyHexSchema,
    members: z.array(memberRecordSchema).max(65_536),
  })
  .superRefine((v, ctx) => {
    const cidr = parseCidr(v.cidr);
    if (cidr === undefined) {
      ctx.addIssue({ code: 'custom', path: ['cidr'], message: 'not an IPv4 network' });
      return;
    }
    const seen = new Set<string>();
    v.members.forEach((m, i) => {
      if (!isHostOf(cidr, m.address)) ctx.addIssue({ code: 'custom', path: ['members', i, 'address'], message: `${m.address} is not a host of ${v.cidr}` });
      for (const k of [`a:${m.address}`, `k:${m.key}`, `s:${m.signer}`]) {
        if (seen.has(k)) ctx.addIssue({ code: 'custom', path: ['members', i], message: `duplicate ${k.slice(2)}` });
        seen.add(k);
      }
    });
  });
export type MembersView = z.output<typeof membersViewSchema>;

/** The `join` answer. */
export const joinResultSchema = z.strictObject({ address: z.string().max(15), cidr: z.string().max(18), version: z.number().int().min(0) });
export type JoinResult = z.output<typeof joinResultSchema>;
