import { chmod, mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChallengeType } from './config.js';

/**
 * What the plugin keeps under its data dir, every file 0600 and every directory 0700:
 *
 *     account.key                  the ACME account key (PEM), one per node
 *     account.json                 the account URL the CA gave for it (and for which directory)
 *     certs/<id>/key.pem           the certificate's private key (kept across renewals)
 *     certs/<id>/fullchain.pem     leaf + intermediates, replaced atomically on renewal
 *     certs/<id>/state.json        names, expiry, last error, and the order in progress
 *     requests/<id>/state.json     the same for a `cert_issue` in progress (no key: it stays with the requester)
 */

/** A challenge response published for the CA; recorded before it is published, so a crash leaves nothing behind. */
export type ChallengeRecord =
  | { type: 'dns-01'; fqdn: string; value: string; signer: string }
  | { type: 'http-01'; host: string; token: string; keyAuthorization: string };

export interface CertState {
  names: string[];
  challenge: ChallengeType;
  /** URL of the order being worked on; cleared once the certificate is written. */
  order?: string;
  /** Challenge responses published and not yet removed. */
  pending: ChallengeRecord[];
  notBefore?: string;
  notAfter?: string;
  issuedAt?: string;
  lastAttemptAt?: string;
  /** Failed attempts since the last success (drives the backoff). */
  failures: number;
  lastError?: { code: string; message: string; at: string };
}

/** Writes `data` to `path` 0600 through a temporary file and a rename: readers see the old or the new file, never half. */
export async function writeSecretFile(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  // writeFile keeps the mode of an existing tmp file; make sure of it.
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
}

/** The directory and files of one certificate (or one `cert_issue` request). */
export class CertFiles {
  constructor(readonly dir: string) {}

  get keyPath(): string {
    return join(this.dir, 'key.pem');
  }

  get chainPath(): string {
    return join(this.dir, 'fullchain.pem');
  }

  async loadState(): Promise<CertState | undefined> {
    const raw = await readOptional(join(this.dir, 'state.json'));
    return raw === undefined ? undefined : (JSON.parse(raw) as CertState);
  }

  async saveState(state: CertState): Promise<void> {
    await ensureDir(this.dir);
    await writeSecretFile(join(this.dir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
  }
}

/** Ids of the certificate directories under `parent` (none when it does not exist). */
export async function listDirs(parent: string): Promise<string[]> {
  try {
    return (await readdir(parent, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
