// browser.mjs - headless Debian Chromium driven by Playwright (playwright-core) for the
// Inspector's tests: launch, pages that record console errors, artifacts.
//
// Chromium is /usr/bin/chromium (Debian package `chromium`, installed by scripts/deps.sh).
// Every wait is Playwright's waitFor*/waitForFunction on page content; the timeouts are
// safety nets, never part of an assertion.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { REPO } from './server.mjs';

export const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags Chromium keeps dialling Google hosts, which this
// kind of machine refuses.
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
export const WAIT_MS = 30000;
/** Where tests save screenshots of the main screens (test artifacts, kept after the run). */
export const ARTIFACTS = path.join(REPO, 'build', 'test-artifacts', 'ui');

export function loadPlaywright() {
  const req = createRequire(path.join(REPO, 'tests', 'package.json'));
  try {
    return req('playwright-core');
  } catch (e) {
    throw new Error(`playwright-core is not installed in tests/node_modules (run scripts/deps.sh): ${e.message}`);
  }
}

export const chromiumMissing = () =>
  fs.existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (apt-get install chromium)`;

export async function launchBrowser() {
  const { chromium } = loadPlaywright();
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * A page at url that records console errors and uncaught exceptions in `problems`
 * (assert it is empty at the end of a test: the Inspector must log none).
 */
export async function openPage(browser, url, viewport = { width: 1400, height: 900 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const res = await page.goto(url);
  assert.equal(res.status(), 200, `GET ${url}`);
  return { page, context, problems };
}

/**
 * Waits until the page has logged n problems (openPage's list): a console error reaches
 * Node as its own CDP event, which can come after the DOM change a test waited for.
 */
export function waitForProblems(page, problems, n) {
  if (problems.length >= n) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      page.off('console', onConsole);
      reject(new Error(`waited ${WAIT_MS} ms for ${n} console errors; got ${problems.length}:\n${problems.join('\n')}`));
    }, WAIT_MS);
    function onConsole() {
      if (problems.length < n) return;
      clearTimeout(timer);
      page.off('console', onConsole);
      resolve();
    }
    page.on('console', onConsole);
  });
}

/** Saves a screenshot of the page as build/test-artifacts/ui/<name>.png. */
export async function artifact(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: false });
}

/** Sends a prompt through the session panel's prompt box; returns the locator of its turn. */
export async function sendPrompt(page, text) {
  const turns = page.locator('#chat .turn');
  const before = await turns.count();
  await page.locator('#send:not([disabled])').waitFor();
  await page.fill('#prompt', text);
  await page.press('#prompt', 'Enter');
  const turn = turns.nth(before);
  await turn.locator('.msg.user').waitFor();
  return turn;
}

/** Waits for a turn's stop line and returns its stopReason. */
export async function stopReason(turn) {
  const stop = turn.locator('.stop');
  await stop.waitFor();
  return stop.getAttribute('data-reason');
}
