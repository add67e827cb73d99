import { join } from 'node:path';
import * as acme from 'acme-client';
import { readOptional, writeSecretFile } from './files.js';
import type { CertIssueResult } from './methods.js';

/**
 * The requester's side of `cert_issue`: a key made (or kept) in `out/key.pem` 0600, a CSR for
 * `names`, the chain written to `out/fullchain.pem` 0600. Re-running renews with the same key.
 */
export async function issueWithCsr(
  names: string[],
  out: string,
  send: (csr: string) => Promise<CertIssueResult>,
): Promise<{ names: string[]; notAfter: string; fullchain: string; key: string }> {
  const keyPath = join(out, 'key.pem');
  let key = await readOptional(keyPath);
  if (key === undefined) {
    key = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    await writeSecretFile(keyPath, key);
  }
  const [, csr] = await acme.crypto.createCsr({ commonName: names[0]!, altNames: names }, key);
  const result = await send(csr.toString());
  const chainPath = join(out, 'fullchain.pem');
  await writeSecretFile(chainPath, result.fullchain);
  return { names: result.names, notAfter: result.notAfter, fullchain: chainPath, key: keyPath };
}
