import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, loadConfigFile } from '../src/config/load.js';
import { ConfigError } from '../src/config/issues.js';
import { devConfigPath } from '../src/config/dev-config.js';
import { tempDir, thrown } from './helpers.js';

const CORE_DIR = fileURLToPath(new URL('../../', import.meta.url));
const CONFIGS_DIR = fileURLToPath(new URL('../../../configs/', import.meta.url));

/** A third-party-style plugin file: plain data plus a factory, importing `z` from the core package. */
function pluginFile(name: string, provides: string[], requires: string[]): string {
  return `import { z } from '@plexus/core';
export const plugin = {
  name: ${JSON.stringify(name)},
  version: '0.0.1',
  description: 'test plugin ${name}',
  provides: ${JSON.stringify(provides)},
  requires: ${JSON.stringify(requires)},
  configSchema: z.strictObject({ size: z.number().int().default(1) }),
  create() {
    return { async start() {}, async stop() {} };
  },
};
`;
}

interface ExpectedIssue {
  path: string;
  /** Patterns the issue's message must match; the path alone is what most cases pin. */
  message?: RegExp[];
}

interface Case {
  name: string;
  yaml: string;
  /** Plugin files written beside the config before parsing (keys like `./a.js` refer to them). */
  files?: Record<string, string>;
  issues: ExpectedIssue[];
}

const cycleFiles = {
  'a.js': pluginFile('a', ['cap-a'], ['cap-b']),
  'b.js': pluginFile('b', ['cap-b'], ['cap-a']),
};

