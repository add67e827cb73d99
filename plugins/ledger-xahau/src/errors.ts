import { defineErrors } from '@plexus/core';

/** Error codes of the Xahau lease source. */
export const XAHAU_ERRORS = defineErrors('ledger-xahau', {
  ERR_XAHAU_FEE_TOO_HIGH: 'The network asks more than plugins.ledger-xahau.maxFeeDrops for a transaction; raise it or wait for the load to fall.',
  ERR_XAHAU_SUBMIT: 'A reply transaction was refused by the server (the message has the engine result); check the host account funds and keys.',
  ERR_XAHAU_SECRET: 'Put the host account family seed (s...) in plugins.ledger-xahau.secretFile or $PLEXUS_XAHAU_SECRET; it must derive hostAccount.',
});
