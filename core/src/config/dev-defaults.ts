/**
 * What `plexus start` runs with no --config: an all-in-one development node on loopback with its
 * own managed redis-server. Kept in sync with configs/dev.yaml by a test.
 */
export const DEV_DEFAULTS_YAML = `
node:
  name: dev
  dataDir: ./.plexus-dev
  listen: [/ip4/127.0.0.1/tcp/4001]
plugins:
  store:
    bind: 127.0.0.1
    port: 6390
  phonebook: {}
  gateway:
    zones: [gateway.tf]
    publicIps: [127.0.0.1]
  dns:
    listen: ['127.0.0.1:5354']
    zones: [gateway.tf]
`;
