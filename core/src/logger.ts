import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = LevelWithSilent;

export interface LoggerOptions {
  level?: LogLevel;
  /** Pretty, human lines. Default: when stderr is a terminal. JSON otherwise. */
  pretty?: boolean;
}

/**
 * Root logger of a process. Logs go to stderr so that stdout stays clean for command output
 * (`--json`). Each plugin gets `root.child({ scope: name })`.
 */
export async function createRootLogger(options: LoggerOptions = {}): Promise<Logger> {
  const level = options.level ?? ((process.env.PLEXUS_LOG_LEVEL as LogLevel | undefined) ?? 'info');
  const pretty = options.pretty ?? Boolean(process.stderr.isTTY);
  if (pretty) {
    // Loaded only on a terminal: keeps JSON-only processes (services, tests) lean.
    const { default: pinoPretty } = await import('pino-pretty');
    return pino({ level }, pinoPretty({ destination: 2, sync: true, ignore: 'pid,hostname', messageKey: 'msg' }));
  }
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: false }));
}

/** A logger that drops everything; for library callers and tests that do not care. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
