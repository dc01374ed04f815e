// ui_shell.test.mjs - the Inspector's shell (web/index.html, js/main.js) and how the server
// serves it (src/ui): headers, revalidation, gzip; connecting with a token; navigation;
// the Requests and Agents panels; phone width. Runs headless Chromium against our binary.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { test } from 'node:test';
import { REPO, IS_REFERENCE, startServer, annotate } from './lib/server.mjs';
import { launchBrowser, openPage, artifact, chromiumMissing } from './lib/browser.mjs';

const REGISTRY = ['session', 'events', 'requests', 'agents', 'processes', 'run', 'files', 'config', 'desktop'];
// Panels whose module is not in web/ yet (other branches bring them): the browser logs one
// "404" resource error for each import the shell tries. Empty once every panel is in.
const missingPanels = REGISTRY.filter((id) => !fs.existsSync(path.join(REPO, 'web/js/panels', `${id}.js`)));
const realProblems = (problems, loads = 1) => {
  const p404 = problems.filter((p) => /Failed to load resource: the server responded with a status of 404/.test(p));
  assert.ok(p404.length <= missingPanels.length * loads, `404s beyond the ${missingPanels.length} missing panels: ${problems.join('\n')}`);
  return problems.filter((p) => !p404.includes(p));
};

const skip = chromiumMissing() || (IS_REFERENCE ? 'the reference ships a different inspector' : null);