const CASES: Case[] = [
  {
    name: 'unknown top-level key',
    yaml: 'nodes: {}\nplugins:\n  store: {}\n',
    issues: [{ path: 'nodes', message: [/'nodes'/] }],
  },
  {
    name: 'two unknown top-level keys are both reported',
    yaml: 'plugin: {}\nextra: 1\nplugins:\n  store: {}\n',
    issues: [{ path: 'plugin' }, { path: 'extra' }],
  },
  {
    name: 'unknown key under node',
    yaml: 'node:\n  lisen: [/ip4/127.0.0.1/tcp/4001]\nplugins:\n  store: {}\n',
    issues: [{ path: 'node.lisen', message: [/'lisen'/] }],
  },
  {
    name: 'unknown key under node.rpc',
    yaml: 'node:\n  rpc: {maxFrameSize: 10}\nplugins:\n  store: {}\n',
    issues: [{ path: 'node.rpc.maxFrameSize' }],
  },
  {
    name: 'wrong type in node.rpc',
    yaml: 'node:\n  rpc:\n    maxFrameBytes: "big"\nplugins:\n  store: {}\n',
    issues: [{ path: 'node.rpc.maxFrameBytes', message: [/expected number, got string/] }],
  },
  {
    name: 'an unknown top-level key does not hide errors elsewhere',
    yaml: 'plugin: {}\nnode:\n  lisen: 1\nplugins:\n  nosuch: {}\n',
    issues: [{ path: 'plugin' }, { path: 'node.lisen' }, { path: 'plugins.nosuch' }],
  },
  {
    name: 'an invalid block of a configured provider is not reported as a missing capability',
    yaml: 'plugins:\n  store:\n    port: "x"\n  phonebook: {}\n',
    issues: [{ path: 'plugins.store.port', message: [/expected number, got string/] }],
  },
  {
    name: 'value out of range in node.rpc',
    yaml: 'node:\n  rpc:\n    maxFrameBytes: 10\nplugins:\n  store: {}\n',
    issues: [{ path: 'node.rpc.maxFrameBytes' }],
  },
  {
    name: 'bad multiaddrs in node.listen, each at its index',
    yaml: 'node:\n  listen: [/ip4/999.1.1.1/tcp/1, /ip4/127.0.0.1/tcp/4001, not-a-multiaddr]\nplugins:\n  store: {}\n',
    issues: [
      { path: 'node.listen.0', message: [/multiaddr/] },
      { path: 'node.listen.2', message: [/multiaddr/] },
    ],
  },
  {
    name: 'bad node.explorer multiaddr',
    yaml: 'node:\n  explorer: /tcp/notaport\nplugins:\n  store: {}\n',
    issues: [{ path: 'node.explorer', message: [/multiaddr/] }],
  },
  {
    name: 'log level not in the enum',
    yaml: 'node:\n  log: {level: loud}\nplugins:\n  store: {}\n',
    issues: [{ path: 'node.log.level', message: [/"info"/] }],
  },
  {
    name: 'YAML syntax error',
    yaml: 'node: [unclosed\nplugins:\n  store: {}\n',
    issues: [{ path: '', message: [/^YAML: /] }],
  },
  {
    name: 'duplicate YAML key',
    yaml: 'plugins:\n  store: {}\n  store: {}\n',
    issues: [{ path: '', message: [/^YAML: /] }],
  },
  {
    name: 'empty plugins',
    yaml: 'node:\n  name: x\nplugins: {}\n',
    issues: [{ path: 'plugins' }],
  },
  {
    name: 'no plugins key at all',
    yaml: 'node:\n  name: x\n',
    issues: [{ path: 'plugins' }],
  },
  {
    name: 'empty document',
    yaml: '',
    issues: [{ path: 'plugins' }],
  },
  {
    name: 'plugins is not a map',
    yaml: 'plugins: [store]\n',
    issues: [{ path: 'plugins' }],
  },
  {
    name: 'unknown plugin name',
    yaml: 'plugins:\n  store: {}\n  nosuch: {}\n',
    issues: [{ path: 'plugins.nosuch', message: [/'nosuch'/] }],
  },
  {
    name: 'unknown key inside a plugin block',
    yaml: 'plugins:\n  store: {}\n  phonebook:\n    foo: 1\n',
    issues: [{ path: 'plugins.phonebook.foo', message: [/'foo'/] }],
  },
  {
    name: 'wrong type inside a plugin block',
    yaml: 'plugins:\n  store:\n    port: "x"\n',
    issues: [{ path: 'plugins.store.port', message: [/number/] }],
  },
  {
    name: 'missing capability names the capability and the plugin that provides it',
    yaml: 'plugins:\n  phonebook: {}\n',
    issues: [{ path: 'plugins.phonebook', message: [/capability 'store'/, /plugin 'store'/] }],
  },
  {
    name: 'missing capability that no installed plugin provides',
    yaml: 'plugins:\n  ./lonely.js: {}\n',
    files: { 'lonely.js': pluginFile('lonely', [], ['nobody-has-this']) },
    issues: [{ path: 'plugins../lonely.js', message: [/'nobody-has-this'/] }],
  },
  {
    name: 'dependency cycle',
    yaml: 'plugins:\n  ./a.js: {}\n  ./b.js: {}\n',
    files: cycleFiles,
    issues: [{ path: 'plugins', message: [/cycle/, /a/, /b/] }],
  },
  {
    name: 'duplicate provider',
    yaml: 'plugins:\n  ./c.js: {}\n  ./d.js: {}\n',
    files: { 'c.js': pluginFile('c', ['dup'], []), 'd.js': pluginFile('d', ['dup'], []) },
    issues: [{ path: 'plugins', message: [/'dup'/, /\.\/c\.js/, /\.\/d\.js/] }],
  },
  {
    name: 'a path plugin with a bad config block',
    yaml: 'plugins:\n  ./c.js:\n    size: 1.5\n    colour: red\n',
    files: { 'c.js': pluginFile('c', [], []) },
    issues: [{ path: 'plugins../c.js.size' }, { path: 'plugins../c.js.colour' }],
  },
  {
    name: 'a file that is not a plugin',
    yaml: 'plugins:\n  ./junk.js: {}\n',
    files: { 'junk.js': 'export const plugin = { name: "Not Valid" };\n' },
    issues: [{ path: 'plugins../junk.js', message: [/not a plexus plugin/] }],
  },
  {
    name: 'a plugin file that throws while loading',
    yaml: 'plugins:\n  ./broken.js: {}\n',
    files: { 'broken.js': 'throw new Error("boom at import");\n' },
    issues: [{ path: 'plugins../broken.js', message: [/boom at import/] }],
  },
  {
    name: 'a plugin path that does not exist',
    yaml: 'plugins:\n  ./missing.js: {}\n',
    issues: [{ path: 'plugins../missing.js' }],
  },
  {
    name: 'a YAML alias bomb ("billion laughs") is refused, not expanded',
    yaml: ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcdefghi'[i]}`).join(', ')}]`), 'plugins:', '  store: {}', ''].join('\n'),
    issues: [{ path: '', message: [/^YAML: .*alias/] }],
  },
  {
    name: 'a forward skew larger than the clock skew',
    yaml: 'node:\n  rpc: {maxClockSkewMs: 10000, maxForwardSkewMs: 20000}\nplugins:\n  store: {}\n',
    issues: [{ path: 'node.rpc.maxForwardSkewMs', message: [/maxClockSkewMs/] }],
  },
  {
    name: 'a connection buffer smaller than one frame, and a total smaller than one connection',
    yaml: 'node:\n  rpc: {maxFrameBytes: 4096, maxBufferedBytesPerConnection: 4096, maxBufferedBytes: 2048}\nplugins:\n  store: {}\n',
    issues: [
      { path: 'node.rpc.maxBufferedBytesPerConnection', message: [/maxFrameBytes \+ 4/] },
      { path: 'node.rpc.maxBufferedBytes', message: [/maxBufferedBytesPerConnection/] },
    ],
  },
  {
    name: 'allow/deny entries that are not IP networks',
    yaml: 'node:\n  p2p: {allow: [/ip4/10.0.0.0/ipcidr/8, /dns4/example.org], deny: [10.0.0.1]}\nplugins:\n  store: {}\n',
    issues: [{ path: 'node.p2p.allow.1', message: [/ipcidr/] }, { path: 'node.p2p.deny.0' }],
  },
  {
    name: 'several errors at once are all reported',
    yaml: [
      'node:',
      '  lisen: []',
      '  listen: [bogus]',
      '  rpc:',
      '    maxFrameBytes: "big"',
      'plugins:',
      '  nosuch: {}',
      '  store:',
      '    port: "x"',
      '  phonebook:',
      '    foo: 1',
      '  ./a.js: {}',
      '  ./b.js: {}',
      '',
    ].join('\n'),
    files: cycleFiles,
    issues: [
      { path: 'node.lisen' },
      { path: 'node.listen.0' },
      { path: 'node.rpc.maxFrameBytes' },
      { path: 'plugins.nosuch' },
      { path: 'plugins.store.port' },
      { path: 'plugins.phonebook.foo' },
      { path: 'plugins', message: [/cycle/] },
    ],
  },
];

