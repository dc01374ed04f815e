// The metadata side of the OpenCode-compatible API under /opencode (opencode-compat.md §3,
// §7, §14, docs/opencode-meta.md): health, dispose, agent, providers built from the agent
// catalogue with `connected` following real install state and credentials, provider auth
// and refused OAuth, path, vcs from the directory's .git, project, MCP and skills from the
// directory's config, the empty lists, config/command/TUI routes, auth (bearer, Basic as
// `opencode attach --password` sends it, the OpenCode 401 body) and forwarding to a native
// opencode through OPENCODE_COMPAT_PROXY_URL, against a small HTTP server of the test.
// Every route is called with plain fetch, and with @opencode-ai/sdk where it has a method.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createOpencodeClient } from '@opencode-ai/sdk/v2';
import { REPO, freePort, startServer } from './lib/server.mjs';

const CATALOG = JSON.parse(fs.readFileSync(path.join(REPO, 'src/agents/catalog.json'), 'utf8'));
const PROVIDER_ORDER = ['mock', 'claude', 'codex', 'amp', 'opencode', 'pi', 'cursor'];
// No credentials from the test runner's environment.
const NO_KEYS = { ANTHROPIC_API_KEY: null, OPENAI_API_KEY: null, OPENCODE_COMPAT_PROXY_URL: null, OPENCODE_COMPAT_DIRECTORY: null };

async function get(srv, p, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (srv.token && !headers.authorization) headers.authorization = `Bearer ${srv.token}`;
  const res = await fetch(`${srv.baseUrl}/opencode${p}`, { ...init, headers });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}
