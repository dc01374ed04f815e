// /opencode with a scripted stand-in ACP agent (a shell script installed as the `pi`
// adapter launcher, as in acp_fake_agent.test.mjs), for what our mock does not do: an agent
// question answered and rejected through the question routes, a turn that sends no update
// at all (it still ends, Q19), and a turn longer than the bridge's request timeout (it ends
// when the agent answers, Q21).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as nodeTest from 'node:test';
import { createOpencodeClient } from '@opencode-ai/sdk';
import { createOpencodeClient as createV2 } from '@opencode-ai/sdk/v2';
import { IS_REFERENCE, sharedServer, waitFor } from './lib/server.mjs';
import { listen } from './lib/opencode.mjs';

const { describe } = nodeTest;
const skip = IS_REFERENCE ? 'tests fixes of reference quirks' : false;
// The bridge times requests out after 400 ms: the "long" turn takes 1.5 s.
const S = sharedServer(nodeTest, { env: { SANDBOX_AGENT_ACP_REQUEST_TIMEOUT_MS: '400' } });

const SCRIPT = String.raw`#!/bin/sh
dir="$(dirname "$0")/fake-agent"
mkdir -p "$dir"
chunk() { echo '{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"fq","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"'"$1"'"}}}}'; }
done_prompt() { echo '{"jsonrpc":"2.0","id":"'"$1"'","result":{"stopReason":"end_turn"}}'; }
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  case "$line" in
    *'"method":"initialize"'*) echo '{"jsonrpc":"2.0","id":"'"$id"'","result":{"protocolVersion":1,"agentCapabilities":{}}}' ;;
    *'"method":"session/new"'*) echo '{"jsonrpc":"2.0","id":"'"$id"'","result":{"sessionId":"fq"}}' ;;
    *'"method":"session/prompt"'*)
      case "$line" in
        *question*) echo "$id" > "$dir/prompt-id"
          echo '{"jsonrpc":"2.0","id":"q-1","method":"_sandboxagent/session/request_question","params":{"sessionId":"fq","questions":[{"question":"Pick one","header":"Q","options":[{"label":"Yes","description":"y"},{"label":"No","description":"n"}]}]}}' ;;
        *silent*) done_prompt "$id" ;;
        *long*) sleep 1.5; chunk "finally"; done_prompt "$id" ;;
        *) chunk "fake says hi"; done_prompt "$id" ;;
      esac ;;
    *'"id":"q-1"'*)
      case "$line" in
        *Yes*) chunk "got Yes" ;;
        *rejected*) chunk "got rejected" ;;
        *) chunk "got something else" ;;
      esac
      done_prompt "$(cat "$dir/prompt-id")" ;;
  esac
done
`;

function installFake(srv) {
  const ap = path.join(srv.home, '.local/share/sandbox-agent/bin/agent_processes');
  fs.mkdirSync(ap, { recursive: true });
  fs.writeFileSync(path.join(ap, 'pi-acp'), SCRIPT, { mode: 0o755 });
}

const base = (srv) => `${srv.baseUrl}/opencode`;

const PI = { providerID: 'pi', modelID: 'default' };
const textOf = (r) => r.data.parts.filter((p) => p.type === 'text').map((p) => p.text).join('');

describe('opencode with a scripted agent', { skip }, () => {
  S.test('the provider runs that agent; a plain turn', async (srv) => {
    installFake(srv);
    const c = createOpencodeClient({ baseUrl: base(srv) });
    const s = (await c.session.create({ body: {} })).data;
    const r = await c.session.prompt({ path: { id: s.id }, body: { model: PI, parts: [{ type: 'text', text: 'hello' }] } });
    assert.equal(r.response.status, 200, JSON.stringify(r.error));
    assert.equal(textOf(r), 'fake says hi');
    const got = (await c.session.get({ path: { id: s.id } })).data;
    assert.deepEqual([got.agent, got.providerID, got.model], ['pi', 'pi', 'default']);
  });

  S.test('questions: asked, listed, answered and rejected back to the agent', async (srv) => {
    installFake(srv);
    const c = createOpencodeClient({ baseUrl: base(srv) });
    const v2 = createV2({ baseUrl: base(srv) });
    const ev = await listen(srv);
    try {
      const s = (await c.session.create({ body: {} })).data;
      const pending = c.session.prompt({ path: { id: s.id }, body: { model: PI, parts: [{ type: 'text', text: 'question' }] } });
      const asked = await ev.wait((e) => e.type === 'question.asked' && e.properties.sessionID === s.id, 'question.asked');
      assert.match(asked.properties.id, /^q_/);
      assert.equal(asked.properties.questions[0].question, 'Pick one');
      assert.deepEqual((await v2.question.list()).data.map((q) => q.id), [asked.properties.id]);
      assert.equal((await v2.question.reply({ requestID: asked.properties.id, answers: [['Yes']] })).data, true);
      const r = await pending;
      assert.equal(textOf(r), 'got Yes');
      const replied = ev.events.find((e) => e.type === 'question.replied');
      assert.deepEqual(replied.properties, { answers: [['Yes']], requestID: asked.properties.id, sessionID: s.id });
      assert.deepEqual((await v2.question.list()).data, []);

      const pending2 = c.session.prompt({ path: { id: s.id }, body: { parts: [{ type: 'text', text: 'question two' }] } });
      const asked2 = await ev.wait((e) => e.type === 'question.asked' && e.properties.id !== asked.properties.id, 'second question');
      assert.equal((await v2.question.reject({ requestID: asked2.properties.id })).data, true);
      assert.equal(textOf(await pending2), 'got rejected');
      assert.ok(ev.events.some((e) => e.type === 'question.rejected' && e.properties.requestID === asked2.properties.id));
      const unknown = await v2.question.reply({ requestID: 'q_none', answers: [] });
      assert.equal(unknown.response.status, 404);
    } finally {
      await ev.close();
    }
  });

  S.test('a turn with no update ends on the answer; a turn longer than the request timeout too', async (srv) => {
    installFake(srv);
    const c = createOpencodeClient({ baseUrl: base(srv) });
    const s = (await c.session.create({ body: {} })).data;
    const silent = await c.session.prompt({ path: { id: s.id }, body: { model: PI, parts: [{ type: 'text', text: 'silent' }] } });
    assert.equal(silent.response.status, 200, JSON.stringify(silent.error));
    assert.deepEqual(silent.data.parts, []);
    assert.ok(silent.data.info.time.completed);
    const long = await c.session.prompt({ path: { id: s.id }, body: { parts: [{ type: 'text', text: 'long' }] } });
    assert.equal(long.response.status, 200, JSON.stringify(long.error));
    assert.equal(textOf(long), 'finally');
    assert.deepEqual((await c.session.status()).data[s.id], { type: 'idle' });
  });
});
