// ui_processes.test.mjs - the Inspector's Processes and Run once panels (/ui/#/processes,
// /ui/#/run) in headless Chromium against a real server started with a token: a tty bash
// driven through the xterm.js terminal (output in the terminal and in the logs, resize
// with the pane checked by `stty size` inside the PTY), a pipe process's live logs and
// stdin, stop/kill/delete (with the server's 409 shown inline), the owner filter, and
// Run once (exit code, output, truncation, timeout). No console errors.
//
// Needs /usr/bin/chromium; without it the test is skipped. Waits are Playwright waits on
// page content; timeouts are safety nets only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServer, IS_REFERENCE } from './lib/server.mjs';
import { launchBrowser, openPage, artifact, chromiumMissing } from './lib/browser.mjs';

const TOKEN = 'tok-ui-proc';
const skip = chromiumMissing() || (IS_REFERENCE ? 'the reference serves its own inspector' : false);

/** The Inspector's URL for a panel; the token travels as ?token= like buildInspectorUrl's. */
const uiUrl = (srv, panel) => `${srv.baseUrl}/ui/?token=${TOKEN}#/${panel}`;

async function apiGet(srv, path) {
  const r = await fetch(srv.baseUrl + path, { headers: { Authorization: `Bearer ${TOKEN}` } });
  return { status: r.status, json: r.status === 200 ? await r.json() : null };
}

async function ptyText(srv, id) {
  const { json } = await apiGet(srv, `/v1/processes/${id}/logs?stream=pty`);
  return Buffer.concat(json.entries.map((e) => Buffer.from(e.data, 'base64'))).toString();
}

/** The xterm's visible rows as text (the DOM renderer draws one div per row). */
const termRows = (page) => page.$$eval('#procTerm .xterm-rows > div', (rows) => rows.map((r) => r.textContent.replace(/\u00a0/g, ' ').trimEnd()));

async function waitTermRow(page, re) {
  await page.waitForFunction((src) => {
    const r = new RegExp(src);
    return [...document.querySelectorAll('#procTerm .xterm-rows > div')].some((d) => r.test(d.textContent.replace(/\u00a0/g, ' ').trimEnd()));
  }, re.source);
  return (await termRows(page)).filter((l) => re.test(l));
}