test('the Inspector shell', { timeout: 180000, skip }, async (t) => {
  const srv = await startServer({ token: 'shell-T0ken' });
  const browser = await launchBrowser();
  const step = (name, fn) => t.test(name, async () => {
    try { await fn(); } catch (e) { throw annotate(e, srv); }
  });
  const url = (p) => srv.baseUrl + p;
  try {
    await step('files are served with their type, an ETag, no-cache and gzip when accepted', async () => {
      for (const [p, type] of [['/ui/', /^text\/html/], ['/ui/js/main.js', /^text\/javascript/],
        ['/ui/css/app.css', /^text\/css/], ['/ui/vendor/xterm.js', /^text\/javascript/], ['/ui/vendor/xterm.css', /^text\/css/]]) {
        const gz = await fetch(url(p), { headers: { 'accept-encoding': 'gzip' } });
        assert.equal(gz.status, 200, p);
        assert.match(gz.headers.get('content-type'), type, p);
        assert.equal(gz.headers.get('content-encoding'), 'gzip', p);
        assert.equal(gz.headers.get('cache-control'), 'no-cache', p);
        assert.match(gz.headers.get('vary'), /accept-encoding/i, p);
        const etag = gz.headers.get('etag');
        assert.match(etag, /^"[0-9a-f]{20}"$/, p);
        const text = await gz.text(); // fetch inflates
        // The same bytes without gzip (vendor/xterm.js is inflated on the thread pool).
        const id = await fetch(url(p), { headers: { 'accept-encoding': 'identity' } });
        assert.equal(id.headers.get('content-encoding'), null, p);
        const raw = Buffer.from(await id.arrayBuffer());
        assert.equal(raw.toString(), text, p);
        assert.equal(Number(id.headers.get('content-length')), raw.length, p);
        const nm = await fetch(url(p), { headers: { 'if-none-match': etag } });
        assert.equal(nm.status, 304, p);
        assert.equal(nm.headers.get('etag'), etag, p);
      }
      // The stored member really is gzip, and what it holds is the file in web/.
      const res = await fetch(url('/ui/js/main.js'), { headers: { 'accept-encoding': 'gzip' }, decompress: false });
      assert.ok(res.ok);
      const onDisk = fs.readFileSync(path.join(REPO, 'web/js/main.js'));
      const served = await (await fetch(url('/ui/js/main.js'))).arrayBuffer();
      assert.deepEqual(Buffer.from(served), onDisk);
      assert.ok(zlib.gzipSync(onDisk).length > 0);
      const miss = await fetch(url('/ui/js/panels/nope.js'));
      assert.equal(miss.status, 404);
      const route = await fetch(url('/ui/some/route'));
      assert.equal(route.status, 200);
      assert.match(await route.text(), /<title>Sandbox Agent Inspector<\/title>/);
    });

    const { page, context, problems } = await openPage(browser, url('/ui/?token=shell-T0ken'));
    await step('a token from ?token= reaches health ok and leaves the address bar', async () => {
      await page.locator('#health.ok').waitFor();
      assert.doesNotMatch(page.url(), /token/);
      assert.equal(await page.inputValue('#token'), 'shell-T0ken');
      assert.equal(await page.getAttribute('#token', 'type'), 'password');
    });

    await step('the token survives a reload (sessionStorage)', async () => {
      await page.reload();
      await page.locator('#health.ok').waitFor();
    });

    await step('tabs: one per loaded panel, by click and by hash; the default is session', async () => {
      const tabs = await page.locator('#tabs button[data-tab]').evaluateAll((bs) => bs.map((b) => b.dataset.tab));
      assert.deepEqual(tabs.filter((id) => !REGISTRY.includes(id)), []);
      for (const id of ['requests', 'agents']) assert.ok(tabs.includes(id), id);
      assert.equal(tabs.length, REGISTRY.length - missingPanels.length);
      const first = tabs.includes('session') ? 'session' : tabs[0];
      assert.match(page.url(), new RegExp(`#/${first}$`));
      await page.click('button[data-tab=agents]');
      await page.locator('#panel-agents:not([hidden])').waitFor();
      assert.match(page.url(), /#\/agents$/);
      assert.equal(await page.getAttribute('button[data-tab=agents]', 'aria-selected'), 'true');
      await page.evaluate(() => { location.hash = '#/requests'; });
      await page.locator('#panel-requests:not([hidden])').waitFor();
      assert.ok(await page.locator('#panel-agents').isHidden());
      // Keyboard: arrow keys move between tabs.
      await page.focus('button[data-tab=requests]');
      await page.keyboard.press('ArrowRight');
      await page.locator('#panel-agents:not([hidden])').waitFor();
    });

    await step('the agents panel shows 7 agents with capability badges', async () => {
      await page.goto(url('/ui/#/agents'));
      await page.waitForFunction(() => document.querySelectorAll('#agents tbody tr[data-agent]').length === 7);
      const ids = await page.locator('#agents tbody tr td:first-child').allTextContents();
      assert.deepEqual(ids, ['claude', 'codex', 'opencode', 'amp', 'pi', 'cursor', 'mock']);
      const mock = page.locator('#agents tr[data-agent=mock]');
      assert.match(await mock.textContent(), /builtin/);
      assert.match(await mock.locator('td').nth(2).textContent(), /yes/);
      assert.ok(await mock.locator('.badge[data-cap=toolCalls]').count() === 1);
      // What the server says, badge for badge.
      const res = await fetch(url('/v1/agents'), { headers: { authorization: 'Bearer shell-T0ken' } });
      const { agents } = await res.json();
      for (const a of agents) {
        const want = Object.entries(a.capabilities).filter(([, v]) => v === true).map(([k]) => k);
        const got = await page.locator(`#agents tr[data-agent=${a.id}] .badge`).allTextContents();
        assert.deepEqual(got, want, a.id);
      }
      // Reinstall the mock: a spinner, then the result.
      await mock.locator('button[data-install=mock]').click();
      await page.locator('#agResult', { hasText: 'mock: installed' }).waitFor();
      await mock.locator('button[data-install=mock]').waitFor();
      await artifact(page, 'agents');
    });

    await step('the requests panel lists calls and copies one as curl', async () => {
      await page.click('button[data-tab=requests]');
      const row = page.locator('#reqs tbody tr', { hasText: '/v1/agents/mock/install' }).first();
      await row.waitFor();
      assert.match(await row.textContent(), /POST/);
      assert.match(await row.textContent(), /200/);
      await row.click();
      await page.locator('#reqDetail .req-body', { hasText: 'reinstall' }).waitFor();
      assert.match(await page.locator('#reqDetail .req-headers').textContent(), /hidden/);
      assert.doesNotMatch(await page.locator('#reqDetail .req-headers').textContent(), /shell-T0ken/);
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.baseUrl });
      await page.click('#reqCurl');
      await page.locator('.toast', { hasText: 'curl command copied' }).waitFor();
      const curl = await page.evaluate(() => navigator.clipboard.readText());
      assert.match(curl, /^curl -sS -X POST '.*\/v1\/agents\/mock\/install'/);
      assert.match(curl, /Authorization: Bearer shell-T0ken/);
      assert.match(curl, /--data-binary '\{"reinstall":true\}'/);
      await artifact(page, 'requests');
      await page.click('#reqClear');
      await page.locator('#reqs tbody td.empty').waitFor();
      assert.deepEqual(realProblems(problems, 3), []); // opened, reloaded, opened at #/agents
    });
    await context.close();

    await step('a wrong token shows the unauthorized message', async () => {
      const { page: p, context: c, problems: probs } = await openPage(browser, url('/ui/?token=wrong'));
      await p.locator('#health.bad', { hasText: '401' }).waitFor();
      await p.locator('#connErr', { hasText: 'requires a token' }).waitFor();
      await artifact(p, 'shell');
      // Fixing it in the form connects.
      await p.fill('#token', 'shell-T0ken');
      await p.click('#apply');
      await p.locator('#health.ok').waitFor();
      assert.ok(await p.locator('#connErr').isHidden());
      // The 401s are console errors the browser logs for the failed calls themselves.
      assert.deepEqual(realProblems(probs).filter((x) => !/status of 401/.test(x)), []);
      await c.close();
    });

    await step('another endpoint: allowed by CORS it connects; refused, the message says CORS', async () => {
      const other = await startServer({ args: ['-O', srv.baseUrl] });
      const closed = await startServer({});
      try {
        const { page: p, context: c, problems: probs } = await openPage(browser, url('/ui/?token=shell-T0ken'));
        await p.locator('#health.ok').waitFor();
        await p.fill('#endpoint', other.baseUrl);
        await p.fill('#token', '');
        await p.click('#apply');
        await p.locator('#health.ok').waitFor();
        await p.click('button[data-tab=agents]');
        await p.waitForFunction(() => document.querySelectorAll('#agents tbody tr[data-agent]').length === 7);
        // The calls went to the other server: the request log shows its absolute URL in curl.
        await p.fill('#endpoint', closed.baseUrl);
        await p.click('#apply');
        await p.locator('#health.bad', { hasText: 'unreachable' }).waitFor();
        await p.locator('#connErr', { hasText: 'CORS' }).waitFor();
        // Back to this server.
        await p.fill('#endpoint', '');
        await p.fill('#token', 'shell-T0ken');
        await p.click('#apply');
        await p.locator('#health.ok').waitFor();
        // Refused cross-origin calls are console errors the browser logs itself.
        assert.deepEqual(realProblems(probs).filter((x) => !/CORS|Failed to fetch|ERR_FAILED/.test(x)), []);
        await c.close();
      } finally {
        await other.stop();
        await closed.stop();
      }
    });

    await step('phone width: no horizontal overflow', async () => {
      const { page: p, context: c, problems: probs } = await openPage(browser, url('/ui/?token=shell-T0ken#/agents'), { width: 360, height: 740 });
      await p.locator('#health.ok').waitFor();
      await p.waitForFunction(() => document.querySelectorAll('#agents tbody tr[data-agent]').length === 7);
      for (const id of ['agents', 'requests']) {
        await p.click(`button[data-tab=${id}]`);
        await p.locator(`#panel-${id}:not([hidden])`).waitFor();
        const over = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(over <= 0, `#/${id} overflows by ${over}px`);
      }
      await artifact(p, 'shell-phone');
      assert.deepEqual(realProblems(probs), []);
      await c.close();
    });
  } finally {
    await browser.close();
    await srv.stop();
  }
});
