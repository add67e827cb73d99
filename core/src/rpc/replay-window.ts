import { open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PlexusError } from '../errors.js';

/** File in the data dir recording how far signed-request timestamps have been accepted. */
export const REPLAY_WINDOW_FILE = 'rpc-accepted-until.json';

/**
 * How far past a request's ts the recorded mark is pushed: steady traffic writes the record a few
 * times a second, not per request, and a restart refuses at most this much beyond the last ts
 * accepted (a restart takes longer than that anyway).
 */
const LEASE_MS = 250;

/** What ReplayWindow.open needs to know besides the data dir. */
export interface ReplayWindowOptions {
  /** Largest age of a request accepted by an earlier run (`rpc.maxClockSkewMs`): the fallback window. */
  maxClockSkewMs: number;
  /**
   * True when no earlier run can have accepted anything for this node's identity (its key was
   * created by this start, or by `plexus id --create`, which also writes the file).
   */
  fresh: boolean;
}

/**
 * Closes replay across restarts. Nonces live in memory only, so a request accepted by an earlier
 * run could be sent again after a restart while its timestamp is still fresh. The rule: every
 * accepted request's ts is at most the mark durably recorded in `rpc-accepted-until.json` (the
 * record is written and fsynced before such a request runs), and a new run refuses every ts at or
 * below the mark it finds at start. Within a run the nonce cache covers the rest.
 *
 * Without the file (a data dir from before this rule, or a deleted file) the earlier run may have
 * accepted ts up to its stop + `maxClockSkewMs` (the old forward allowance), so that much after
 * this start is refused once.
 */
export class ReplayWindow {
  private durable: number;
  private writing: Promise<void> | undefined;
  private wanted = 0;

  private constructor(
    private readonly file: string,
    /** Requests with ts below this are refused (ERR_TIMESTAMP_STALE). */
    readonly notBefore: number,
    recorded: number,
  ) {
    this.durable = recorded;
  }

  /** Reads the record in `dataDir` and writes a fresh one (failing here means the dir is unusable). */
  static async open(dataDir: string, options: ReplayWindowOptions, now = Date.now()): Promise<ReplayWindow> {
    const file = join(dataDir, REPLAY_WINDOW_FILE);
    const previous = await readMark(file);
    const floor = previous ?? (options.fresh ? 0 : now + options.maxClockSkewMs);
    const window = new ReplayWindow(file, Math.max(now, floor + 1), floor);
    await window.persist(floor);
    return window;
  }

  /** Creates the record of a node identity that has served nothing yet (next to its new key). */
  static async initialise(dataDir: string): Promise<void> {
    await writeMark(join(dataDir, REPLAY_WINDOW_FILE), 0);
  }

  /** The recorded mark: no request with a later ts has been accepted. */
  get acceptedUntil(): number {
    return this.durable;
  }

  /**
   * Resolves once the record covers `ts`; a request runs only after that. Requests close to the
   * mark extend it in the background, so steady traffic seldom waits for the disk.
   * @throws ERR_UNAVAILABLE when the record cannot be written.
   */
  async admit(ts: number): Promise<void> {
    if (ts <= this.durable - LEASE_MS / 2) return;
    const pending = this.extend(ts + LEASE_MS);
    if (ts <= this.durable) {
      pending.catch(() => undefined);
      return;
    }
    await pending;
  }

  /** Group commit: one write at a time, each covering every ts asked for so far. */
  private extend(until: number): Promise<void> {
    this.wanted = Math.max(this.wanted, until);
    if (this.writing === undefined) {
      this.writing = (async () => {
        try {
          while (this.wanted > this.durable) await this.persist(this.wanted);
        } finally {
          this.writing = undefined;
        }
      })();
    }
    return this.writing;
  }

  private async persist(until: number): Promise<void> {
    try {
      await writeMark(this.file, until);
    } catch (err) {
      throw new PlexusError('ERR_UNAVAILABLE', `cannot record the replay window in ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    this.durable = Math.max(this.durable, until);
  }
}

async function readMark(file: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const mark = (JSON.parse(text) as { acceptedUntil?: unknown }).acceptedUntil;
    if (typeof mark === 'number' && Number.isSafeInteger(mark) && mark >= 0) return mark;
  } catch {
    // A torn or edited file is treated like a missing one: the safe fallback applies.
  }
  return undefined;
}

/** Write, fsync, rename, fsync the dir: the mark on disk is always a whole, durable number. */
async function writeMark(file: string, until: number): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify({ acceptedUntil: until })}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
