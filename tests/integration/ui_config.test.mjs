// ui_config.test.mjs - the Inspector's MCP & Skills panel (/ui/#/config) in headless
// Chromium against our binary: add an MCP server in the editor and find it stored through
// the API, have invalid JSON and a schema error refused in the page with no PUT sent, see
// the server's own refusal shown, delete the entry; then a skills entry.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { startServer } from './lib/server.mjs';
import { artifact, chromiumMissing, launchBrowser, openPage, waitForProblems } from './lib/browser.mjs';

test('MCP & Skills panel: add, refuse invalid entries before sending, delete', { skip: chromiumMissing() || false }, async () => {
  const srv = await startServer();
  const browser = await launchBrowser();
  try {
    const base = srv.baseUrl;
    const home = fs.realpathSync(srv.home);
    const { page, problems } = await openPage(browser, `${base}/ui/#/config`);
    const panel = page.locator('#panel-config');
    const puts = [];
    page.on('request', (r) => { if (r.method() === 'PUT') puts.push(r.url()); });
    const getEntry = (kind, name) => fetch(`${srv.baseUrl}/v1/config/${kind}?directory=${encodeURIComponent(home)}&${kind === 'mcp' ? 'mcpName' : 'skillName'}=${name}`);

    // The directory defaults to the server's home (the test server's cwd too).
    await page.waitForFunction((h) => document.querySelector('#cfg-dir')?.value === h, home);
    await panel.locator('.cfg-list li', { hasText: 'no mcp servers' }).waitFor();

    // Invalid JSON: refused in the page, with line and column, and nothing sent.
    await panel.locator('#cfg-name').fill('fsrv');
    await panel.locator('#cfg-json').fill('{\n  "type": "local",\n  "command": "node"\n  "args": []\n}');
    await panel.locator('#cfg-save').click();
    await panel.locator('.cfg-status.err', { hasText: 'line 4 column 3' }).waitFor();
    assert.match(await panel.locator('.cfg-status').textContent(), /JSON error: expected ',' or '}'/);
    // The caret was put on the error.
    assert.equal(await panel.locator('#cfg-json').evaluate((t) => t.selectionStart), 43);

    // Valid JSON that the server's schema refuses: refused here too, in the server's words.
    await panel.locator('#cfg-json').fill('{"type": "local", "args": ["x"]}');
    await panel.locator('#cfg-save').click();
    await panel.locator('.cfg-status.err', { hasText: 'missing field `command`' }).waitFor();
    assert.deepEqual(puts, []);
    assert.equal((await getEntry('mcp', 'fsrv')).status, 404);

    // A valid entry is saved and listed; the API has it (normalised: stdio -> local).
    await panel.locator('#cfg-json').fill(JSON.stringify({ type: 'stdio', command: 'node', args: ['server.js'], env: { A: '1' }, timeoutMs: 5000, extra: true }, null, 2));
    await panel.locator('.cfg-warn', { hasText: 'extra: unknown member' }).waitFor();
    await panel.locator('.cfg-status.cfg-ok').waitFor();
    await panel.locator('#cfg-save').click();
    await panel.locator('.cfg-list li[data-name=fsrv]').waitFor();
    assert.equal(puts.length, 1);
    assert.match(await panel.locator('.cfg-list li[data-name=fsrv]').textContent(), /local: node server\.js/);
    const r = await getEntry('mcp', 'fsrv');
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { type: 'local', command: 'node', args: ['server.js'], env: { A: '1' }, timeoutMs: 5000 });

    // Edit loads the stored entry into the editor.
    await panel.locator('#cfg-json').fill('{}');
    await panel.locator('.cfg-list li[data-name=fsrv] [data-act=edit]').click();
    await page.waitForFunction(() => document.querySelector('#cfg-json').value.includes('"server.js"'));
    assert.equal(await panel.locator('#cfg-name').inputValue(), 'fsrv');
    await artifact(page, 'config');

    // Delete after a confirm: gone from the list and from the server.
    page.once('dialog', (d) => d.accept());
    await panel.locator('.cfg-list li[data-name=fsrv] [data-act=delete]').click();
    await panel.locator('.cfg-list li[data-name=fsrv]').waitFor({ state: 'detached' });
    assert.equal((await getEntry('mcp', 'fsrv')).status, 404);
    assert.deepEqual(problems, []);

    // The server's refusal is shown when it refuses what the page let through: a
    // directory under a regular file cannot be created.
    fs.writeFileSync(`${home}/plain`, 'x');
    await panel.locator('#cfg-dir').fill(`${home}/plain/sub`);
    await panel.locator('#cfg-load').click();
    await panel.locator('.cfg-list-err:not(.hidden)').waitFor();
    await panel.locator('.cfg-list-err:not(.hidden)', { hasText: 'not a directory' }).waitFor();
    await panel.locator('#cfg-name').fill('x');
    await panel.locator('#cfg-json').fill('{"type":"remote","url":"https://example.com/mcp"}');
    await panel.locator('#cfg-save').click();
    await panel.locator('.cfg-save-err:not(.hidden)').waitFor();
    assert.match(await panel.locator('.cfg-save-err').textContent(), /^HTTP \d{3} /);
    // Two failed loads were logged (the listing, then the PUT); wait for both before
    // clearing, or a late one would be counted against the skills step.
    await waitForProblems(page, problems, 2);
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.ok(problems.every((p) => /Failed to load resource: .* (400|5\d\d)/.test(p)), problems.join('\n'));
    problems.length = 0;

    // Skills: switch kind, save an entry, the API has it.
    await panel.locator('#cfg-dir').fill(home);
    await panel.locator('#cfg-load').click();
    await panel.locator('.cfg-kinds button[data-kind=skills]').click();
    await panel.locator('.cfg-list li', { hasText: 'no skills' }).waitFor();
    await panel.locator('#cfg-name').fill('sk');
    await panel.locator('#cfg-json').fill('{"sources": [{"type": "github"}]}');
    await panel.locator('#cfg-save').click();
    await panel.locator('.cfg-status.err', { hasText: 'sources[0]: missing field `source`' }).waitFor();
    const skills = { sources: [{ type: 'github', source: 'rivet-dev/skills', skills: ['sandbox-agent'], ref: 'main' }] };
    await panel.locator('#cfg-json').fill(JSON.stringify(skills));
    await panel.locator('#cfg-save').click();
    await panel.locator('.cfg-list li[data-name=sk]').waitFor();
    assert.deepEqual(await (await getEntry('skills', 'sk')).json(), skills);
    // The MCP list of the same directory still holds nothing.
    await panel.locator('.cfg-kinds button[data-kind=mcp]').click();
    await panel.locator('.cfg-list li', { hasText: 'no mcp servers' }).waitFor();
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await srv.stop();
  }
});
