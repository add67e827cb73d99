import { defineErrors } from '@plexus/core';

/** The api plugin's own codes; every other answer carries a core code (ERR_NOT_FOUND, ERR_PARAMS_INVALID, ...). */
export const API_ERRORS = defineErrors('api', {
  ERR_API_TOKEN_REQUIRED: 'This route is not public: send `Authorization: Bearer <plugins.api.token>`.',
  ERR_API_NOT_SERVED: 'This node runs no plugin that answers this route (see /openapi.json for what it serves); ask a node that runs it.',
  ERR_API_TOO_MANY_CLIENTS: 'The node has as many /events clients as plugins.api.events.maxClients allows; retry later.',
});
