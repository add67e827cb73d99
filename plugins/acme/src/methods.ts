import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as acme from 'acme-client';
import { PlexusError, defineMethod, protocolId, type GatewayCapability, type Logger, type RpcMethods, z } from '@plexus/core';
import { CHALLENGES, type ChallengeType, isCertName } from './config.js';
import { ACME_ERRORS } from './errors.js';
import { CertFiles, type CertState, listDirs } from './files.js';
import type { Issuer } from './issuer.js';

/** The acme plugin's protocol; `plexus cert issue` calls it. */
export const ACME_PROTOCOL = protocolId('acme', 1);

/** What `cert_issue` returns: the chain for the requester's own key (which never left its machine). */
export interface CertIssueResult {
  names: string[];
  /** PEM: leaf then intermediates. */
  fullchain: string;
  notBefore: string;
  notAfter: string;
}

/** Largest CSR taken: an RSA-4096 CSR with 100 names is about 6 kB. */
const MAX_CSR_CHARS = 16_384;

/** The DNS names a CSR asks for (CN and SAN), or ERR_ACME_CSR_INVALID. */
export function csrNames(csr: string): string[] {
  let domains: acme.CertificateDomains;
  try {
    domains = acme.crypto.readCsrDomains(csr);
  } catch (err) {
    throw new PlexusError(ACME_ERRORS.ERR_ACME_CSR_INVALID, `not a PEM certificate request: ${(err as Error).message}`, { data: { path: 'csr' } });
  }
  const names = [...new Set([domains.commonName, ...domains.altNames].filter((n): n is string => typeof n === 'string' && n !== '').map((n) => n.toLowerCase()))];
  const bad = names.find((n) => !isCertName(n));
  if (names.length === 0 || names.length > 100 || bad !== undefined) {
    throw new PlexusError(ACME_ERRORS.ERR_ACME_CSR_INVALID, bad === undefined ? `the CSR carries ${names.length} DNS names (1 to 100 are taken)` : `the CSR asks for '${bad}', which is not a DNS name`, { data: { path: 'csr' } });
  }
  return names;
}

/**
 * `cert_issue` (signed): a certificate for the names of `csr`, each of which the signer's key must
 * own in the gateway (the rule of `domain_register_*`). DNS-01 writes the TXT records as that
 * key, through the gateway on this node; HTTP-01 publishes in the store the routers read.
 * Progress is kept in `<dataDir>/requests/<id>` until done, so a crash leaves no record behind.
 */
export function acmeMethods(deps: { issuer: Issuer; gateway: () => GatewayCapability; dataDir: string; log: Logger }): RpcMethods {
  const busy = new Set<string>();
  return {
    cert_issue: defineMethod({
      mutating: true,
      params: z.strictObject({ csr: z.string().min(1).max(MAX_CSR_CHARS), challenge: z.enum(CHALLENGES).default('dns-01') }),
      async handler(p, call): Promise<CertIssueResult> {
        if (call.signer === undefined) throw new PlexusError('ERR_AUTH_REQUIRED', 'cert_issue must be signed by the key that owns the names');
        const names = csrNames(p.csr);
        if (p.challenge === 'http-01' && names.some((n) => n.startsWith('*.'))) {
          throw new PlexusError('ERR_PARAMS_INVALID', 'wildcard names need the dns-01 challenge', { data: { path: 'challenge' } });
        }
        const gateway = deps.gateway();
        if (gateway.authorizeSigner === undefined) throw new PlexusError(ACME_ERRORS.ERR_ACME_NO_GATEWAY, 'the gateway on this node cannot check ownership for other plugins');
        for (const name of names) await gateway.authorizeSigner(call.signer, name.replace(/^\*\./, ''));
        if (names.some((n) => busy.has(n))) throw new PlexusError(ACME_ERRORS.ERR_ACME_BUSY, `a certificate for ${names.join(', ')} is being issued`);
        names.forEach((n) => busy.add(n));
        const files = new CertFiles(join(deps.dataDir, 'requests', createHash('sha256').update(p.csr).digest('hex').slice(0, 32)));
        const state: CertState = { names, challenge: p.challenge as ChallengeType, pending: [], failures: 0 };
        try {
          const fullchain = await deps.issuer.issue({ names, challenge: p.challenge, csr: p.csr, signer: call.signer }, { state, save: () => files.saveState(state) });
          const info = acme.crypto.readCertificateInfo(fullchain);
          call.log.info({ names, signer: call.signer, notAfter: info.notAfter.toISOString() }, 'acme: certificate issued for a name owner');
          return { names, fullchain, notBefore: info.notBefore.toISOString(), notAfter: info.notAfter.toISOString() };
        } finally {
          names.forEach((n) => busy.delete(n));
          // issue() removed what it published; what it could not remove is swept at the next start.
          if (state.pending.length === 0) await rm(files.dir, { recursive: true, force: true });
        }
      },
    }),
  };
}

/** At start: removes what `cert_issue` requests interrupted by a crash left published. */
export async function sweepRequests(dataDir: string, issuer: Issuer, log: Logger): Promise<void> {
  const parent = join(dataDir, 'requests');
  for (const id of await listDirs(parent)) {
    const files = new CertFiles(join(parent, id));
    const state = await files.loadState();
    if (state !== undefined && state.pending.length > 0) {
      await issuer.withdraw({ state, save: () => files.saveState(state) });
      log.info({ names: state.names }, 'acme: removed the challenge records of a request interrupted by a restart');
    }
    await rm(files.dir, { recursive: true, force: true });
  }
}
