import { defineErrors } from '@plexus/core/client';

/** The phonebook's own error codes (on top of core's ERR_NOT_FOUND, ERR_SIGNATURE_INVALID, ...). */
export const PHONEBOOK_ERRORS = defineErrors('phonebook', {
  ERR_NAME_TAKEN: 'The name is registered with another public key; choose another name.',
  ERR_NAME_INVALID: 'Names are lowercase DNS labels: a-z, 0-9 and -, joined by dots.',
  ERR_PUBKEY_MISMATCH: 'The public key does not match the one registered for this record.',
});
