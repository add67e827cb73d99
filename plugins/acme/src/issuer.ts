import { rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import * as acme from 'acme-client';
import { PlexusError, type Logger } from '@plexus/core';
import type { ChallengeType } from './config.js';
import { ACME_ERRORS } from './errors.js';
import { type CertState, type ChallengeRecord, readOptional, writeSecretFile } from './files.js';
import { type Challenges, dnsChallengeName } from './challenges.js';

/** Where an issuance keeps its progress, so a crash mid-order resumes (persisted by the caller). */
export interface Progress {
  state: CertState;
  save(): Promise<void>;
}

/** What one issuance needs. */
export interface IssueRequest {
  names: readonly string[];
  challenge: ChallengeType;
  /** PEM CSR carrying `names`. */
  csr: string;
  /** Key whose names these are: signs the DNS-01 TXT writes. */
  signer: string;
}

/** How CAs word "no such account" (pebble: `Account <url> not found.`; Boulder: accountDoesNotExist's detail). */
const ACCOUNT_GONE = /account .*(not found|does not exist)|no account exists/i;

/** Order states an order in progress can be resumed from (RFC 8555 §7.1.6). */
const RESUMABLE = new Set(['pending', 'ready', 'processing', 'valid']);

/**
 * Trusts `caPem` (a private ACME server's TLS root, pebble's for one) besides the system's roots
 * for acme-client's HTTPS requests. acme-client has one axios instance per process; the acme
 * plugin is its only user in a node.
 */
export function trustAcmeServer(caPem: string | undefined): void {
  acme.axios.defaults.httpsAgent = caPem === undefined ? undefined : new Agent({ ca: [...rootCertificates, caPem], keepAlive: true });
}

/** ACME protocol through acme-client: account, order, authorizations, challenges, finalize. */
export class Issuer {
  private accountUrl: string | undefined;

  constructor(
    private readonly directory: string,
    /** `account.json`: the account URL the CA gave for our key. */
    private readonly accountFile: string,
    private readonly accountKey: string,
    private readonly email: string | undefined,
    private readonly challenges: Challenges,
    private readonly log: Logger,
  ) {}

  /** Obtains the chain for `req`, resuming the order in `progress` when it is still usable. */
  async issue(req: IssueRequest, progress: Progress): Promise<string> {
    try {
      try {
        return await this.attempt(req, progress);
      } catch (err) {
        // The CA forgot our account (a test CA restarted, an account deactivated): register the key again, once.
        if (!(err instanceof Error && ACCOUNT_GONE.test(err.message)) || this.accountUrl === undefined) throw err;
        this.log.warn({ account: this.accountUrl, err: err.message }, 'acme: the CA does not know the account any more; registering it again');
        this.accountUrl = undefined;
        await rm(this.accountFile, { force: true });
        return await this.attempt(req, progress);
      }
    } catch (err) {
      throw asPlexusError(err);
    } finally {
      // A challenge left published would answer for whoever asks next; never leave one.
      await this.withdraw(progress).catch((err: unknown) => this.log.warn({ err }, 'acme: a challenge response could not be removed; retried on the next attempt'));
    }
  }

  private async attempt(req: IssueRequest, progress: Progress): Promise<string> {
    await this.withdraw(progress);
    const client = await this.account();
    let order = await this.resume(client, progress);
    if (order === undefined) {
      order = await client.createOrder({ identifiers: req.names.map((value) => ({ type: 'dns', value })) });
      progress.state.order = order.url;
      await progress.save();
      this.log.info({ names: req.names, order: order.url }, 'acme: order created');
    }
    if (order.status === 'pending') {
      await this.authorize(client, order, req, progress);
      // The order turns `ready` once every authorization is valid (RFC 8555 §7.1.6).
      order = { ...(await client.waitForValidStatus(order)), url: order.url };
    }
    if (order.status === 'ready') order = await client.finalizeOrder(order, req.csr);
    // `processing` → `valid` is awaited by getCertificate, which then downloads the chain.
    const chain = await client.getCertificate(order);
    progress.state.order = undefined;
    return chain;
  }

  /**
   * A client for our account: its URL from `account.json` (for this directory), else registered
   * once with the key (RFC 8555 §7.3) and remembered, so later issuances send no account update.
   */
  private async account(): Promise<acme.Client> {
    if (this.accountUrl === undefined) {
      const saved = await readOptional(this.accountFile);
      const parsed = saved === undefined ? undefined : (JSON.parse(saved) as { directory?: string; url?: string });
      if (parsed?.directory === this.directory && typeof parsed.url === 'string') this.accountUrl = parsed.url;
    }
    const opts = { directoryUrl: this.directory, accountKey: this.accountKey, backoffAttempts: 16, backoffMin: 50, backoffMax: 5000 };
    if (this.accountUrl !== undefined) return new acme.Client({ ...opts, accountUrl: this.accountUrl });
    const client = new acme.Client(opts);
    await client.createAccount({ termsOfServiceAgreed: true, ...(this.email === undefined ? {} : { contact: [`mailto:${this.email}`] }) });
    this.accountUrl = client.getAccountUrl();
    await writeSecretFile(this.accountFile, `${JSON.stringify({ directory: this.directory, url: this.accountUrl })}\n`);
    this.log.info({ account: this.accountUrl }, 'acme: account registered');
    return client;
  }

  private async resume(client: acme.Client, progress: Progress): Promise<acme.Order | undefined> {
    const url = progress.state.order;
    if (url === undefined) return undefined;
    try {
      const order = await client.getOrder({ url } as acme.Order);
      if (RESUMABLE.has(order.status) && (order.expires === undefined || Date.parse(order.expires) > Date.now() + 60_000)) {
        this.log.info({ order: url, status: order.status }, 'acme: resuming order');
        return order;
      }
      this.log.info({ order: url, status: order.status }, 'acme: order in progress is no longer usable; starting a new one');
    } catch (err) {
      this.log.info({ order: url, err }, 'acme: order in progress cannot be read; starting a new one');
    }
    progress.state.order = undefined;
    return undefined;
  }

  private async authorize(client: acme.Client, order: acme.Order, req: IssueRequest, progress: Progress): Promise<void> {
    const authzs = (await client.getAuthorizations(order)).filter((a) => a.status === 'pending');
    const work: { authz: acme.Authorization; challenge: acme.Authorization['challenges'][number] }[] = [];
    for (const authz of authzs) {
      const challenge = authz.challenges.find((c) => c.type === req.challenge);
      if (challenge === undefined) throw new PlexusError(ACME_ERRORS.ERR_ACME_REFUSED, `the CA offers no ${req.challenge} challenge for ${authz.identifier.value}`);
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
      const record: ChallengeRecord =
        req.challenge === 'dns-01'
          ? { type: 'dns-01', fqdn: dnsChallengeName(authz.identifier.value), value: keyAuthorization, signer: req.signer }
          : { type: 'http-01', host: authz.identifier.value, token: (challenge as { token: string }).token, keyAuthorization };
      // Recorded first: a crash right after publishing still knows what to remove.
      progress.state.pending.push(record);
      await progress.save();
      await this.challenges.present(record);
      work.push({ authz, challenge });
    }
    await this.challenges.propagated(progress.state.pending);
    await Promise.all(
      work.map(async ({ authz, challenge }) => {
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(authz);
      }),
    );
  }

  /** Removes every published response recorded in `progress` (those of a crashed attempt too). */
  async withdraw(progress: Progress): Promise<void> {
    const pending = progress.state.pending;
    while (pending.length > 0) {
      await this.challenges.remove(pending[0]!);
      pending.shift();
      await progress.save();
    }
  }
}

/** acme-client throws plain Errors: the CA's problem detail, or axios' network error; give them a code. */
function asPlexusError(err: unknown): PlexusError {
  if (err instanceof PlexusError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const network = (err as { isAxiosError?: boolean; response?: unknown }).isAxiosError === true && (err as { response?: unknown }).response === undefined;
  if (network) return new PlexusError('ERR_UNAVAILABLE', `cannot reach the CA: ${message}`, { cause: err });
  return new PlexusError(ACME_ERRORS.ERR_ACME_REFUSED, `the CA refused: ${message}`, { cause: err });
}