/** Types a command line into the focused terminal. */
async function typeInTerm(page, line) {
  await page.click('#procTerm .xterm-screen');
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

async function createProcess(page, { command, args = '', env = '', tty = false }) {
  await page.fill('#procCmd', command);
  await page.fill('#procArgs', args);
  await page.fill('#procEnv', env);
  await page.setChecked('#procTty', tty);
  await page.click('#procCreateBtn');
  // The new process is selected: its id heads the detail card.
  await page.locator('#procDetail #procMeta').waitFor();
  const id = await page.locator('#procDetail .pp-head h2 .mono').first().textContent();
  assert.match(id, /^proc_\d+$/);
  return id;
}

test('Processes and Run once panels', { skip }, async (t) => {
  const srv = await startServer({ token: TOKEN });
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await srv.stop(); });
  const { page, problems } = await openPage(browser, uiUrl(srv, 'processes'), { width: 1400, height: 900 });
  await page.locator('#panel-processes #procCreate').waitFor();

  await t.test('a tty bash: typing in the terminal shows output there and in the logs', async () => {
    const id = await createProcess(page, { command: 'bash', args: '--norc --noprofile', env: 'PS1=$ ', tty: true });
    await page.locator('#procList tr[data-id="' + id + '"] .pp-status.running').waitFor();
    await page.waitForFunction(() => document.querySelector('#procTermState')?.textContent === 'connected');
    const mark = `marker-${Date.now() % 100000}`;
    // The quotes make the command line differ from its output, so the output row is exact.
    await typeInTerm(page, `echo "${mark.slice(0, 3)}""${mark.slice(3)}"`);
    const rows = await waitTermRow(page, new RegExp(`^${mark}$`));
    assert.equal(rows.length, 1);
    assert.doesNotMatch(await page.textContent('#procDetail'), /null|undefined/);
    await artifact(page, 'terminal');

    await page.click('#procTab-logs');
    await page.waitForFunction((m) => document.querySelector('#procLogs').textContent.split('\n').includes(m), mark);
    assert.ok((await ptyText(srv, id)).includes(`${mark}\r\n`), 'the server logged the output');
    await page.click('#procTab-terminal');

    // The PTY size follows the pane: what the page shows is what stty reports inside.
    const shown = async () => page.$eval('#procTermSize', (e) => [Number(e.dataset.cols), Number(e.dataset.rows)]);
    const [cols1, rows1] = await shown();
    assert.ok(cols1 > 80, `a wide pane gives more than 80 columns (${cols1})`);
    await typeInTerm(page, 'echo "SZ""=$(stty size)"');
    await waitTermRow(page, new RegExp(`^SZ=${rows1} ${cols1}$`));

    await page.setViewportSize({ width: 760, height: 700 });
    await page.waitForFunction((c) => Number(document.querySelector('#procTermSize').dataset.cols) < c, cols1);
    const [cols2, rows2] = await shown();
    await typeInTerm(page, 'clear; echo "SZ""=$(stty size)"');
    await waitTermRow(page, new RegExp(`^SZ=${rows2} ${cols2}$`));
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.waitForFunction((c) => Number(document.querySelector('#procTermSize').dataset.cols) === c, cols1);

    // Delete while running: the server's 409 shows inline and the record stays.
    await page.click('#procDelete');
    await page.locator('#procErr', { hasText: '409' }).waitFor();
    assert.match(await page.textContent('#procErr'), /still running/);
    assert.equal((await apiGet(srv, `/v1/processes/${id}`)).status, 200);

    // An interactive bash ignores SIGTERM: Stop says it is still running; Kill ends it.
    await page.click('#procStop');
    await page.locator('#procErr', { hasText: 'still running after' }).waitFor();
    await page.click('#procKill');
    await page.locator('#procStatus', { hasText: 'killed (signal)' }).waitFor();
    await page.waitForFunction(() => /exited/.test(document.querySelector('#procTermState').textContent));
    assert.equal((await apiGet(srv, `/v1/processes/${id}`)).json.status, 'exited');
    await page.click('#procDelete');
    await page.locator(`#procList tr[data-id="${id}"]`).waitFor({ state: 'detached' });
    assert.equal((await apiGet(srv, `/v1/processes/${id}`)).status, 404);
  });

  await t.test('a pipe process: live logs (stdout and stderr), stop, delete', async () => {
    const id = await createProcess(page, {
      command: 'sh',
      args: `-c 'echo "err-line" >&2; i=0; while true; do echo "tick-$i"; i=$((i+1)); sleep 0.2; done'`,
    });
    assert.equal(await page.locator('#procTerm').count(), 0, 'no terminal for a pipe process');
    await page.waitForFunction(() => /tick-0\n/.test(document.querySelector('#procLogs').textContent));
    // Lines that did not exist when the stream opened arrive live.
    await page.waitForFunction(() => /tick-6\n/.test(document.querySelector('#procLogs').textContent));
    assert.equal(await page.textContent('#procLogs .pp-log.stderr'), 'err-line\n');
    await page.selectOption('#procStream', 'stderr');
    await page.waitForFunction(() => document.querySelector('#procLogs').textContent === 'err-line\n');
    await page.selectOption('#procStream', 'combined');
    await page.waitForFunction(() => /tick-8\n/.test(document.querySelector('#procLogs').textContent));
    await artifact(page, 'processes');
    await page.click('#procStop');
    await page.locator('#procStatus', { hasText: 'killed (signal)' }).waitFor();
    assert.equal(await page.isDisabled('#procStop'), true);
    await page.click('#procDelete');
    await page.locator(`#procList tr[data-id="${id}"]`).waitFor({ state: 'detached' });
    assert.equal((await apiGet(srv, `/v1/processes/${id}`)).status, 404);
  });

  await t.test('stdin of a pipe process, exit code, owner filter', async () => {
    const id = await createProcess(page, { command: 'sh', args: `-c 'read l; echo "got:$l"; exit 7'` });
    await page.fill('#procInput', 'hello there');
    await page.press('#procInput', 'Enter');
    await page.waitForFunction(() => document.querySelector('#procLogs').textContent.includes('got:hello there\n'));
    await page.locator('#procStatus', { hasText: 'exited 7' }).waitFor();
    await page.locator(`#procList tr[data-id="${id}"] td:nth-child(6)`, { hasText: '7' }).waitFor();
    assert.equal((await apiGet(srv, `/v1/processes/${id}`)).json.exitCode, 7);
    await page.selectOption('#procOwner', 'desktop');
    await page.locator('#procList td.empty', { hasText: 'No processes.' }).waitFor();
    await page.selectOption('#procOwner', 'user');
    await page.locator(`#procList tr[data-id="${id}"]`).waitFor();
  });

  await t.test('bad input is refused inline', async () => {
    await page.fill('#procCmd', 'definitely-not-a-command-xyz');
    await page.fill('#procArgs', '');
    await page.fill('#procEnv', '');
    await page.setChecked('#procTty', false);
    await page.click('#procCreateBtn');
    await page.locator('#procCreateErr', { hasText: 'HTTP 502' }).waitFor();
    await page.fill('#procArgs', `'unclosed`);
    assert.equal(await page.textContent('#procArgv'), 'unclosed single quote');
  });

  await t.test('Run once: exit code and output, truncation, timeout', async () => {
    await page.click('button[data-tab=run]');
    await page.locator('#panel-run #runForm').waitFor();
    await page.fill('#runCmd', 'sh');
    await page.fill('#runArgs', `-c 'echo out-1; echo err-2 >&2; exit 3'`);
    await page.click('#runBtn');
    await page.locator('#runExit', { hasText: '3' }).waitFor();
    assert.equal(await page.textContent('#run-stdout'), 'out-1\n');
    assert.equal(await page.textContent('#run-stderr'), 'err-2\n');
    assert.equal(await page.locator('#runMeta .badge').count(), 0);
    await artifact(page, 'run');

    await page.fill('#runArgs', `-c 'echo 0123456789'`);
    await page.fill('#runCap', '4');
    await page.click('#runBtn');
    await page.locator('#runMeta .badge', { hasText: 'stdout truncated' }).waitFor();
    assert.equal(await page.textContent('#run-stdout'), '0123');
    assert.equal(await page.textContent('#runExit'), '0');

    await page.fill('#runCmd', 'sleep');
    await page.fill('#runArgs', '5');
    await page.fill('#runCap', '');
    await page.fill('#runTimeout', '300');
    await page.click('#runBtn');
    await page.locator('#runMeta .badge', { hasText: 'timed out' }).waitFor();
    assert.match(await page.textContent('#runExit'), /timed out/);
    const ms = Number((await page.textContent('#runDuration')).replace(/\D/g, ''));
    assert.ok(ms >= 250 && ms < 4000, `killed at the timeout (${ms} ms)`);
  });

  // Chromium logs every non-2xx fetch; these two were provoked above (delete while running,
  // a command that does not exist) and must be the only ones.
  assert.deepEqual(problems.filter((p) => !/Failed to load resource: .*status of (409|502)/.test(p)), []);
  assert.equal(problems.length, 2, problems.join('\n'));
});
