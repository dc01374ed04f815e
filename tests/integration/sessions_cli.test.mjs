// `sandbox-agent api sessions create|list|show|send|events|reply|cancel|delete`
// (docs/cli.md, docs/sessions.md) driving the mock agent through a running server: the
// readable forms and --json, a turn streamed as it runs (text, thoughts, tools, plans),
// a permission request answered by `reply` from another CLI process while `send` streams,
// cancel, the event listing and its SSE follow, delete, problems and exit codes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as nodeTest from 'node:test';
import { IS_REFERENCE, sharedServer, waitFor, freePort } from './lib/server.mjs';
import { request, acpPost, initializeMsg } from './lib/http.mjs';
import { startCli } from './lib/cli.mjs';

const { after, describe } = nodeTest;
const skip = IS_REFERENCE ? 'the session routes and their CLI are ours' : false;
const S = sharedServer(nodeTest);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-sessions-cli-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const start = (args, { stdin } = {}) => startCli(args, { stdin, cwd: tmp, env: { HOME: tmp, NO_COLOR: '' } });
const run = (args, opts) => start(args, opts).done;
const cli = (srv, ...args) => ['api', 'sessions', ...args, '-e', srv.baseUrl];

async function ok(args, opts) {
  const r = await run(args, opts);
  assert.equal(r.status, 0, `${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

async function fails(args, status, stderrPattern) {
  const r = await run(args);
  assert.equal(r.status, status, `${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  if (stderrPattern) assert.match(r.stderr, stderrPattern);
  return r;
}

/** A new REST session of the mock agent; its id. */
async function create(srv, ...extra) {
  const r = await ok(cli(srv, 'create', '--agent', 'mock', '--cwd', srv.home, ...extra));
  const id = r.stdout.trim();
  assert.match(id, /^\S+$/, 'one id on stdout');
  return id;
}

const ndjson = (text) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('api sessions: create, list, show', { skip }, () => {
  S.test('create prints the id (a summary on stderr); --json the session', async (srv) => {
    let r = await ok(cli(srv, 'create', '--agent', 'mock', '--cwd', srv.home));
    const id = r.stdout.trim();
    assert.match(r.stderr, new RegExp(`^created session ${id}: agent mock, cwd ${srv.home}, mode normal, model mock, ACP server rest-`, 'm'));
    r = await ok(cli(srv, 'create', '--agent', 'mock', '--cwd', srv.home, '--mode', 'plan', '--json'));
    const s = JSON.parse(r.stdout);
    assert.equal(s.agent, 'mock');
    assert.equal(s.status, 'active');
    assert.equal(s.origin, 'rest');
    assert.equal(s.modes.currentModeId, 'plan', '--mode was applied');
    assert.notEqual(s.id, id);
  });

  S.test('list: a table, filters, pages and --all; --json the body', async (srv) => {
    const a = await create(srv);
    const b = await create(srv);
    let r = await ok(cli(srv, 'list'));
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^ID\s+AGENT\s+STATUS\s+CREATED\s+TITLE$/);
    for (const id of [a, b]) assert.match(r.stdout, new RegExp(`^${id}\\s+mock\\s+active\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+-$`, 'm'));
    assert.doesNotMatch(r.stdout, /\x1b\[/, 'no colours into a pipe');

    r = await ok(cli(srv, 'list', '--json', '--agent', 'mock', '--status', 'active'));
    const body = JSON.parse(r.stdout);
    const ids = body.items.map((s) => s.id);
    assert.ok(ids.includes(a) && ids.includes(b));
    assert.ok(body.items.every((s) => s.agent === 'mock' && s.status === 'active'));
    r = await ok(cli(srv, 'list', '--json', '--status', 'ended'));
    assert.ok(!JSON.parse(r.stdout).items.some((s) => s.id === a), 'filtered by status');

    const total = body.items.length;
    r = await ok(cli(srv, 'list', '--limit', '1'));
    assert.equal(r.stdout.trimEnd().split('\n').length, 2, 'the header and one session');
    const cursor = /^more sessions: --cursor (\S+) \(or --all\)$/m.exec(r.stderr)?.[1];
    assert.ok(cursor, r.stderr);
    r = await ok(cli(srv, 'list', '--limit', '1', '--cursor', cursor, '--json'));
    assert.equal(JSON.parse(r.stdout).items.length, 1);
    assert.notEqual(JSON.parse(r.stdout).items[0].id, JSON.parse((await ok(cli(srv, 'list', '--limit', '1', '--json'))).stdout).items[0].id);
    r = await ok(cli(srv, 'list', '--limit', '1', '--all', '--json', '--status', 'active'));
    assert.deepEqual(JSON.parse(r.stdout).items.map((s) => s.id), ids, '--all follows nextCursor to the end');
    assert.equal(JSON.parse(r.stdout).items.length, total);

    await fails(cli(srv, 'list', '--limit', 'x'), 2, /invalid value 'x' for '--limit <LIMIT>'/);
    await fails(cli(srv, 'list', '--status', 'bogus'), 2, /possible values: active, ended, agent_exited/);
  });

  S.test('show: readable and --json; the SDK local id is not needed, the ACP id works', async (srv) => {
    const id = await create(srv);
    let r = await ok(cli(srv, 'show', id));
    assert.match(r.stdout, new RegExp(`^id:\\s+${id}$`, 'm'));
    assert.match(r.stdout, /^agent:\s+mock$/m);
    assert.match(r.stdout, /^status:\s+active$/m);
    assert.match(r.stdout, new RegExp(`^cwd:\\s+${srv.home}$`, 'm'));
    assert.match(r.stdout, /^origin:\s+rest$/m);
    assert.match(r.stdout, /^mode:\s+normal \(available: normal plan\)$/m);
    r = await ok(cli(srv, 'show', id, '--json'));
    assert.equal(JSON.parse(r.stdout).id, id);
    await fails(cli(srv, 'show', 'no-such-session'), 1, /^error: .*\(HTTP 404\)/m);
    await fails(cli(srv, 'show'), 2, /required arguments were not provided:\n {2}<ID>/);
  });

  S.test('create: problems and usage errors', async (srv) => {
    await fails(cli(srv, 'create', '--agent', 'no-such-agent'), 1, /^error: .*\(HTTP 404\)/m);
    await fails(cli(srv, 'create'), 2, /--agent <AGENT>/);
    const port = await freePort();
    await fails(['api', 'sessions', 'list', '-e', `http://127.0.0.1:${port}`], 1, /cannot connect to .*connection refused/);
  });
});

describe('api sessions send', { skip }, () => {
  S.test('streams the turn readably: thoughts, plan, tool call, text, stop reason; the title is the prompt', async (srv) => {
    const id = await create(srv);
    const r = await ok(cli(srv, 'send', id, 'think plan tool: hello there'));
    const out = r.stdout;
    assert.match(out, /^thinking: .+$/m, 'thoughts on their own line');
    assert.match(out, /^\[plan\] \d+ entries$/m);
    assert.match(out, /^ {2}- \[\w+\] .+$/m, 'plan entries');
    assert.match(out, /^\[tool\] .+ \(\w+\): pending$/m, 'the tool call');
    assert.match(out, /^\[tool\] .+: completed/m, 'its update');
    assert.match(out, /Mock response to: think plan tool: hello there/);
    assert.match(out, /\[end of turn: end_turn\]\n$/);
    assert.ok(out.indexOf('thinking:') < out.indexOf('[plan]') && out.indexOf('[plan]') < out.indexOf('[tool]'), 'in the order they came');
    assert.doesNotMatch(out, /\x1b\[/);
    const s = JSON.parse((await ok(cli(srv, 'show', id, '--json'))).stdout);
    assert.equal(s.title, 'think plan tool: hello there');
  });

  S.test('--json: one SSE data object per line, the turn end last; the text may come from stdin', async (srv) => {
    const id = await create(srv);
    const r = await ok(cli(srv, 'send', id, '-', '--json'), { stdin: 'from stdin, with "quotes"\n' });
    const lines = ndjson(r.stdout);
    const end = lines.at(-1);
    assert.deepEqual(end, { stopReason: 'end_turn' });
    const events = lines.slice(0, -1);
    assert.ok(events.length > 0);
    for (const e of events) {
      assert.equal(e.sessionId, id);
      assert.ok(['client', 'agent'].includes(e.sender));
      assert.equal(e.payload.jsonrpc, '2.0');
    }
    const idx = events.map((e) => e.eventIndex);
    assert.deepEqual(idx, [...idx].sort((a, b) => a - b), 'in eventIndex order');
    const text = events
      .filter((e) => e.payload.method === 'session/update' && e.payload.params.update.sessionUpdate === 'agent_message_chunk')
      .map((e) => e.payload.params.update.content.text)
      .join('');
    assert.match(text, /Mock response to: from stdin, with "quotes"/);
  });

  S.test('a permission request is printed with the command that answers it; `reply` from another process unblocks the turn', async (srv) => {
    const id = await create(srv);
    const send = start(cli(srv, 'send', id, 'permission to write'));
    const m = await waitFor(() => /^ {2}answer: {2}sandbox-agent api sessions reply (\S+) (\S+) once\|always\|reject -e (\S+)$/m.exec(send.out()), {
      what: () => `the permission request in send's output: ${send.out()}${send.err()}`,
      timeoutMs: 20000,
    });
    assert.equal(m[1], id);
    assert.equal(m[3], srv.baseUrl, 'the hint names the endpoint in use');
    assert.match(send.out(), /^\[permission\] .+ asks for permission$/m);
    assert.match(send.out(), /^ {2}options: .*\(allow_once\).*\(reject_once\)/m);
    await fails(cli(srv, 'reply', id, 'no-such-request', 'once'), 1, /^error: .*\(HTTP 404\)/m);
    await fails(cli(srv, 'reply', id, m[2], 'maybe'), 2, /possible values: once, always, reject/);
    const rep = await ok(cli(srv, 'reply', id, m[2], 'once'));
    assert.match(rep.stderr, new RegExp(`answered permission request ${m[2]}: once`));
    const r = await send.done;
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\[permission\] answered: selected \(\S+\)$/m);
    assert.match(r.stdout, /^\[tool\] .+: completed/m);
    assert.doesNotMatch(r.stdout, /denied/);
    assert.match(r.stdout, /\[end of turn: end_turn\]\n$/);
  });

  S.test('a rejected permission (with --json): the tool fails and the text says so', async (srv) => {
    const id = await create(srv);
    const send = start(cli(srv, 'send', id, 'permission please', '--json'));
    const ask = await waitFor(() => ndjson(send.out().split('\n').slice(0, -1).join('\n')).find((e) => e.payload?.method === 'session/request_permission'), {
      what: () => `a session/request_permission line: ${send.out()}${send.err()}`,
      timeoutMs: 20000,
    });
    await ok(cli(srv, 'reply', id, String(ask.payload.id), 'reject'));
    const r = await send.done;
    assert.equal(r.status, 0, r.stderr);
    const lines = ndjson(r.stdout);
    assert.deepEqual(lines.at(-1), { stopReason: 'end_turn' });
    const updates = lines.filter((e) => e.payload?.method === 'session/update').map((e) => e.payload.params.update);
    assert.ok(updates.some((u) => u.sessionUpdate === 'tool_call_update' && u.status === 'failed'));
    assert.match(updates.filter((u) => u.sessionUpdate === 'agent_message_chunk').map((u) => u.content.text).join(''), /denied/);
  });

  S.test('cancel from another process ends a running turn with "cancelled"', async (srv) => {
    const id = await create(srv);
    const send = start(cli(srv, 'send', id, 'slow story'));
    await waitFor(() => send.out().includes('Mock response to: slow story'), { what: () => `the first chunk: ${send.out()}${send.err()}`, timeoutMs: 20000 });
    const c = await ok(cli(srv, 'cancel', id));
    assert.match(c.stderr, new RegExp(`cancel sent to session ${id}`));
    const r = await send.done;
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\[end of turn: cancelled\]\n$/);
  });

  S.test('a failed turn, an unknown session and a turn already running exit 1 with the problem', async (srv) => {
    const id = await create(srv);
    const r = await fails(cli(srv, 'send', id, 'error please'), 1, /^error: the turn failed: /m);
    assert.doesNotMatch(r.stdout, /end of turn/);
    await fails(cli(srv, 'send', 'no-such-session', 'hi'), 1, /^error: .*\(HTTP 404\)/m);
    const slow = start(cli(srv, 'send', id, 'slow'));
    await waitFor(() => slow.out().includes('Mock response to: slow'), { what: 'the slow turn running', timeoutMs: 20000 });
    await fails(cli(srv, 'send', id, 'meanwhile'), 1, /\(HTTP 409\)/);
    await ok(cli(srv, 'cancel', id));
    assert.equal((await slow.done).status, 0);
    await fails(cli(srv, 'send', id), 2, /required arguments were not provided:\n {2}<TEXT>/);
  });
});

describe('api sessions events', { skip }, () => {
  S.test('a line per event, pages with --offset/--limit, --json the body', async (srv) => {
    const id = await create(srv);
    await ok(cli(srv, 'send', id, 'first words'));
    let r = await ok(cli(srv, 'events', id));
    const lines = r.stdout.trimEnd().split('\n');
    for (const l of lines) assert.match(l, /^#\d+ (client|agent) +\S/);
    assert.ok(lines.some((l) => /^#\d+ client session\/prompt \(request \S+\) "first words"$/.test(l)), r.stdout);
    assert.ok(lines.some((l) => /^#\d+ agent +session\/update agent_message_chunk "Mock response to: first words"$/.test(l)), r.stdout);
    assert.ok(lines.some((l) => /^#\d+ agent +response \S+ stopReason: end_turn$/.test(l)), r.stdout);

    r = await ok(cli(srv, 'events', id, '--json'));
    const all = JSON.parse(r.stdout).items;
    assert.equal(all.length, lines.length);
    assert.ok(all.every((e) => e.sessionId === id));

    r = await ok(cli(srv, 'events', id, '--limit', '2'));
    assert.equal(r.stdout.trimEnd().split('\n').length, 2);
    const next = Number(/^more events: --offset (\d+)$/m.exec(r.stderr)?.[1]);
    assert.equal(next, all[1].eventIndex);
    r = await ok(cli(srv, 'events', id, '--offset', String(next), '--json'));
    assert.deepEqual(JSON.parse(r.stdout).items.map((e) => e.eventIndex), all.slice(2).map((e) => e.eventIndex));
    await fails(cli(srv, 'events', id, '--follow', '--limit', '3'), 2, /--limit cannot be used with --follow/);
    await fails(cli(srv, 'events', 'no-such-session'), 1, /\(HTTP 404\)/);
  });

  S.test('--follow streams the earlier events, then new ones; Ctrl-C ends it with exit 0', async (srv) => {
    const id = await create(srv);
    await ok(cli(srv, 'send', id, 'before following'));
    const count = JSON.parse((await ok(cli(srv, 'events', id, '--json'))).stdout).items.length;
    const follow = start(cli(srv, 'events', id, '--follow', '--json'));
    await waitFor(() => follow.out().split('\n').filter(Boolean).length >= count, { what: () => `the earlier events: ${follow.out()}${follow.err()}` });
    await ok(cli(srv, 'send', id, 'while following'));
    await waitFor(() => ndjson(follow.out().split('\n').slice(0, -1).join('\n')).some((e) => e.payload?.result?.stopReason), {
      what: () => `the new turn's end: ${follow.out()}`,
    });
    follow.child.kill('SIGINT');
    const r = await follow.done;
    assert.equal(r.status, 0, r.stderr);
    const events = ndjson(r.stdout);
    const idx = events.map((e) => e.eventIndex);
    assert.deepEqual(idx, [...new Set(idx)].sort((a, b) => a - b), 'each event once, in order');
    assert.ok(JSON.stringify(events.slice(count)).includes('while following'));
    assert.match(r.stderr, new RegExp(`stream interrupted after ${events.length} events`));
  });
});

describe('api sessions delete', { skip }, () => {
  S.test('a REST session is ended and removed; an ACP session needs --force', async (srv) => {
    const id = await create(srv);
    const r = await ok(cli(srv, 'delete', id));
    assert.match(r.stderr, new RegExp(`deleted session ${id}`));
    await fails(cli(srv, 'show', id), 1, /\(HTTP 404\)/);
    await fails(cli(srv, 'delete', id), 1, /\(HTTP 404\)/);

    // A session an ACP client is driving.
    const server = `cli-acp-${Date.now()}`;
    assert.equal((await acpPost(srv, server, initializeMsg(1), { agent: 'mock' })).status, 200);
    const res = await acpPost(srv, server, { jsonrpc: '2.0', id: 2, method: 'session/new', params: { cwd: srv.home, mcpServers: [] } });
    const acpId = res.json().result.sessionId;
    assert.equal(JSON.parse((await ok(cli(srv, 'show', acpId, '--json'))).stdout).origin, 'acp');
    await fails(cli(srv, 'delete', acpId), 1, /\(HTTP 409\)/);
    await ok(cli(srv, 'delete', acpId, '--force'));
    assert.equal((await request(srv, 'GET', `/v1/sessions/${encodeURIComponent(acpId)}`)).status, 404);
    // --force closed the ACP server (and so its agent).
    assert.ok(!(await request(srv, 'GET', '/v1/acp')).json().servers.some((x) => x.serverId === server));
  });
});
