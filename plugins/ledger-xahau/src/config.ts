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
  /**
   * Evernode's governor hook account: when set, the moment base and size are read from its hook
   * state (`momentSeconds` / `momentBaseTimestamp` are then only the fallback).
   */
  governorAccount: z.string().regex(ADDRESS, 'a classic address r...').optional(),
  /** Lease slots the plugin mints and keeps offered (one URIToken per free slot). Without it, slots are managed outside plexus. */
  slots: z
    .strictObject({
      /**
       * Lease slots of this host. Default: the hosting plugin's `capacity.instances` (which also caps
       * it); none are on offer while the host drains.
       */
      count: z.number().int().min(0).max(1000).optional(),
      /** EVR per moment: the offer price and the amount in the lease URI. */
      leaseAmount: z.string().regex(DECIMAL, 'a decimal amount of EVR'),
      /** Hex SHA-256 of the host's terms of service (half of it goes into the lease URI). */
      tosHash: z.string().regex(/^[0-9a-fA-F]{64}$/, '64 hex characters'),
      /** Outbound IPv6 address written into the lease URI (full form, 8 groups). */
      outboundIpv6: z.string().regex(/^([0-9a-fA-F]{4}:){7}[0-9a-fA-F]{4}$/, 'a full IPv6 address (8 groups of 4 hex digits)').optional(),
      /** How often expired leases are looked for and slots re-checked, besides after every request. */
      checkEveryMs: z.number().int().min(100).default(30_000),
    })
    .optional(),
  /** Host registration with Evernode's registry hook (`evnHostReg`), done once; without it, registration is done outside plexus. */
  registration: z
    .strictObject({
      registryAccount: z.string().regex(ADDRESS, 'a classic address r...'),
      /** Registration fee in EVR (the registry hook's HOST_REG_FEE). */
      fee: z.string().regex(DECIMAL, 'a decimal amount of EVR'),
      countryCode: z.string().regex(/^[A-Z]{2}$/, 'two upper-case letters'),
      cpuMicroSec: z.number().int().min(1),
      ramMb: z.number().int().min(1),
      diskMb: z.number().int().min(1),
      totalInstances: z.number().int().min(1),
      cpuModel: z.string().min(1).max(40),
      cpuCount: z.number().int().min(1).max(65_535),
      cpuMHz: z.number().int().min(1).max(65_535),
      description: z.string().regex(/^[\x00-\x3a\x3c-\x7f]{0,26}$/, 'at most 26 ASCII characters, no ";"').default(''),
      email: z.string().regex(/^.+@.+$/).max(40),
      /** Ledgers to wait for the registry's sell offer after the registration payment. */
      offerWaitLedgers: z.number().int().min(1).default(60),
    })
    .optional(),
}).superRefine((c, ctx) => {
  if ((c.slots !== undefined || c.registration !== undefined) && c.evrIssuer === undefined) ctx.addIssue({ code: 'custom', path: ['evrIssuer'], message: 'evrIssuer is required with slots or registration (offers and fees are in EVR)' });
});

export type LedgerXahauConfig = z.output<typeof LedgerXahauConfigSchema>;
