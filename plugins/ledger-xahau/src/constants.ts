/**
 * Evernode protocol constants, as evernode-js-client defines them (src/evernode-common.js,
 * github.com/EvernodeXRPL/evernode-js-client, commit 1ef5b4c).
 */

/** Hook parameter names (hex, `EVR` 0x455652 + config sub-prefix 0x01 + index). */
export const PARAM_EVENT_TYPE_KEY = '4556520100000000000000000000000000000000000000000000000000000002';
export const PARAM_EVENT_DATA_KEY = '4556520100000000000000000000000000000000000000000000000000000003';

export const EVENT = {
  ACQUIRE_LEASE: 'evnAcquireLease',
  ACQUIRE_SUCCESS: 'evnAcquireSuccess',
  ACQUIRE_ERROR: 'evnAcquireError',
  EXTEND_LEASE: 'evnExtendLease',
  EXTEND_SUCCESS: 'evnExtendSuccess',
  EXTEND_ERROR: 'evnExtendError',
  TERMINATE_LEASE: 'evnTerminateLease',
  HEARTBEAT: 'evnHeartbeat',
  REFUND: 'evnRefund',
} as const;

/** Memo formats (MemoFormat, as ASCII). */
export const MEMO_FORMAT = { TEXT: 'text/plain', JSON: 'text/json', BASE64: 'base64', HEX: 'hex' } as const;

export const ERROR_CODE = { ACQUIRE_ERR: 'ACQUIRE_ERR', EXTEND_ERR: 'EXTEND_ERR' } as const;

/** `evrlease` in hex: the first bytes of a lease slot URIToken's (base64-decoded) URI. */
export const LEASE_TOKEN_PREFIX_HEX = '6576726C65617365';

/** Evernode's own currency code. */
export const EVR = 'EVR';

/** Xahau mainnet NetworkID (testnet: 21338). */
export const XAHAU_MAINNET_NETWORK_ID = 21337;

/** The smallest payment (drops of XAH) used for replies and heartbeats. */
export const MIN_DROPS = '1';