/** A dir where `import '@plexus/core'` resolves, as it would in a project that installed plexus. */
async function projectDir(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const dir = await tempDir(t, 'plexus-config-');
  await mkdir(join(dir, 'node_modules', '@plexus'), { recursive: true });
  await symlink(CORE_DIR, join(dir, 'node_modules', '@plexus', 'core'), 'dir');
  return dir;
}

for (const c of CASES) {
  test(`parseConfig refuses: ${c.name}`, async (t) => {
    const dir = await projectDir(t);
    for (const [file, text] of Object.entries(c.files ?? {})) await writeFile(join(dir, file), text);

    const err = await thrown(() => parseConfig(c.yaml, 'test.yaml', dir));
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_CONFIG_INVALID');
    assert.deepEqual(err.data?.issues, err.issues, 'the issues travel in data.issues too');

    const paths = err.issues.map((i) => i.path).sort();
    assert.deepEqual(paths, c.issues.map((i) => i.path).sort(), JSON.stringify(err.issues, null, 1));
    for (const issue of err.issues) assert.equal(issue.file, 'test.yaml');
    for (const want of c.issues) {
      for (const pattern of want.message ?? []) {
        assert.ok(
          err.issues.some((i) => i.path === want.path && pattern.test(i.message)),
          `no issue at '${want.path}' matches ${pattern}: ${JSON.stringify(err.issues)}`,
        );
      }
    }
  });
}

interface ValidCase {
  name: string;
  yaml: string;
  files?: Record<string, string>;
  order: string[];
  check?: (cfg: Awaited<ReturnType<typeof parseConfig>>, dir: string) => void;
}

