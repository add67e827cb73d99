import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeMetrics } from '../src/metrics.js';
import { PlexusError } from '../src/errors.js';

test('metrics: each plugin gets its prefix; asking again returns the same metric; another type is a bug', async () => {
  const node = new NodeMetrics({ processMetrics: false });
  const dns = node.forPlugin('dns');
  const c = dns.counter({ name: 'queries_total', help: 'queries', labelNames: ['qtype'] });
  c.inc({ qtype: 'A' }, 2);
  assert.equal(dns.counter({ name: 'queries_total', help: 'queries', labelNames: ['qtype'] }), c, 'a restarted plugin keeps its series');
  assert.throws(() => dns.gauge({ name: 'queries_total', help: 'x' }), (err: unknown) => err instanceof PlexusError && err.code === 'ERR_INTERNAL');
  node.forPlugin('ledger-xahau').gauge({ name: 'up', help: 'up', collect() { this.set(1); } });
  const { contentType, text } = await node.render();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  assert.match(text, /^plexus_dns_queries_total\{qtype="A"\} 2$/m);
  // Names must be Prometheus identifiers: a dash in a plugin name becomes an underscore.
  assert.match(text, /^plexus_ledger_xahau_up 1$/m);
});

test('metrics: two nodes in one process keep their numbers apart', async () => {
  const a = new NodeMetrics({ processMetrics: false });
  const b = new NodeMetrics({ processMetrics: false });
  a.core().counter({ name: 'x_total', help: 'x' }).inc();
  assert.match((await a.render()).text, /^plexus_x_total 1$/m);
  assert.doesNotMatch((await b.render()).text, /plexus_x_total/);
});

test('metrics: process metrics are there when asked for', async () => {
  const { text } = await new NodeMetrics().render();
  assert.match(text, /^plexus_process_resident_memory_bytes \d+/m);
});
