import { defineErrors } from '../errors.js';

/** Codes of `plexus render` and `plexus net`. */
export const PLAN_ERRORS = defineErrors('plan', {
  ERR_SECRETS_FILE: 'The plan secrets file is unreadable, malformed or readable by others; fix its mode (chmod 600) or restore it from backup.',
  ERR_RENDER: 'A rendered config failed validation: a bug of `plexus render`; report it with the plan.',
  ERR_NET: 'Bringing the plan up or down failed at the step named; `plexus net status` shows what runs, `plexus net down` removes it.',
});