const VALID: ValidCase[] = [
  {
    name: 'store is started before phonebook whatever the file order',
    yaml: 'node:\n  name: n1\n  dataDir: ./state\nplugins:\n  phonebook: {}\n  store:\n    port: 6391\n',
    order: ['store', 'phonebook'],
    check(cfg, dir) {
      assert.equal(cfg.node.name, 'n1');
      assert.equal(cfg.dataDir, resolve(dir, 'state'));
      assert.equal(cfg.file, 'test.yaml');
      assert.equal(cfg.dir, dir);
      // Defaults are filled in next to the schema.
      assert.deepEqual(cfg.node.rpc, {
        maxFrameBytes: 1024 * 1024,
        maxClockSkewMs: 30_000,
        maxForwardSkewMs: 5_000,
        maxInFlightPerStream: 256,
        maxPendingRequests: 512,
        maxStreamsPerProtocol: 16,
        maxBufferedBytesPerConnection: 2 * 1024 * 1024,
        maxBufferedBytes: 32 * 1024 * 1024,
        frameTimeoutMs: 10_000,
        rateLimit: { perSecond: 2000, burst: 4000, perHostPerSecond: 2000, perHostBurst: 4000 },
      });
      assert.deepEqual(cfg.node.p2p, {
        maxConnections: 1024,
        maxConnectionsPerHost: 64,
        inboundPerHostPerSecond: 100,
        maxPendingInbound: 256,
        maxPendingPerHost: 8,
        handshakeTimeoutMs: 10_000,
        handshakeTimeoutUnderPressureMs: 2_000,
        idleTimeoutMs: 30_000,
        maxStreamsPerConnection: 64,
        streamWindowBytes: 256 * 1024,
        allow: [],
        deny: [],
      });
      assert.deepEqual(cfg.node.listen, ['/ip4/0.0.0.0/tcp/4001']);
      assert.equal(cfg.node.log.level, 'info');
      const pb = cfg.plugins.find((p) => p.key === 'phonebook');
      assert.deepEqual(pb?.config, { defaultPageSize: 50, maxPageSize: 500 });
      const store = cfg.plugins.find((p) => p.key === 'store');
      assert.equal((store?.config as { port: number }).port, 6391);
      assert.equal(store?.definition.name, 'store');
    },
  },
  {
    name: 'a path plugin that requires store comes after it; independent plugins keep file order',
    yaml: 'plugins:\n  ./c.js: {}\n  ./needs-store.js: {size: 3}\n  store: {}\n',
    files: { 'c.js': pluginFile('c', ['c'], []), 'needs-store.js': pluginFile('needs-store', [], ['store']) },
    order: ['./c.js', 'store', './needs-store.js'],
    check(cfg) {
      assert.deepEqual(cfg.plugins.find((p) => p.key === './needs-store.js')?.config, { size: 3 });
      assert.deepEqual(cfg.plugins.find((p) => p.key === './c.js')?.config, { size: 1 });
    },
  },
  {
    name: 'a null plugin block means defaults',
    yaml: 'plugins:\n  store:\n',
    order: ['store'],
  },
];

for (const c of VALID) {
  test(`parseConfig accepts: ${c.name}`, async (t) => {
    const dir = await projectDir(t);
    for (const [file, text] of Object.entries(c.files ?? {})) await writeFile(join(dir, file), text);
    const cfg = await parseConfig(c.yaml, 'test.yaml', dir);
    assert.deepEqual(cfg.plugins.map((p) => p.key), c.order);
    c.check?.(cfg, dir);
  });
}

test('the dev defaults are configs/dev.yaml: the all-in-one plugin set on loopback, in dependency order, data beside the project', async () => {
  assert.equal(devConfigPath(), join(CONFIGS_DIR, 'dev.yaml'));
  const cfg = await loadConfigFile(devConfigPath());
  assert.deepEqual(cfg.plugins.map((p) => p.key), ['store', 'phonebook', 'gateway', 'dns', 'tcprouter', 'api']);
  assert.deepEqual(cfg.node.listen, ['/ip4/127.0.0.1/tcp/4001']);
  // Independent of the working directory: relative to the file.
  assert.equal(cfg.dataDir, resolve(CONFIGS_DIR, '..', '.plexus-dev'));
});

test('every configs/*.yaml parses, including dev.yaml and explorer.yaml', async () => {
  const files = (await readdir(CONFIGS_DIR)).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();
  for (const required of ['dev.yaml', 'explorer.yaml']) assert.ok(files.includes(required), `configs/${required} is missing (found: ${files.join(', ') || 'none'})`);
  for (const f of files) {
    const path = join(CONFIGS_DIR, f);
    try {
      const cfg = await loadConfigFile(path);
      assert.ok(cfg.plugins.length > 0, `${f} configures no plugin`);
    } catch (err) {
      const detail = err instanceof ConfigError ? err.issues.map((i) => `${i.path}: ${i.message}`).join('; ') : String(err);
      assert.fail(`configs/${f} does not parse: ${detail}`);
    }
  }
});


test('loadConfigFile refuses bytes that are not UTF-8, naming the byte offset', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'latin1.yaml');
  const text = Buffer.from('node:\n  name: caf\xe9\nplugins:\n  store: {}\n', 'latin1');
  await writeFile(file, text);
  const err = await thrown(() => loadConfigFile(file));
  assert.ok(err instanceof ConfigError, String(err));
  assert.equal(err.code, 'ERR_CONFIG_INVALID');
  assert.match(err.issues[0]!.message, new RegExp(`invalid byte 0xe9 at byte offset ${text.indexOf(0xe9)}`));
});
