import { z } from '@plexus/core';
import { XAHAU_MAINNET_NETWORK_ID } from './constants.js';

const ADDRESS = /^r[1-9A-HJ-NP-Za-km-z]{24,34}$/;
const DECIMAL = /^\d+(\.\d+)?$/;

/** Defaults of `plugins.ledger-xahau`. */
export const DEFAULTS = {
  networkId: XAHAU_MAINNET_NETWORK_ID,
  momentSeconds: 3600,
  momentBaseTimestamp: 0,
  heartbeat: true,
  maxFeeDrops: 100_000,
  ledgerWindow: 20,
  requestTimeoutMs: 10_000,
  reconnectDelayMs: 2_000,
} as const;

/**
 * `plugins.ledger-xahau`: the host's Xahau account and where to reach the network.
 * The account's secret comes from `secretFile` (relative to the config file) or `$PLEXUS_XAHAU_SECRET`.
 */
export const LedgerXahauConfigSchema = z.strictObject({
  /** WebSocket URLs of xahaud servers, tried in order (failover). */
  servers: z.array(z.string().regex(/^wss?:\/\/\S+$/, 'a ws:// or wss:// URL')).min(1),
  /** The host's account (classic address). */
  hostAccount: z.string().regex(ADDRESS, 'a classic address r...'),
  /** File holding the account's family seed (s...); else $PLEXUS_XAHAU_SECRET. */
  secretFile: z.string().min(1).optional(),
  /** Evernode's heartbeat hook account. */
  heartbeatAccount: z.string().regex(ADDRESS, 'a classic address r...'),
  /** EVR issuer; when set, EVR from any other issuer is refused. */
  evrIssuer: z.string().regex(ADDRESS, 'a classic address r...').optional(),
  /** NetworkID put in every transaction (Xahau mainnet 21337, testnet 21338). */
  networkId: z.number().int().min(0).default(DEFAULTS.networkId),
  /** Length of a moment, the lease unit. */
  momentSeconds: z.number().int().min(1).default(DEFAULTS.momentSeconds),
  /** Unix time of moment 0 (extend replies carry the expiry as a moment index). */
  momentBaseTimestamp: z.number().int().min(0).default(DEFAULTS.momentBaseTimestamp),
  /** EVR per moment; default: the price the lease's URIToken was bought for. */
  leaseAmount: z.string().regex(DECIMAL, 'a decimal amount of EVR').optional(),
  /** Send a heartbeat once per moment. */
  heartbeat: z.boolean().default(DEFAULTS.heartbeat),
  /** Highest fee (drops) the plugin pays for one transaction. */
  maxFeeDrops: z.number().int().min(10).default(DEFAULTS.maxFeeDrops),
  /** LastLedgerSequence = current ledger + this. */
  ledgerWindow: z.number().int().min(3).max(1000).default(DEFAULTS.ledgerWindow),
  /** First ledger to read on the very first start; default: the server's validated ledger then. */
  startLedger: z.number().int().min(1).optional(),
  requestTimeoutMs: z.number().int().min(100).default(DEFAULTS.requestTimeoutMs),
  reconnectDelayMs: z.number().int().min(10).default(DEFAULTS.reconnectDelayMs),
});

export type LedgerXahauConfig = z.output<typeof LedgerXahauConfigSchema>;
