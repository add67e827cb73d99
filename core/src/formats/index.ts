/**
 * Formats and rules shared by plugins: the Redis layouts of the tools plexus replaces (COMPAT §1,
 * §2), name rules, addresses, key and signature params. One definition each; plugins import these
 * and keep no copy. See core/README.md, "Shared formats".
 */
export * from './names.js';
export * from './net.js';
export * from './hex.js';
export * from './coredns.js';
export * from './tcprouter.js';
export * from './tunnel.js';
export * from './hosts.js';
export * from './zone-changes.js';
