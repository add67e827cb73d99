import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as acme from 'acme-client';
import { PlexusError, type Logger } from '@plexus/core';
import { type AcmeConfig, type ChallengeType, certId } from './config.js';
import { ACME_ERRORS } from './errors.js';
import { CertFiles, type CertState, readOptional, writeSecretFile } from './files.js';
import type { Issuer } from './issuer.js';
import { nextAttemptAt } from './schedule.js';

const run = promisify(execFile);
/** setTimeout's ceiling; a later attempt is reached through intermediate wake-ups. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One configured certificate as `plexus status` and `plexus cert list` show it. */
export interface CertificateView {
  id: string;
  names: string[];
  challenge: ChallengeType;
  /** ISO times of the certificate in use; absent before the first issuance. */
  notBefore?: string;
  notAfter?: string;
  issuedAt?: string;
  nextAttemptAt?: string;
  /** An order is in progress (or was, when the node stopped). */
  ordering: boolean;
  failures: number;
  lastError?: { code: string; message: string; at: string };
  fullchain: string;
  key: string;
}

interface Entry {
  id: string;
  names: string[];
  challenge: ChallengeType;
  files: CertFiles;
  state: CertState;
  timer?: NodeJS.Timeout;
  next?: number;
  inflight?: Promise<void>;
}

/** Keeps the configured certificates current: one timer each, attempts never overlap per certificate. */
export class Renewer {
  private readonly entries = new Map<string, Entry>();
  private stopped = false;

  constructor(
    private readonly config: AcmeConfig,
    private readonly dataDir: string,
    private readonly issuer: Issuer,
    private readonly nodeKey: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    for (const cert of this.config.certificates) {
      const id = certId(cert.names[0]!);
      const files = new CertFiles(join(this.dataDir, 'certs', id));
      const challenge = cert.challenge ?? this.config.challenge;
      const state: CertState = (await files.loadState()) ?? { names: [...cert.names], challenge, pending: [], failures: 0 };
      const entry: Entry = { id, names: [...cert.names], challenge, files, state };
      this.entries.set(id, entry);
      // An order a crash interrupted resumes at once, whatever the backoff says.
      this.schedule(entry, state.order !== undefined || state.pending.length > 0);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) clearTimeout(e.timer);
  }

  list(): CertificateView[] {
    return [...this.entries.values()].map((e) => this.view(e));
  }

  /** Attempts `name`'s certificate now (`plexus cert renew`), resolving with its view afterwards. */
  async renewNow(name: string): Promise<CertificateView> {
    const entry = [...this.entries.values()].find((e) => e.id === name || e.names.includes(name));
    if (entry === undefined) throw new PlexusError('ERR_NOT_FOUND', `no configured certificate carries '${name}' (plugins.acme.certificates)`);
    // An attempt already running started before this request: wait for it, then make a fresh one.
    await entry.inflight;
    await this.attempt(entry);
    return this.view(entry);
  }

  private view(e: Entry): CertificateView {
    const s = e.state;
    // A certificate whose configured names changed is shown with the names it really carries until reissued.
    return {
      id: e.id,
      names: s.notAfter === undefined ? e.names : s.names,
      challenge: e.challenge,
      ...(s.notBefore === undefined ? {} : { notBefore: s.notBefore, notAfter: s.notAfter, issuedAt: s.issuedAt }),
      ...(e.next === undefined ? {} : { nextAttemptAt: new Date(e.next).toISOString() }),
      ordering: s.order !== undefined,
      failures: s.failures,
      ...(s.lastError === undefined ? {} : { lastError: s.lastError }),
      fullchain: e.files.chainPath,
      key: e.files.keyPath,
    };
  }

  private schedule(e: Entry, atOnce = false): void {
    if (this.stopped) return;
    clearTimeout(e.timer);
    const s = e.state;
    const current = s.notAfter !== undefined && sameNames(s.names, e.names);
    const dates = current ? { notBefore: Date.parse(s.notBefore!), notAfter: Date.parse(s.notAfter!) } : {};
    const now = Date.now();
    const at = atOnce ? now : nextAttemptAt(dates, s.failures, s.lastAttemptAt === undefined ? undefined : Date.parse(s.lastAttemptAt), now, this.config, Math.random());
    e.next = at;
    const wait = Math.max(0, at - now);
    e.timer = setTimeout(() => (wait > MAX_TIMER_MS ? this.schedule(e) : void this.attempt(e)), Math.min(wait, MAX_TIMER_MS));
    e.timer.unref();
  }

  private attempt(e: Entry): Promise<void> {
    if (e.inflight !== undefined) return e.inflight;
    clearTimeout(e.timer);
    e.next = undefined;
    e.inflight = this.issueOnce(e).finally(() => {
      e.inflight = undefined;
      this.schedule(e);
    });
    return e.inflight;
  }

  private async issueOnce(e: Entry): Promise<void> {
    const { files, state } = e;
    state.lastAttemptAt = new Date().toISOString();
    const progress = { state, save: () => files.saveState(state) };
    try {
      await progress.save();
      let key = await readOptional(files.keyPath);
      if (key === undefined) {
        // ECDSA P-256: every CA and client takes it, and it is made in a millisecond.
        key = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
        await writeSecretFile(files.keyPath, key);
      }
      const [, csr] = await acme.crypto.createCsr({ commonName: e.names[0]!, altNames: e.names }, key);
      const chain = await this.issuer.issue({ names: e.names, challenge: e.challenge, csr: csr.toString(), signer: this.nodeKey }, progress);
      const info = acme.crypto.readCertificateInfo(chain);
      await writeSecretFile(files.chainPath, chain);
      Object.assign(state, { names: [...e.names], notBefore: info.notBefore.toISOString(), notAfter: info.notAfter.toISOString(), issuedAt: new Date().toISOString(), failures: 0, lastError: undefined });
      await progress.save();
      this.log.info({ names: e.names, notAfter: state.notAfter, path: files.chainPath }, 'acme: certificate issued');
      await this.hook(e);
    } catch (err) {
      const pe = err instanceof PlexusError ? err : new PlexusError(ACME_ERRORS.ERR_ACME_REFUSED, (err as Error).message, { cause: err });
      state.failures += 1;
      state.lastError = { code: pe.code, message: pe.message, at: new Date().toISOString() };
      await progress.save().catch(() => undefined);
      this.log.warn({ names: e.names, code: pe.code, err: pe.message, failures: state.failures, keepsCertificate: state.notAfter }, 'acme: certificate not obtained; the current one stays in use');
    }
  }

  /** The operator's `onRenew` command; its failure is logged, the certificate is in place either way. */
  private async hook(e: Entry): Promise<void> {
    const hook = this.config.onRenew;
    if (hook === undefined) return;
    const env = {
      ...process.env,
      PLEXUS_CERT_NAMES: e.names.join(','),
      PLEXUS_CERT_DIR: e.files.dir,
      PLEXUS_CERT_FULLCHAIN: e.files.chainPath,
      PLEXUS_CERT_KEY: e.files.keyPath,
      PLEXUS_CERT_NOT_AFTER: e.state.notAfter ?? '',
    };
    try {
      await run(hook.command[0]!, hook.command.slice(1), { env, timeout: hook.timeoutSeconds * 1000 });
      this.log.info({ names: e.names, command: hook.command }, 'acme: onRenew hook ran');
    } catch (err) {
      this.log.warn({ names: e.names, command: hook.command, err: (err as Error).message }, 'acme: onRenew hook failed');
    }
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}
