/**
 * Test support (imported as `@plexus/plugin-ledger-xahau/testing`; not part of the runtime API):
 * a local stand-in for xahaud's WebSocket API.
 */
export { StandinLedger, StandinServer, type Entry, type Token } from './standin.js';
