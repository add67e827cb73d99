/// <reference lib="dom" />
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { NodeProcess, ROOT, explorerConfig, freePort, killAllNodes, removeDir, runCli, tempDir } from './lib/harness.js';

/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by puppeteer-core): the
 * page opens on a real explorer, a name registered with the real CLI appears without a reload,
 * the search box finds it and its detail shows its record and domains; also at a phone's width.
 * Screenshots go to test/artifacts/api/ (git-ignored) for a human to look at.
 */

export const CHROMIUM = process.env.PLEXUS_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test/artifacts/api');

/** Launches Debian's chromium headless; fails (never skips) naming the package when it is missing. */
export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `no browser at ${CHROMIUM}: install Debian's chromium package (apt-get install -y chromium) or set PLEXUS_CHROMIUM`);
  return puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

let dir: string;
let explorer: NodeProcess;
let browser: Browser;
let base: string;

before(async () => {
  dir = await tempDir('plexus-dashboard-');
  await mkdir(ARTIFACTS, { recursive: true });
  const port = await freePort();
  const { file } = await explorerConfig(
    dir,
    `  gateway: { zones: [gateway.tf], publicIps: [127.0.0.1] }
  api: { listen: '127.0.0.1:${port}' }
`,
  );
  explorer = await NodeProcess.start(file);
  base = `http://127.0.0.1:${port}/`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await killAllNodes();
  await removeDir(dir);
});

const cli = (args: string[]) => runCli([...args, '--explorer', explorer.multiaddr, '--json'], { HOME: dir, PLEXUS_KEY: join(dir, 'user.key') });

async function openDashboard(width: number, height: number): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width, height });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(base, { waitUntil: 'load' });
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
  await page.waitForFunction(() => document.getElementById('live')?.textContent === 'live', { timeout: 30_000 });
  assert.deepEqual(errors, [], 'the page runs without script errors');
  return page;
}

test('dashboard: a name registered with the CLI appears without reload; search finds it; its detail shows record and domains', { timeout: 150_000 }, async () => {
  const page = await openDashboard(1280, 900);
  assert.equal(await page.$('tr[data-name="zoe"]'), null, 'not there before it is registered');

  const reg = await cli(['phonebook', 'register', '--name', 'zoe', '--email', 'zoe@example.org', '--ipaddr', '10.2.0.9']);
  assert.equal(reg.code, 0, reg.stderr);
  const acknowledged = Date.now();
  await page.waitForSelector('tr[data-name="zoe"]', { timeout: 20_000 });
  const shownAfterMs = Date.now() - acknowledged;
  assert.equal(await page.$eval('tr[data-name="zoe"] td:nth-child(3)', (td) => td.textContent), '10.2.0.9');

  const a = await cli(['gateway', 'register-a', '--name', 'zoe', '--ip', '10.2.0.9']);
  assert.equal(a.code, 0, a.stderr);
  await page.waitForSelector('tr[data-fqdn="zoe.gateway.tf"]', { timeout: 20_000 });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-live.png'), fullPage: true });

  // Another name, then the search box: filtering hides it, Enter opens zoe's detail.
  assert.equal((await cli(['phonebook', 'register', '--name', 'yann', '--email', 'y@example.org', '--key', join(dir, 'yann.key')])).code, 0);
  await page.waitForSelector('tr[data-name="yann"]', { timeout: 20_000 });
  await page.type('#search', 'zoe');
  await page.waitForFunction(() => document.querySelector('tr[data-name="yann"]')?.classList.contains('hidden') === true, { timeout: 10_000 });
  assert.equal(await page.$eval('tr[data-name="zoe"]', (tr) => tr.classList.contains('hidden')), false);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => !document.getElementById('detail')!.hidden && document.getElementById('detail-name')!.textContent === 'zoe', { timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById('detail-domains')!.textContent!.includes('zoe.gateway.tf'), { timeout: 10_000 });
  const detail = await page.$eval('#detail-record', (dl) => dl.textContent);
  assert.match(detail ?? '', /zoe@example\.org/);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-detail.png'), fullPage: true });

  // A click on a row opens that name too.
  await page.click('tr[data-name="zoe"]');
  await page.waitForFunction(() => document.getElementById('detail-name')!.textContent === 'zoe', { timeout: 10_000 });
  await page.close();
  console.log(`# dashboard showed the registration ${shownAfterMs} ms after the CLI returned`);
});

test('dashboard at a phone width: one column, nothing wider than the screen', { timeout: 60_000 }, async () => {
  const page = await openDashboard(375, 740);
  await page.waitForSelector('tr[data-name="zoe"]', { timeout: 20_000 });
  const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
  assert.ok(widths.doc <= widths.view, `the page scrolls sideways: ${widths.doc} > ${widths.view}`);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
  await page.close();
});
