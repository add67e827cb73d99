import { defineErrors } from '@plexus/core/client';

/** The gateway's own error codes (on top of core's ERR_FORBIDDEN, ERR_NOT_FOUND, ...). */
export const GATEWAY_ERRORS = defineErrors('gateway', {
  ERR_CNAME_CONFLICT:
    'A name with a CNAME holds no other records, and a CNAME cannot join other records (RFC 1034 §3.6.2): delete one side first (plexus gateway delete --type ...), or repeat the call with --replace (param replace: true) to swap them.',
});
