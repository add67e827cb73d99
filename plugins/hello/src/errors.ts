import { defineErrors } from '@plexus/core/client';

/**
 * The hello plugin's own error codes, on top of core's (ERR_PARAMS_INVALID, ERR_AUTH_REQUIRED, ...).
 * Declared when this module is imported, by the node that throws them and by the CLI that prints
 * their hint, so both sides agree on the code and the "how to fix" line.
 */
export const HELLO_ERRORS = defineErrors('hello', {
  ERR_HELLO_BLOCKED: "The node's operator blocked this name (plugins.hello.blocked); greet another name.",
});
