// A user's own ACP agent at an agent's launcher path (docs/agents.md, "Your own agent"): the
// server runs it as it is and never rewrites it. Here a small Node ACP agent of ours stands
// in for the mock at $XDG_DATA_HOME/sandbox-agent/bin/agent_processes/mock-acp, driven through
// the official SDK.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { withServer, waitFor } from './lib/server.mjs';
import { request } from './lib/http.mjs';
import { withSdk, collect, text } from './lib/sdk.mjs';

// A complete (if tiny) ACP agent: initialize, session/new, session/prompt with a streamed
// message chunk, session/cancel. It records its pid and every method it saw.
const AGENT = String.raw`#!/usr/bin/env node
const fs = require('node:fs');
const path = require('node:path');
const dir = path.join(path.dirname(process.argv[1]), 'custom-agent');
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'pid'), String(process.pid));
const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
let n = 0;
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    fs.appendFileSync(path.join(dir, 'methods'), (m.method ?? 'response') + '\n');
    if (m.method === 'initialize') send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: 1, agentCapabilities: {}, authMethods: [] } });
    else if (m.method === 'session/new') send({ jsonrpc: '2.0', id: m.id, result: { sessionId: 'custom-' + ++n } });
    else if (m.method === 'session/prompt') {
      const said = m.params.prompt.map((p) => p.text).join(' ');
      send({ jsonrpc: '2.0', method: 'session/update', params: { sessionId: m.params.sessionId, update: { sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: 'custom agent heard: ' + said } } } });
      send({ jsonrpc: '2.0', id: m.id, result: { stopReason: 'end_turn' } });
    } else if (m.id !== undefined && m.method) send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'no ' + m.method } });
  }
});
process.stdin.on('end', () => process.exit(0));
`;

describe('a custom agent at the launcher path', () => {
  test('the mock launcher placed by the user is run as is through the SDK, and never rewritten', () =>
    withServer({}, async (srv) => {
      const ap = path.join(srv.home, '.local/share/sandbox-agent/bin/agent_processes');
      fs.mkdirSync(ap, { recursive: true });
      const launcher = path.join(ap, 'mock-acp');
      fs.writeFileSync(launcher, AGENT, { mode: 0o755 });
      const before = fs.statSync(launcher);

      await withSdk(srv, {}, async (sdk) => {
        const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
        assert.equal(session.agentSessionId, 'custom-1');
        const events = collect(session);
        const res = await session.prompt(text('hello custom'));
        assert.equal(res.stopReason, 'end_turn');
        await events.until((c) => c.text() === 'custom agent heard: hello custom', 'the custom agent reply');
      });

      assert.equal(fs.readFileSync(launcher, 'utf8'), AGENT, 'the launcher is not rewritten');
      const after = fs.statSync(launcher);
      assert.equal(after.ino, before.ino, 'the same file, not a replacement');
      assert.equal(after.mtimeMs, before.mtimeMs);
      const methods = fs.readFileSync(path.join(ap, 'custom-agent/methods'), 'utf8').trim().split('\n');
      assert.deepEqual(methods.slice(0, 3), ['initialize', 'session/new', 'session/prompt']);
      const info = (await request(srv, 'GET', '/v1/agents/mock')).json();
      assert.equal(info.installed, true);
      await waitFor(() => srv.descendants().length === 0, { what: 'the custom agent to exit after dispose' });
    }));

  test('without a file there, the built-in mock launcher is written once and then reused', () =>
    withServer({}, async (srv) => {
      const launcher = path.join(srv.home, '.local/share/sandbox-agent/bin/agent_processes/mock-acp');
      assert.equal(fs.existsSync(launcher), false);
      await withSdk(srv, {}, async (sdk) => {
        const s = await sdk.createSession({ agent: 'mock', cwd: srv.home });
        assert.equal((await s.prompt(text('hi'))).stopReason, 'end_turn');
      });
      const first = fs.statSync(launcher);
      assert.match(fs.readFileSync(launcher, 'utf8'), /mock-agent-process/);
      await withSdk(srv, {}, async (sdk) => {
        const s = await sdk.createSession({ agent: 'mock', cwd: srv.home });
        assert.equal((await s.prompt(text('hi'))).stopReason, 'end_turn');
      });
      const second = fs.statSync(launcher);
      assert.equal(second.ino, first.ino, 'a second launch does not replace the launcher');
      assert.equal(second.mtimeMs, first.mtimeMs);
    }));
});