const post = (srv, p, body, headers = {}) =>
  get(srv, p, {
    method: 'POST',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** Keys sorted at every depth (§2.1): the bytes equal a sorted re-serialisation. */
function assertSorted(text) {
  const sort = (v) =>
    Array.isArray(v) ? v.map(sort) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v;
  assert.equal(text, JSON.stringify(sort(JSON.parse(text))));
}

function modelOption(id) {
  return CATALOG[id].configOptions.find((o) => o.category === 'model');
}

describe('opencode metadata routes (no token)', () => {
  let srv;
  let sdk;
  before(async () => {
    srv = await startServer({ env: NO_KEYS });
    sdk = createOpencodeClient({ baseUrl: `${srv.baseUrl}/opencode` });
  });
  after(async () => {
    await srv?.stop();
  });

  test('health, dispose and the one agent', async () => {
    const h = await get(srv, '/global/health');
    assert.equal(h.status, 200);
    assert.equal(h.headers.get('content-type'), 'application/json');
    assert.equal(h.text, '{"healthy":true,"version":"0.4.2"}');
    assert.deepEqual((await sdk.global.health()).data, { healthy: true, version: '0.4.2' });
    for (const p of ['/global/dispose', '/instance/dispose']) {
      const r = await post(srv, p);
      assert.equal(r.status, 200);
      assert.equal(r.text, 'true');
    }
    assert.equal((await sdk.global.dispose()).data, true);
    assert.equal((await sdk.instance.dispose()).data, true);
    const a = await get(srv, '/agent');
    assert.equal(
      a.text,
      '[{"description":"Sandbox Agent compatibility layer","hidden":false,"mode":"all","name":"Sandbox Agent","native":false,"options":{},"permission":[]}]',
    );
    assert.deepEqual((await sdk.app.agents()).data, a.json);
  });

  test('providers and models come from the agent catalogue; connected follows install state and credentials', async () => {
    const p = await get(srv, '/provider');
    assert.equal(p.status, 200);
    assertSorted(p.text);
    assert.deepEqual(p.json.all.map((x) => x.id), PROVIDER_ORDER);
    assert.deepEqual(
      p.json.all.map((x) => x.name),
      ['Mock', 'Claude Code', 'Codex CLI', 'Amp', 'OpenCode', 'Pi', 'Cursor Agent'],
    );
    for (const prov of p.json.all) {
      const opt = modelOption(prov.id);
      assert.deepEqual(Object.keys(prov.models).sort(), opt.options.map((o) => o.value).sort(), prov.id);
      assert.equal(p.json.default[prov.id], opt.currentValue);
      const first = opt.options[0];
      const m = prov.models[first.value];
      assert.equal(m.id, first.value);
      assert.equal(m.name, first.name);
      assert.equal(m.providerID, prov.id);
      assert.equal(m.family, prov.id[0].toUpperCase() + prov.id.slice(1));
      assert.deepEqual(m.limit, { context: 200000, output: 8192 });
      assert.equal(m.tool_call, CATALOG[prov.id].capabilities.toolCalls);
    }
    assert.deepEqual(p.json.all.find((x) => x.id === 'claude').env, ['ANTHROPIC_API_KEY']);
    // A fresh HOME: nothing installed but the built-in mock.
    assert.deepEqual(p.json.connected, ['mock']);

    const cp = await get(srv, '/config/providers');
    assert.deepEqual(cp.json.providers, p.json.all);
    assert.deepEqual({ ...cp.json, providers: undefined }, { ...p.json, providers: undefined });
    assert.deepEqual((await sdk.provider.list()).data, p.json);
    assert.deepEqual((await sdk.config.providers()).data, cp.json);

    // Installing pi (its launcher) while the server runs makes it connected (pi needs no key);
    // claude needs both its launcher and an Anthropic credential (here its credential file).
    const ap = path.join(srv.home, '.local/share/sandbox-agent/bin/agent_processes');
    fs.mkdirSync(ap, { recursive: true });
    for (const id of ['pi', 'claude']) fs.writeFileSync(path.join(ap, `${id}-acp`), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    assert.deepEqual((await get(srv, '/provider')).json.connected, ['mock', 'pi']);
    fs.mkdirSync(path.join(srv.home, '.claude'), { recursive: true });
    fs.writeFileSync(path.join(srv.home, '.claude/.credentials.json'), JSON.stringify({ claudeAiOauth: { accessToken: 'sk-test-oauth-token', expiresAt: Date.now() + 3600e3 } }));
    const after2 = (await get(srv, '/config/providers')).json;
    assert.deepEqual(after2.connected, ['mock', 'claude', 'pi']);
  });

  test('provider auth lists no sign-in method; OAuth routes say it is not available', async () => {
    const a = await get(srv, '/provider/auth');
    assert.deepEqual(a.json, Object.fromEntries([...PROVIDER_ORDER].sort().map((id) => [id, []])));
    assert.deepEqual((await sdk.provider.auth()).data, a.json);
    for (const step of ['authorize', 'callback']) {
      const r = await post(srv, `/provider/claude/oauth/${step}`, { method: 0 });
      assert.equal(r.status, 400);
      assert.equal(r.json.errors.length, 1);
      assert.match(r.json.errors[0].message, /^provider OAuth is not available for 'claude'/);
    }
    const e = await sdk.provider.oauth.authorize({ providerID: 'mock', method: 0 });
    assert.match(e.error.errors[0].message, /OAuth is not available/);
  });

  test('path: the request directory (query, then header, then the server cwd)', async () => {
    const p = await get(srv, '/path');
    assert.deepEqual(p.json, {
      config: path.join(srv.home, '.sandbox-agent/config'),
      directory: srv.home,
      home: srv.home,
      state: path.join(srv.home, '.local/share/sandbox-agent'),
      worktree: srv.home,
    });
    assert.equal((await get(srv, '/path?directory=/srv/x')).json.directory, '/srv/x');
    assert.equal((await get(srv, '/path', { headers: { 'x-opencode-directory': '/srv/h' } })).json.worktree, '/srv/h');
    const viaSdk = createOpencodeClient({ baseUrl: `${srv.baseUrl}/opencode`, directory: '/srv/sdk' });
    assert.equal((await viaSdk.path.get()).data.directory, '/srv/sdk');
  });

  test('vcs and project read the directory’s git files', async () => {
    const plain = path.join(srv.home, 'plain');
    fs.mkdirSync(plain);
    const q = (d) => `?directory=${encodeURIComponent(d)}`;
    assert.deepEqual((await get(srv, `/vcs${q(plain)}`)).json, {});
    const pc = (await get(srv, `/project/current${q(plain)}`)).json;
    assert.equal(pc.vcs, undefined);
    assert.equal(pc.worktree, plain);
    assert.equal(pc.name, 'plain');
    assert.match(pc.id, /^proj_\d+$/);
    assert.deepEqual(pc.sandboxes, []);

    const repo = path.join(srv.home, 'repo');
    fs.mkdirSync(path.join(repo, '.git/refs/remotes/origin'), { recursive: true });
    fs.mkdirSync(path.join(repo, 'src/deep'), { recursive: true });
    fs.writeFileSync(path.join(repo, '.git/HEAD'), 'ref: refs/heads/feature/x\n');
    fs.writeFileSync(path.join(repo, '.git/refs/remotes/origin/HEAD'), 'ref: refs/remotes/origin/trunk\n');
    assert.deepEqual((await get(srv, `/vcs${q(path.join(repo, 'src/deep'))}`)).json, { branch: 'feature/x', default_branch: 'trunk' });
    const viaSdk = createOpencodeClient({ baseUrl: `${srv.baseUrl}/opencode`, directory: repo });
    assert.deepEqual((await viaSdk.vcs.get()).data, { branch: 'feature/x', default_branch: 'trunk' });
    fs.writeFileSync(path.join(repo, '.git/HEAD'), '0123456789abcdef0123456789abcdef01234567\n');
    assert.equal((await get(srv, `/vcs${q(repo)}`)).json.branch, 'HEAD');

    // A linked work tree: .git is a file naming its git dir, refs live in the common dir.
    const wt = path.join(srv.home, 'wt');
    const gd = path.join(repo, '.git/worktrees/wt');
    fs.mkdirSync(wt);
    fs.mkdirSync(gd, { recursive: true });
    fs.writeFileSync(path.join(wt, '.git'), `gitdir: ${gd}\n`);
    fs.writeFileSync(path.join(gd, 'HEAD'), 'ref: refs/heads/wt-branch\n');
    fs.writeFileSync(path.join(gd, 'commondir'), '../..\n');
    assert.deepEqual((await get(srv, `/vcs${q(wt)}`)).json, { branch: 'wt-branch', default_branch: 'trunk' });

    const cur = await get(srv, `/project/current${q(repo)}`);
    assert.equal(cur.json.vcs, 'git');
    assert.equal(cur.json.worktree, repo);
    assert.equal(cur.json.id, pc.id, 'one project id per server process');
    assert.deepEqual((await get(srv, `/project${q(repo)}`)).json, [cur.json]);
    assert.deepEqual((await post(srv, `/project${q(repo)}`)).json, cur.json);
    assert.deepEqual((await viaSdk.project.current()).data, cur.json);
    assert.deepEqual((await viaSdk.project.list()).data, [cur.json]);
    // Sessions belong to that same project.
    const session = (await viaSdk.session.create({})).data;
    assert.equal(session.projectID, cur.json.id);
    await viaSdk.session.delete({ sessionID: session.id });
  });

  test('mcp and config come from the directory’s MCP config; a broken file is an error', async () => {
    const dir = path.join(srv.home, 'mcpdir');
    fs.mkdirSync(dir);
    const q = `?directory=${encodeURIComponent(dir)}`;
    assert.deepEqual((await get(srv, `/mcp${q}`)).json, {});
    assert.deepEqual((await get(srv, `/config${q}`)).json, { agent: {}, mcp: {}, provider: {} });
    const put = async (name, body) => {
      const r = await fetch(`${srv.baseUrl}/v1/config/mcp?directory=${encodeURIComponent(dir)}&mcpName=${name}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(r.status, 204);
    };
    await put('files', { type: 'stdio', command: 'node', args: ['srv.js', '--x'], env: { A: '1' }, timeoutMs: 5000 });
    await put('off', { type: 'http', url: 'https://mcp.example/x', enabled: false, headers: { h: 'v' } });
    const st = await get(srv, `/mcp${q}`);
    assert.equal(st.status, 200);
    assert.deepEqual(Object.keys(st.json), ['files', 'off']);
    assert.deepEqual(st.json.off, { status: 'disabled' });
    assert.equal(st.json.files.status, 'failed');
    assert.match(st.json.files.error, /does not run MCP servers itself/);
    const viaSdk = createOpencodeClient({ baseUrl: `${srv.baseUrl}/opencode`, directory: dir });
    assert.deepEqual((await viaSdk.mcp.status()).data, st.json);
    const cfg = await get(srv, `/config${q}`);
    assert.deepEqual(cfg.json.mcp, {
      files: { type: 'local', command: ['node', 'srv.js', '--x'], environment: { A: '1' }, timeout: 5000 },
      off: { type: 'remote', url: 'https://mcp.example/x', headers: { h: 'v' }, enabled: false },
    });
    assert.deepEqual((await viaSdk.config.get()).data, cfg.json);
    // The global config holds nothing: ours is per directory.
    assert.deepEqual((await get(srv, `/global/config${q}`)).json, { agent: {}, mcp: {}, provider: {} });

    fs.writeFileSync(path.join(dir, '.sandbox-agent/config/mcp.json'), '{"bad":');
    for (const p of ['/mcp', '/config']) {
      const r = await get(srv, `${p}${q}`);
      assert.equal(r.status, 500);
      assert.match(r.json.errors[0].message, /^invalid config file .*mcp\.json/);
    }
  });

  test('skill lists the SKILL.md files of local skills sources', async () => {
    const dir = path.join(srv.home, 'skilldir');
    const lib = path.join(dir, 'skills-lib');
    fs.mkdirSync(path.join(lib, 'alpha'), { recursive: true });
    fs.mkdirSync(path.join(lib, 'beta'), { recursive: true });
    fs.mkdirSync(path.join(lib, 'not-a-skill'), { recursive: true });
    const alpha = '---\nname: alpha-skill\ndescription: "Does alpha things"\n---\n# Alpha\n';
    fs.writeFileSync(path.join(lib, 'alpha/SKILL.md'), alpha);
    fs.writeFileSync(path.join(lib, 'beta/SKILL.md'), '# Beta without front matter\n');
    const q = `?directory=${encodeURIComponent(dir)}`;
    assert.deepEqual((await get(srv, `/skill${q}`)).json, []);
    const put = async (name, body) => {
      const r = await fetch(`${srv.baseUrl}/v1/config/skills?directory=${encodeURIComponent(dir)}&skillName=${name}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(r.status, 204);
    };
    await put('local', { sources: [{ type: 'local', source: 'skills-lib' }] });
    await put('remote', { sources: [{ type: 'github', source: 'rivet-dev/skills', skills: ['sandbox-agent'] }] });
    const s = await get(srv, `/skill${q}`);
    assert.equal(s.status, 200);
    assert.deepEqual(s.json, [
      { content: alpha, description: 'Does alpha things', location: path.join(lib, 'alpha/SKILL.md'), name: 'alpha-skill' },
      { content: '# Beta without front matter\n', location: path.join(lib, 'beta/SKILL.md'), name: 'beta' },
    ]);
    const viaSdk = createOpencodeClient({ baseUrl: `${srv.baseUrl}/opencode`, directory: dir });
    assert.deepEqual((await viaSdk.app.skills()).data, s.json);
    // An explicit list picks skills by directory name.
    await put('local', { sources: [{ type: 'local', source: lib, skills: ['beta', 'missing'] }] });
    assert.deepEqual((await get(srv, `/skill${q}`)).json.map((x) => x.name), ['beta']);
  });

  test('lists with nothing behind them are empty', async () => {
    for (const p of ['/lsp', '/formatter', '/experimental/resource', '/command']) {
      const r = await get(srv, p);
      assert.equal(r.status, 200, p);
      assert.equal(r.text, '[]', p);
    }
    assert.deepEqual((await sdk.lsp.status()).data, []);
    assert.deepEqual((await sdk.formatter.status()).data, []);
    assert.deepEqual((await sdk.command.list()).data, []);
  });

  test('config PATCH is refused (nothing would be stored); TUI routes answer locally', async () => {
    for (const p of ['/config', '/global/config']) {
      const r = await get(srv, p, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"theme":"x"}' });
      assert.equal(r.status, 400);
      assert.match(r.json.errors[0].message, /^config changes are not stored/);
      const bad = await get(srv, p, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{' });
      assert.equal(bad.status, 400);
      assert.match(bad.text, /^Failed to parse the request body as JSON: /);
      const noType = await get(srv, p, { method: 'PATCH', body: '{}' });
      assert.equal(noType.status, 415);
      assert.equal(noType.text, 'Expected request with `Content-Type: application/json`');
    }
    assert.deepEqual((await get(srv, '/config')).json, { agent: {}, mcp: {}, provider: {} });
    assert.equal((await get(srv, '/tui/control/next')).text, '{"body":{},"path":""}');
    for (const p of ['control/response', 'append-prompt', 'submit-prompt', 'execute-command', 'show-toast', 'publish', 'open-help', 'open-themes', 'open-models', 'clear-prompt', 'open-sessions']) {
      const r = await post(srv, `/tui/${p}`, p === 'append-prompt' ? { text: 'hi' } : undefined);
      assert.equal(r.status, 200, p);
      assert.equal(r.text, 'true', p);
    }
    // J? routes ignore a body that is not JSON.
    assert.equal((await get(srv, '/tui/publish', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{' })).text, 'true');
    assert.equal((await sdk.tui.appendPrompt({ text: 'x' })).data, true);
  });

  test('unknown paths under /opencode are the server-wide 404; wrong methods 405 with allow', async () => {
    const r = await get(srv, '/provider/x');
    assert.equal(r.status, 404);
    assert.equal(r.json.detail, 'endpoint not found');
    const m = await get(srv, '/global/health', { method: 'DELETE' });
    assert.equal(m.status, 405);
    assert.equal(m.headers.get('allow'), 'GET,HEAD');
  });
});

describe('opencode auth with a token', () => {
  let srv;
  before(async () => {
    srv = await startServer({ token: 'tk-secret', env: NO_KEYS });
  });
  after(async () => {
    await srv?.stop();
  });
  const basic = (user, pw) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

  test('bearer, or Basic with the token as password; otherwise the OpenCode 401 body', async () => {
    const url = `${srv.baseUrl}/opencode/global/health`;
    const none = await fetch(url);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('content-type'), 'application/json');
    assert.equal(none.headers.get('www-authenticate'), null);
    assert.equal(await none.text(), '{"errors":[{"message":"missing or invalid bearer token"}]}');
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer tk-secret' } })).status, 200);
    assert.equal((await fetch(url, { headers: { authorization: basic('opencode', 'tk-secret') } })).status, 200);
    assert.equal((await fetch(url, { headers: { authorization: basic('anyone', 'tk-secret') } })).status, 200);
    for (const bad of [basic('opencode', 'wrong'), basic('tk-secret', ''), 'Basic !!!', 'Basic dGstc2VjcmV0', 'bearer tk-secret']) {
      const r = await fetch(url, { headers: { authorization: bad } });
      assert.equal(r.status, 401, bad);
      assert.deepEqual(await r.json(), { errors: [{ message: 'missing or invalid bearer token' }] });
    }
    // Wrong method without credentials: 401, still with allow.
    const wm = await fetch(url, { method: 'POST' });
    assert.equal(wm.status, 401);
    assert.equal(wm.headers.get('allow'), 'GET,HEAD');
    // Basic stays an /opencode convention: /v1 keeps bearer-only and its problem body.
    const v1 = await fetch(`${srv.baseUrl}/v1/health`, { headers: { authorization: basic('opencode', 'tk-secret') } });
    assert.equal(v1.status, 401);
    assert.equal((await v1.json()).title, 'Token Invalid');
    // Every metadata route checks it.
    for (const p of ['/provider', '/vcs', '/mcp', '/skill', '/config', '/command', '/tui/control/next']) {
      assert.equal((await fetch(`${srv.baseUrl}/opencode${p}`)).status, 401, p);
    }
  });

  test('the SDK authenticates with Basic as opencode attach does', async () => {
    const sdk = createOpencodeClient({ baseUrl: `${srv.baseUrl}/opencode`, headers: { authorization: basic('opencode', 'tk-secret') } });
    assert.deepEqual((await sdk.global.health()).data, { healthy: true, version: '0.4.2' });
    assert.deepEqual((await sdk.provider.list()).data.connected, ['mock']);
    const anon = createOpencodeClient({ baseUrl: `${srv.baseUrl}/opencode` });
    const r = await anon.global.health();
    assert.equal(r.response.status, 401);
    assert.deepEqual(r.error, { errors: [{ message: 'missing or invalid bearer token' }] });
  });
});

/** A native-opencode stand-in: records each request and answers with reply(req, body). */
async function upstream(reply) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      reply(req, res, body);
    });
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { port, seen, close: () => new Promise((r) => server.close(r)) };
}

describe('OPENCODE_COMPAT_PROXY_URL forwarding', () => {
  let up;
  let srv;
  before(async () => {
    up = await upstream((req, res, body) => {
      if (req.url.endsWith('/command')) {
        res.writeHead(418, { 'content-type': 'text/plain', 'x-extra': 'dropped' });
        res.end('short and stout');
      } else if (req.url.endsWith('/tui/control/next')) {
        // The head, then the connection dies before the promised body.
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"par');
        setImmediate(() => res.socket.destroy());
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ upstream: true, method: req.method, body: body || null }));
      }
    });
    srv = await startServer({ token: 'tk', env: { ...NO_KEYS, OPENCODE_COMPAT_PROXY_URL: ` http://127.0.0.1:${up.port}/base/ ` } });
  });
  after(async () => {
    await srv?.stop();
    await up?.close();
  });

  test('requests go up with the path below /opencode, no query, three headers and the JSON body', async () => {
    const r = await get(srv, '/config?directory=/x&y=1', { headers: { accept: 'application/json', 'x-opencode-directory': '/d', 'x-other': 'no' } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { upstream: true, method: 'GET', body: null });
    const s = up.seen.at(-1);
    assert.equal(s.url, '/base/config');
    assert.equal(s.headers.authorization, 'Bearer tk');
    assert.equal(s.headers.accept, 'application/json');
    assert.equal(s.headers['x-opencode-directory'], '/d');
    assert.equal(s.headers['x-other'], undefined);

    const p = await get(srv, '/global/config', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{ "theme" : "dark" }' });
    assert.deepEqual(p.json, { upstream: true, method: 'PATCH', body: '{"theme":"dark"}' });
    assert.equal(up.seen.at(-1).headers['content-type'], 'application/json');
    // A TUI route with a JSON body forwards it; one that takes none sends none.
    assert.equal((await post(srv, '/tui/append-prompt', { text: 'hi' })).json.body, '{"text":"hi"}');
    assert.equal((await post(srv, '/tui/open-help')).json.body, null);
    assert.equal(up.seen.at(-1).url, '/base/tui/open-help');
    // open-sessions is never forwarded.
    const before = up.seen.length;
    assert.equal((await post(srv, '/tui/open-sessions')).text, 'true');
    assert.equal(up.seen.length, before);
    // The body checks come first: 415 is ours.
    assert.equal((await get(srv, '/config', { method: 'PATCH', body: '{}' })).status, 415);
  });

  test('the upstream status, content-type and body are relayed; a cut body is a 502', async () => {
    const r = await get(srv, '/command');
    assert.equal(r.status, 418);
    assert.equal(r.headers.get('content-type'), 'text/plain');
    assert.equal(r.headers.get('x-extra'), null);
    assert.equal(r.text, 'short and stout');
    const cut = await get(srv, '/tui/control/next');
    assert.equal(cut.status, 502);
    assert.equal(cut.json.success, false);
    assert.deepEqual(cut.json.data, {});
    assert.match(cut.json.errors[0].message, /^failed to read proxied response: /);
  });

  test('an upstream that cannot be reached gives the local answers', async () => {
    const closed = await freePort();
    const other = await startServer({ env: { ...NO_KEYS, OPENCODE_COMPAT_PROXY_URL: `http://127.0.0.1:${closed}` } });
    try {
      assert.equal((await get(other, '/command')).text, '[]');
      assert.deepEqual((await get(other, '/config')).json, { agent: {}, mcp: {}, provider: {} });
      assert.equal((await post(other, '/tui/submit-prompt')).text, 'true');
    } finally {
      await other.stop();
    }
  });

  test('an https URL is not used (no TLS client): local answers', async () => {
    const other = await startServer({ env: { ...NO_KEYS, OPENCODE_COMPAT_PROXY_URL: `https://127.0.0.1:${up.port}` } });
    try {
      const before = up.seen.length;
      assert.equal((await get(other, '/command')).text, '[]');
      assert.equal(up.seen.length, before);
      assert.match(other.stderr(), /OPENCODE_COMPAT_PROXY_URL ignored: https is not supported/);
    } finally {
      await other.stop();
    }
  });
});
