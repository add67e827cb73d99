/**
 * The local stand-in for xahaud's WebSocket API used by the Xahau tests. It lives in the plugin
 * package (`@plexus/plugin-ledger-xahau/testing`, so the plugin's own tests use it too); this is
 * where the end-to-end tests take it from.
 */
export { StandinLedger, StandinServer, type Entry, type Token } from '@plexus/plugin-ledger-xahau/testing';
