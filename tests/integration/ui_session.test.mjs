// ui_session.test.mjs - the Inspector's Sessions and Events panels in headless Chromium
// against a real server and the built-in mock agent: create, prompt (markdown, thoughts,
// plan, tool), attachments, a permission, cancel, a session an SDK client created (its
// journal, then a REST prompt that resumes it), delete, and the events of both directions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServer, annotate } from './lib/server.mjs';
import { launchBrowser, openPage, artifact, chromiumMissing, sendPrompt, stopReason } from './lib/browser.mjs';
import { withSdk, text } from './lib/sdk.mjs';

// A 1x1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwADAgH/eL9GtQAAAABJRU5ErkJggg==', 'base64');

test('inspector sessions and events panels', { timeout: 240000 }, async (t) => {
  const skip = chromiumMissing();
  if (skip) { t.skip(skip); return; }
  const srv = await startServer();
  const browser = await launchBrowser();
  const step = (name, fn) => t.test(name, async () => {
    try { await fn(); } catch (e) { throw annotate(e, srv); }
  });
  const getJson = async (p) => (await fetch(srv.baseUrl + p)).json();
  try {
    const { page, problems } = await openPage(browser, `${srv.baseUrl}/ui/#/session`);
    let sessionId, serverId;

    await step('a new mock session shows its server, session and one mode picker', async () => {
      await page.locator('button[data-tab=session]').waitFor();
      await page.locator('#agentSel option[value=mock]').waitFor({ state: 'attached' });
      await page.selectOption('#agentSel', 'mock');
      await page.selectOption('#newModel', 'mock-fast');
      await page.click('#newSess');
      await page.locator('#send:not([disabled])').waitFor();
      serverId = await page.locator('#sessInfo b').first().textContent();
      sessionId = await page.locator('#sessionId').textContent();
      assert.match(serverId, /^ui-mock-[0-9a-f]+$/);
      assert.equal(await page.locator('#modeSel').count(), 1, 'one mode picker');
      assert.equal(await page.locator('#opts select[data-config=mode]').count(), 1, 'the mode picker is the mode option');
      assert.equal(await page.locator('#modeSel').inputValue(), 'normal');
      await page.waitForFunction(() => document.querySelector('select[data-config=model]')?.value === 'mock-fast');
      await page.locator(`#servers tr[data-server="${serverId}"]`, { hasText: 'current' }).waitFor();
      await page.locator(`.sess-item[data-session="${sessionId}"]`).waitFor();
      const s = await getJson(`/v1/sessions/${sessionId}`);
      assert.equal(s.serverId, serverId);
      assert.equal(s.agent, 'mock');
      assert.equal(s.configOptions.find((o) => o.id === 'model').currentValue, 'mock-fast');
    });

    await step('a prompt shows thoughts, a plan, a tool card and the agent text as markdown', async () => {
      const turn = await sendPrompt(page, 'hello think plan tool with **bold** and `code <b>`');
      assert.equal(await stopReason(turn), 'end_turn');
      const agent = turn.locator('.msg.agent');
      assert.equal(await agent.count(), 1);
      assert.equal(await agent.locator('strong').textContent(), 'bold');
      assert.equal(await agent.locator('code').textContent(), 'code <b>');
      assert.equal(await agent.locator('b').count(), 0, 'no HTML from the text');
      assert.match(await turn.locator('details.thought').textContent(), /Thinking about the request/);
      assert.deepEqual(await turn.locator('.plan li').evaluateAll((els) => els.map((e) => e.dataset.status)), ['completed', 'completed', 'completed']);
      assert.equal(await turn.locator('.tool').getAttribute('data-status'), 'completed');
      assert.match(await turn.locator('.tool .tcontent').textContent(), /hello from the mock tool/);
      await page.locator(`.sess-item[data-session="${sessionId}"]`, { hasText: 'hello think plan tool' }).waitFor();
      await artifact(page, 'session');
    });

    await step('attachments: an image and a text file go as image and resource blocks', async () => {
      await page.setInputFiles('#attachIn', [
        { name: 'dot.png', mimeType: 'image/png', buffer: PNG },
        { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('some notes\n') },
      ]);
      await page.locator('#attachList .chip', { hasText: 'notes.txt' }).waitFor();
      assert.equal(await page.locator('#attachList .chip').count(), 2);
      const turn = await sendPrompt(page, 'see attached');
      assert.equal(await stopReason(turn), 'end_turn');
      const src = await turn.locator('.msg.user img.thumb').getAttribute('src');
      assert.equal(src, 'data:image/png;base64,' + PNG.toString('base64'));
      await turn.locator('.msg.user .chip', { hasText: 'notes.txt' }).waitFor();
      const said = await turn.locator('.msg.agent').textContent();
      assert.match(said, /Received an image/);
      assert.match(said, /Embedded resource: .*notes\.txt/);
      assert.equal(await page.locator('#attachList .chip').count(), 0, 'sent attachments are cleared');
    });

    await step('a permission is answered inline and the tool proceeds', async () => {
      const turn = await sendPrompt(page, 'please ask permission');
      const card = turn.locator('.perm');
      await card.locator('button[data-option=allow-once]').click();
      assert.equal(await stopReason(turn), 'end_turn');
      assert.equal(await card.getAttribute('data-state'), 'answered');
      assert.match(await card.locator('.ans').textContent(), /Allow once/);
      assert.equal(await turn.locator('.tool').getAttribute('data-status'), 'completed');
      assert.match(await turn.locator('.msg.agent').textContent(), /Permission granted \(allow-once\)/);
    });

    await step('Cancel ends a slow turn as cancelled', async () => {
      const turn = await sendPrompt(page, 'go slow');
      await turn.locator('.msg.agent', { hasText: 'Slow chunk 1 of 20' }).waitFor();
      await page.click('#cancel');
      assert.equal(await stopReason(turn), 'cancelled');
      assert.doesNotMatch(await turn.locator('.msg.agent').textContent(), /Slow chunk 20 of 20/);
    });

    await step('mode and config pickers round-trip', async () => {
      await page.selectOption('#modeSel', 'plan');
      await page.locator('#chat .sys', { hasText: 'mode → plan' }).waitFor();
      await page.selectOption('select[data-config=thought_level]', 'high');
      await page.locator('#chat .sys', { hasText: 'thought_level → high' }).waitFor();
      assert.equal(await page.locator('#modeSel').inputValue(), 'plan');
    });

    await step('the events panel shows envelopes in both directions, with a filter', async () => {
      await page.click('button[data-tab=events]');
      const rows = page.locator('#evList .ev');
      await rows.first().waitFor();
      const out = await page.locator('#evList .ev[data-dir=out] .em').allTextContents();
      const inb = await page.locator('#evList .ev[data-dir=in] .em').allTextContents();
      for (const m of ['initialize', 'session/new', 'session/prompt', 'session/set_mode', 'session/cancel', 'result #0']) assert.ok(out.includes(m), `sent: ${m} in ${out.join('|')}`);
      for (const m of ['session/update · agent_message_chunk', 'session/request_permission', 'session/update · plan']) assert.ok(inb.includes(m), `received: ${m}`);
      assert.equal(Number(await page.locator('#evCount').textContent()), await rows.count());
      await rows.first().locator('.evtoggle').click();
      assert.match(await rows.first().locator('.evjson').textContent(), /"method": "initialize"/);
      await page.fill('#evFilter', 'request_permission');
      await page.waitForFunction(() => [...document.querySelectorAll('#evList .ev')].filter((e) => !e.classList.contains('hidden')).length <= 3);
      const visible = await page.locator('#evList .ev:not(.hidden) .em').allTextContents();
      assert.ok(visible.length >= 1 && visible.every((l) => l === 'session/request_permission' || l.startsWith('result')), visible.join('|'));
      await page.fill('#evFilter', '');
      await artifact(page, 'events');
      await page.click('button[data-tab=session]');
    });

    await step('closing the session closes its server; the list shows it ended', async () => {
      await page.click('#endSess');
      await page.locator(`#servers tr[data-server="${serverId}"]`).waitFor({ state: 'detached' });
      await page.locator(`.sess-item[data-session="${sessionId}"] .st`, { hasText: 'ended' }).waitFor();
      assert.ok(await page.locator('#send').isDisabled());
    });

    let sdkId;
    await step('a session an SDK client created shows its history, and a prompt from the page resumes it', async () => {
      await withSdk(srv, {}, async (sdk) => {
        const s = await sdk.createSession({ agent: 'mock', cwd: srv.home });
        sdkId = s.agentSessionId;
        assert.equal((await s.prompt(text('sdk says hello, plan it'))).stopReason, 'end_turn');
      });
      // disposed: the session is ended; the index keeps it.
      await page.click('#sessRefresh');
      await page.locator(`.sess-item[data-session="${sdkId}"]`).click();
      const turn = page.locator('#chat .turn').first();
      await turn.locator('.msg.user', { hasText: 'sdk says hello, plan it' }).waitFor();
      await turn.locator('.msg.agent', { hasText: 'Mock response to: sdk says hello, plan it' }).waitFor();
      assert.equal(await stopReason(turn), 'end_turn');
      assert.equal(await turn.locator('.plan li').count(), 3);
      assert.equal(await page.locator('#sessionId').textContent(), sdkId);
      await page.locator('#sessInfo .st', { hasText: 'ended' }).waitFor();
      assert.equal(await page.locator('#send').textContent(), 'Resume');
      // The REST API continues it (session/load on a fresh instance); the follow shows the turn.
      const next = await sendPrompt(page, 'and from the page');
      await next.locator('.msg.agent', { hasText: 'Mock response to: and from the page' }).waitFor();
      assert.equal(await stopReason(next), 'end_turn');
      const s = await getJson(`/v1/sessions/${sdkId}`);
      assert.equal(s.status, 'active');
      assert.match(s.serverId, /^rest-/);
    });

    await step('a REST-driven session answers permissions through the REST API', async () => {
      const turn = await sendPrompt(page, 'permission over rest');
      await turn.locator('.perm button[data-option=allow-once]').click();
      await turn.locator('.msg.agent', { hasText: 'Permission granted (allow-once)' }).waitFor();
      assert.equal(await stopReason(turn), 'end_turn');
    });

    await step('delete removes the session from the server and the list', async () => {
      page.once('dialog', (d) => d.accept()); // the REST instance is active: the page confirms ?force
      await page.click('#delSess');
      await page.locator(`.sess-item[data-session="${sdkId}"]`).waitFor({ state: 'detached' });
      assert.equal((await fetch(`${srv.baseUrl}/v1/sessions/${sdkId}`)).status, 404);
    });

    await step('filters narrow the list', async () => {
      await page.locator(`.sess-item[data-session="${sessionId}"]`).waitFor();
      await page.fill('#sessFilter', 'no such session anywhere');
      await page.locator(`.sess-item[data-session="${sessionId}"]`).waitFor({ state: 'detached' });
      await page.fill('#sessFilter', 'hello think');
      await page.locator(`.sess-item[data-session="${sessionId}"]`).waitFor();
      await page.selectOption('#sessStatus', 'active');
      await page.locator(`.sess-item[data-session="${sessionId}"]`).waitFor({ state: 'detached' });
      await page.selectOption('#sessStatus', '');
      await page.fill('#sessFilter', '');
    });

    await step('no console errors', async () => {
      assert.deepEqual(problems, []);
    });
  } finally {
    await browser.close();
    await srv.stop();
  }
});
