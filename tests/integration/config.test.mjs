// MCP and skills config (http-api.md §8, features.md §9-§10): every SDK method, the exact
// wire bodies and on-disk files, query and body validation (§2.8 statuses), invalid and
// unreadable config files, relative directories, atomic writes, hostile input.
//
// Deliberate differences from the reference are marked OURS_ONLY: DELETE writes nothing
// when there is nothing to remove (the reference creates `{}` and its directories), any
// duplicate member name in a body is a 422, non-UTF-8 or NUL in the query is a 400 (the
// reference decodes lossily), a FIFO planted as the config file is refused instead of read.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as nodeTest from 'node:test';
import { SandboxAgentError } from 'sandbox-agent';
import { sharedServer, withServer, IS_REFERENCE, OURS_ONLY } from './lib/server.mjs';
import { request, assertProblem, assertErrorStatus } from './lib/http.mjs';
import { withSdk } from './lib/sdk.mjs';

const { describe } = nodeTest;
const S = sharedServer(nodeTest);

let seq = 0;
/** A fresh, not yet existing project directory under the server's HOME (also its cwd). */
function project(srv, name = 'proj') {
  const rel = `${name}-${++seq}`;
  return { rel, abs: path.join(srv.home, rel) };
}
const mcpFile = (dir) => path.join(dir, '.sandbox-agent/config/mcp.json');
const skillsFile = (dir) => path.join(dir, '.sandbox-agent/config/skills.json');
const qs = (o) => new URLSearchParams(o).toString();
const mcpUrl = (directory, mcpName) => `/v1/config/mcp?${qs({ directory, mcpName })}`;
const skillsUrl = (directory, skillName) => `/v1/config/skills?${qs({ directory, skillName })}`;
const put = (srv, url, body, headers) => request(srv, 'PUT', url, { body, headers });

/** Asserts a 204 with an empty body. */
function assert204(res, what) {
  assert.equal(res.status, 204, `${what}: ${res.text}`);
  assert.equal(res.buf.length, 0, what);
}

/** The exact 404 of a missing entry (quirk Q6: session_not_found with a synthetic id). */
function assertEntryNotFound(res, id) {
  assertProblem(res, 404, 'session_not_found');
  assert.deepEqual(res.json(), {
    type: 'urn:sandbox-agent:error:session_not_found',
    title: 'Session Not Found',
    status: 404,
    detail: `session not found: ${id}`,
    sessionId: id,
  });
  assert.equal(res.text.indexOf('"type"'), 1, 'problem member order starts with type');
}

/** The SDK's error for a failing call. */
async function sdkError(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected the SDK call to fail');
}

/** The pretty form the reference writes: 2-space indent, no trailing newline. */
const pretty = (v) => JSON.stringify(v, null, 2);

describe('SDK methods (§8, features §9-§10)', () => {
  S.test('setMcpConfig / getMcpConfig / deleteMcpConfig round trip a local server', async (srv) => {
    const { abs } = project(srv);
    await withSdk(srv, {}, async (sdk) => {
      const query = { directory: abs, mcpName: 's1' };
      assert.equal(
        await sdk.setMcpConfig(query, {
          type: 'stdio',
          command: 'node',
          cwd: '/x',
          enabled: false,
          timeoutMs: 5000,
          env: null,
          args: [],
          extra: 1,
        }),
        undefined,
      );
      // §8.2 example: alias resolved, null and unknown members dropped, args always present.
      const got = await sdk.getMcpConfig(query);
      assert.deepEqual(got, { type: 'local', command: 'node', args: [], enabled: false, timeoutMs: 5000, cwd: '/x' });
      assert.deepEqual(Object.keys(got), ['type', 'command', 'args', 'enabled', 'timeoutMs', 'cwd']);
      assert.equal(
        fs.readFileSync(mcpFile(abs), 'utf8'),
        pretty({ s1: { type: 'local', command: 'node', args: [], enabled: false, timeoutMs: 5000, cwd: '/x' } }),
      );

      assert.equal(await sdk.deleteMcpConfig(query), undefined);
      const err = await sdkError(sdk.getMcpConfig(query));
      assert.ok(err instanceof SandboxAgentError, String(err));
      assert.equal(err.status, 404);
      assert.equal(err.problem.type, 'urn:sandbox-agent:error:session_not_found');
      assert.equal(err.problem.sessionId, 'mcp:s1');
      // The file stays, empty.
      assert.equal(fs.readFileSync(mcpFile(abs), 'utf8'), '{}');
    });
  });

  S.test('remote servers keep every member, in order, with sorted maps', async (srv) => {
    const { abs } = project(srv);
    await withSdk(srv, {}, async (sdk) => {
      const query = { directory: abs, mcpName: 'remote' };
      await sdk.setMcpConfig(query, {
        transport: 'sse',
        timeoutMs: 0,
        enabled: true,
        oauth: { scope: 'read', x: 1, clientId: 'id', clientSecret: 'secret' },
        envHeaders: { Z: 'z', A: 'a' },
        bearerTokenEnvVar: 'TOKEN',
        headers: { b: '1', a: '2', 'é': '3', Z: '4' },
        url: 'http://example.test/mcp',
        type: 'http',
        command: 'dropped',
      });
      const res = await request(srv, 'GET', mcpUrl(abs, 'remote'));
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(
        res.text,
        '{"type":"remote","url":"http://example.test/mcp","headers":{"Z":"4","a":"2","b":"1","é":"3"},' +
          '"bearerTokenEnvVar":"TOKEN","envHeaders":{"A":"a","Z":"z"},' +
          '"oauth":{"clientId":"id","clientSecret":"secret","scope":"read"},"enabled":true,"timeoutMs":0,"transport":"sse"}',
      );
      assert.deepEqual(await sdk.getMcpConfig(query), res.json());

      // oauth may also be a boolean, and an empty object stays an object.
      for (const oauth of [false, true, {}]) {
        await sdk.setMcpConfig(query, { type: 'remote', url: 'u', oauth });
        assert.deepEqual(await sdk.getMcpConfig(query), { type: 'remote', url: 'u', oauth });
      }
      // A command may be an array of strings.
      await sdk.setMcpConfig({ directory: abs, mcpName: 'argv' }, { type: 'local', command: ['npx', '-y', 'srv'] });
      assert.deepEqual(await sdk.getMcpConfig({ directory: abs, mcpName: 'argv' }), {
        type: 'local',
        command: ['npx', '-y', 'srv'],
        args: [],
      });
    });
  });

  S.test('setSkillsConfig / getSkillsConfig / deleteSkillsConfig round trip', async (srv) => {
    const { abs } = project(srv);
    await withSdk(srv, {}, async (sdk) => {
      const query = { directory: abs, skillName: 'sk' };
      const config = {
        sources: [
          { type: 'github', source: 'rivet-dev/skills', skills: ['sandbox-agent'], ref: 'main', subpath: 'skills' },
          { subpath: 's', ref: null, source: './local', type: 'local', extra: true },
        ],
        extra: 1,
      };
      assert.equal(await sdk.setSkillsConfig(query, config), undefined);
      const got = await sdk.getSkillsConfig(query);
      assert.deepEqual(got, {
        sources: [
          { type: 'github', source: 'rivet-dev/skills', skills: ['sandbox-agent'], ref: 'main', subpath: 'skills' },
          { type: 'local', source: './local', subpath: 's' },
        ],
      });
      assert.deepEqual(Object.keys(got.sources[0]), ['type', 'source', 'skills', 'ref', 'subpath']);
      assert.equal(fs.readFileSync(skillsFile(abs), 'utf8'), pretty({ sk: got }));

      await sdk.setSkillsConfig({ directory: abs, skillName: 'empty' }, { sources: [] });
      assert.deepEqual(await sdk.getSkillsConfig({ directory: abs, skillName: 'empty' }), { sources: [] });

      assert.equal(await sdk.deleteSkillsConfig(query), undefined);
      const err = await sdkError(sdk.getSkillsConfig(query));
      assert.ok(err instanceof SandboxAgentError, String(err));
      assert.equal(err.status, 404);
      assert.equal(err.problem.sessionId, 'skills:sk');
      assert.equal(fs.readFileSync(skillsFile(abs), 'utf8'), pretty({ empty: { sources: [] } }));
    });
  });

  S.test('SDK calls surface validation errors as SandboxAgentError', async (srv) => {
    const { abs } = project(srv);
    await withSdk(srv, {}, async (sdk) => {
      let err = await sdkError(sdk.setMcpConfig({ directory: abs, mcpName: 'x' }, { type: 'bogus', command: 'c' }));
      assert.ok(err instanceof SandboxAgentError);
      assert.equal(err.status, 422);
      err = await sdkError(sdk.setSkillsConfig({ directory: '', skillName: 'x' }, { sources: [] }));
      assert.equal(err.status, 400);
      assert.equal(err.problem.detail, "invalid request: missing required 'directory' query parameter");
      assert.equal(fs.existsSync(abs), false, 'nothing written for rejected requests');
    });
  });
});

describe('storage (§8.1)', () => {
  S.test('one sorted, pretty-printed map per file; PUT replaces the whole entry', async (srv) => {
    const { abs } = project(srv);
    for (const name of ['b', 'B', 'é', 'a', '10', '9']) {
      assert204(await put(srv, mcpUrl(abs, name), { type: 'local', command: name, args: ['x'] }), name);
    }
    // Replacement, not merge: args and env disappear.
    assert204(await put(srv, mcpUrl(abs, 'a'), { type: 'local', command: 'new', env: { K: 'v' } }), 'replace');
    assert204(await put(srv, mcpUrl(abs, 'a'), { type: 'local', command: 'newer' }), 'replace again');
    const text = fs.readFileSync(mcpFile(abs), 'utf8');
    // Entry names in byte order (BTreeMap), 2-space indent, no trailing newline. The text is
    // built by hand: JS objects would put the integer-like names first.
    const entries = ['10', '9', 'B', 'a', 'b', 'é'].map((k) => [
      k,
      k === 'a' ? { type: 'local', command: 'newer', args: [] } : { type: 'local', command: k, args: ['x'] },
    ]);
    const body = entries
      .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v, null, 2).replaceAll('\n', '\n  ')}`)
      .join(',\n');
    assert.equal(text, `{\n${body}\n}`);
    // GET returns only the named entry, compact.
    const res = await request(srv, 'GET', mcpUrl(abs, 'a'));
    assert.equal(res.text, '{"type":"local","command":"newer","args":[]}');
  });

  S.test('strings are escaped like serde_json (lower-case \\u escapes, raw UTF-8)', async (srv) => {
    const { abs } = project(srv);
    const command = 'é\u0001\u001f\u007f/"\\\n\t😀\u2028\u0000\b\f\r';
    assert204(await put(srv, mcpUrl(abs, 'esc'), { type: 'local', command, env: { k: '\u0000' } }), 'put');
    const res = await request(srv, 'GET', mcpUrl(abs, 'esc'));
    assert.equal(
      res.text,
      '{"type":"local","command":"é\\u0001\\u001f\u007f/\\"\\\\\\n\\t😀\u2028\\u0000\\b\\f\\r","args":[],"env":{"k":"\\u0000"}}',
    );
    assert.equal(res.json().command, command);
    assert.match(fs.readFileSync(mcpFile(abs), 'utf8'), /"command": "é\\u0001\\u001f/);
  });

  S.test('MCP and skills files are independent', async (srv) => {
    const { abs } = project(srv);
    assert204(await put(srv, mcpUrl(abs, 'same'), { type: 'local', command: 'c' }), 'mcp');
    assertEntryNotFound(await request(srv, 'GET', skillsUrl(abs, 'same')), 'skills:same');
    assert204(await put(srv, skillsUrl(abs, 'same'), { sources: [] }), 'skills');
    assert204(await request(srv, 'DELETE', mcpUrl(abs, 'same')), 'delete mcp');
    assert.equal((await request(srv, 'GET', skillsUrl(abs, 'same'))).text, '{"sources":[]}');
    assert.deepEqual(fs.readdirSync(path.dirname(mcpFile(abs))).sort(), ['mcp.json', 'skills.json']);
  });

  S.test('a relative directory resolves against the server cwd, verbatim (quirk Q8)', async (srv) => {
    // The test harness starts the server with its cwd in HOME.
    const rel = `rel-${++seq}`;
    assert204(await put(srv, mcpUrl(`${rel}//x/`, 'a'), { type: 'local', command: 'c' }), 'put');
    const file = mcpFile(path.join(srv.home, rel, 'x'));
    assert.equal(fs.readFileSync(file, 'utf8'), pretty({ a: { type: 'local', command: 'c', args: [] } }));
    assert.equal((await request(srv, 'GET', mcpUrl(`./${rel}/./x/../x`, 'a'))).status, 200);
    // Messages name the path as built: cwd + directory, not normalised.
    fs.writeFileSync(file, 'x');
    const res = await request(srv, 'GET', mcpUrl(`${rel}//x/`, 'a'));
    const body = assertProblem(res, 400, 'invalid_request');
    assert.ok(
      body.detail.startsWith(`invalid request: invalid config file ${srv.home}/${rel}//x/.sandbox-agent/config/mcp.json: `),
      body.detail,
    );
  });

  S.test('writes are atomic: no temp files left, symlinks written through, mode kept', async (srv) => {
    const { abs } = project(srv);
    for (let i = 0; i < 5; i++) assert204(await put(srv, mcpUrl(abs, `n${i}`), { type: 'local', command: 'c' }), 'put');
    assert.deepEqual(fs.readdirSync(path.dirname(mcpFile(abs))), ['mcp.json']);

    const real = path.join(abs, 'real.json');
    fs.writeFileSync(real, '{}');
    fs.chmodSync(real, 0o600);
    fs.rmSync(mcpFile(abs));
    fs.symlinkSync(real, mcpFile(abs));
    assert204(await put(srv, mcpUrl(abs, 'linked'), { type: 'local', command: 'c' }), 'put through link');
    assert.ok(fs.lstatSync(mcpFile(abs)).isSymbolicLink(), 'the link stays');
    assert.equal(fs.readFileSync(real, 'utf8'), pretty({ linked: { type: 'local', command: 'c', args: [] } }));
    assert.equal(fs.statSync(real).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(abs).sort(), ['.sandbox-agent', 'real.json']);
  });

  S.test('DELETE of the last entry leaves {}; DELETE of absent names answers 204', async (srv) => {
    const { abs } = project(srv);
    assert204(await put(srv, skillsUrl(abs, 'k'), { sources: [] }), 'put');
    assert204(await request(srv, 'DELETE', skillsUrl(abs, 'k')), 'delete');
    assert.equal(fs.readFileSync(skillsFile(abs), 'utf8'), '{}');
    assert204(await request(srv, 'DELETE', skillsUrl(abs, 'k')), 'delete again');
    assert204(await request(srv, 'DELETE', mcpUrl(path.join(abs, 'missing/dir'), 'k')), 'missing directory');
  });

  S.test('DELETE writes nothing when there is nothing to remove', { skip: OURS_ONLY }, async (srv) => {
    const { abs } = project(srv);
    assert204(await request(srv, 'DELETE', mcpUrl(abs, 'x')), 'absent directory');
    assert204(await request(srv, 'DELETE', skillsUrl(abs, 'x')), 'absent directory');
    assert.equal(fs.existsSync(abs), false, 'nothing created');
    // A hand-written file with an unknown member is valid and stays byte for byte.
    fs.mkdirSync(path.dirname(mcpFile(abs)), { recursive: true });
    const text = '{"a":{"type":"stdio","command":"x","zz":1}}\n';
    fs.writeFileSync(mcpFile(abs), text);
    assert204(await request(srv, 'DELETE', mcpUrl(abs, 'other')), 'absent name');
    assert.equal(fs.readFileSync(mcpFile(abs), 'utf8'), text);
  });
});

describe('GET (§8.1)', () => {
  S.test('404 session_not_found for a missing entry, file or directory', async (srv) => {
    const { abs } = project(srv);
    assertEntryNotFound(await request(srv, 'GET', mcpUrl(abs, 'nope')), 'mcp:nope');
    assertEntryNotFound(await request(srv, 'GET', skillsUrl(abs, 'nope')), 'skills:nope');
    assert204(await put(srv, mcpUrl(abs, 'there'), { type: 'local', command: 'c' }), 'put');
    assertEntryNotFound(await request(srv, 'GET', mcpUrl(abs, 'nope')), 'mcp:nope');
    // A path component that is a regular file counts as missing, as in the reference.
    const file = path.join(abs, 'plain');
    fs.writeFileSync(file, 'x');
    assertEntryNotFound(await request(srv, 'GET', mcpUrl(file, 'a')), 'mcp:a');
  });

  S.test('HEAD answers the headers of GET', async (srv) => {
    const { abs } = project(srv);
    assert204(await put(srv, mcpUrl(abs, 'h'), { type: 'local', command: 'c' }), 'put');
    const get = await request(srv, 'GET', mcpUrl(abs, 'h'));
    const head = await request(srv, 'HEAD', mcpUrl(abs, 'h'));
    assert.equal(head.status, 200);
    assert.equal(head.buf.length, 0);
    assert.equal(head.headers['content-length'], String(get.buf.length));
    const miss = await request(srv, 'HEAD', mcpUrl(abs, 'nope'));
    assert.equal(miss.status, 404);
    assert.equal(miss.headers['content-type'], 'application/problem+json');
  });

  S.test('names are plain map keys: traversal, spaces, long and non-ASCII names', async (srv) => {
    const { abs } = project(srv);
    const names = ['../../../etc/passwd', 'a b', '+', 'ü/🙂', 'x'.repeat(4000)];
    for (const name of names) {
      assert204(await put(srv, mcpUrl(abs, name), { type: 'local', command: name.slice(0, 10) }), name.slice(0, 20));
      assert.equal((await request(srv, 'GET', mcpUrl(abs, name))).json().command, name.slice(0, 10));
    }
    // `+` in a raw query means a space.
    const res = await request(srv, 'GET', `/v1/config/mcp?directory=${encodeURIComponent(abs)}&mcpName=a+b`);
    assert.equal(res.json().command, 'a b');
    assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(mcpFile(abs), 'utf8'))), [
      '+',
      '../../../etc/passwd',
      'a b',
      'x'.repeat(4000),
      'ü/🙂',
    ]);
    assert.deepEqual(fs.readdirSync(abs), ['.sandbox-agent']);
  });
});

describe('query validation (§8.1, §2.8)', () => {
  S.test('missing or duplicated keys are 400', async (srv) => {
    const { abs } = project(srv);
    const cases = [
      ['GET', `/v1/config/mcp?${qs({ directory: abs })}`],
      ['GET', `/v1/config/mcp?${qs({ mcpName: 'x' })}`],
      ['GET', '/v1/config/mcp'],
      ['DELETE', `/v1/config/mcp?${qs({ directory: abs })}`],
      ['GET', `/v1/config/skills?${qs({ directory: abs, mcpName: 'x' })}`],
      ['DELETE', `/v1/config/skills?${qs({ skillName: 'x' })}`],
      ['GET', `/v1/config/mcp?${qs({ directory: abs, mcpName: 'a' })}&mcpName=b`],
      ['GET', `/v1/config/skills?${qs({ directory: abs, skillName: 'a' })}&directory=b`],
    ];
    for (const [method, url] of cases) {
      assertErrorStatus(await request(srv, method, url), 400, `${method} ${url}`, { reference: IS_REFERENCE });
    }
    // Missing keys are checked before the body, whatever its content type.
    const res = await request(srv, 'PUT', `/v1/config/mcp?${qs({ mcpName: 'x' })}`, {
      body: 'not json',
      headers: { 'content-type': 'text/plain' },
    });
    assertErrorStatus(res, 400, 'query before body', { reference: IS_REFERENCE });
  });

  S.test('empty values get the reference problem, directory first', async (srv) => {
    const { abs } = project(srv);
    const expect = (res, key) => {
      assertProblem(res, 400, 'invalid_request');
      assert.deepEqual(res.json(), {
        type: 'urn:sandbox-agent:error:invalid_request',
        title: 'Invalid Request',
        status: 400,
        detail: `invalid request: missing required '${key}' query parameter`,
      });
    };
    for (const method of ['GET', 'DELETE']) {
      expect(await request(srv, method, mcpUrl('', 'x')), 'directory');
      expect(await request(srv, method, mcpUrl(abs, '')), 'mcpName');
      expect(await request(srv, method, mcpUrl('', '')), 'directory');
      expect(await request(srv, method, skillsUrl(abs, '')), 'skillName');
    }
    expect(await put(srv, mcpUrl('', 'x'), { type: 'local', command: 'c' }), 'directory');
    expect(await put(srv, skillsUrl(abs, ''), { sources: [] }), 'skillName');
    assert.equal(fs.existsSync(abs), false);
  });

  S.test('body errors come before the empty-value check (§2.8 order)', async (srv) => {
    let res = await put(srv, mcpUrl('', 'x'), { type: 'locl', command: 'c' });
    assertErrorStatus(res, 422, 'bad body, empty directory', { reference: IS_REFERENCE });
    res = await put(srv, mcpUrl('', 'x'), '{}', { 'content-type': 'text/plain' });
    assertErrorStatus(res, 415, 'wrong content type, empty directory', { reference: IS_REFERENCE });
  });

  S.test('unknown query keys are ignored', async (srv) => {
    const { abs } = project(srv);
    assert204(await put(srv, `${mcpUrl(abs, 'a')}&extra=1&path=/etc`, { type: 'local', command: 'c' }), 'put');
    assert.equal((await request(srv, 'GET', `${mcpUrl(abs, 'a')}&agent=x`)).status, 200);
  });

  S.test('non-UTF-8 or NUL in query values is a 400', { skip: OURS_ONLY }, async (srv) => {
    const { abs } = project(srv);
    for (const url of [
      `/v1/config/mcp?directory=${encodeURIComponent(abs)}&mcpName=s%FF`,
      `/v1/config/mcp?directory=${encodeURIComponent(abs)}%00&mcpName=s`,
      `/v1/config/skills?directory=${encodeURIComponent(abs)}&skillName=%C3`,
    ]) {
      assertProblem(await request(srv, 'GET', url), 400, 'invalid_request', url);
      assertProblem(await request(srv, 'PUT', url, { body: { sources: [] } }), 400, 'invalid_request', url);
    }
    assert.equal(fs.existsSync(abs), false);
  });
});

describe('PUT body validation (§8.2, §8.3, §2.8)', () => {
  S.test('framework errors: 415, 400, 422 with the same statuses as the reference', async (srv) => {
    const { abs } = project(srv);
    const url = mcpUrl(abs, 'x');
    const ref = { reference: IS_REFERENCE };
    assertErrorStatus(await put(srv, url, '{"type":"local","command":"c"}', { 'content-type': 'text/plain' }), 415, 'text/plain', ref);
    assertErrorStatus(await request(srv, 'PUT', url, { body: '{"type":"local","command":"c"}' }), 415, 'no content type', ref);
    assertErrorStatus(await put(srv, url, '{"type":"local",', { 'content-type': 'application/json' }), 400, 'truncated', ref);
    assertErrorStatus(await put(srv, url, '', { 'content-type': 'application/json' }), 400, 'empty', ref);
    assertErrorStatus(await put(srv, url, '{"type":"local","command":"\\ud800"}', { 'content-type': 'application/json' }), 400, 'lone surrogate', ref);
    assertErrorStatus(await put(srv, url, Buffer.from('{"type":"local","command":"\xff"}', 'latin1'), { 'content-type': 'application/json' }), 400, 'non-UTF-8', ref);
    assertErrorStatus(await put(srv, url, '{"type":"local","command":"c","x":1e400}', { 'content-type': 'application/json' }), 400, 'number overflow', ref);
    assertErrorStatus(await put(srv, url, '[]', { 'content-type': 'application/json' }), 422, 'array', ref);
    assertErrorStatus(await put(srv, url, '5', { 'content-type': 'application/json' }), 422, 'number', ref);
    // Any application/*+json counts as JSON.
    assert204(await put(srv, url, '{"type":"local","command":"c"}', { 'content-type': 'application/vnd.x+json; charset=utf-8' }), '+json');
  });

  S.test('McpServerConfig shapes the reference refuses are 422, and nothing is written', async (srv) => {
    const { abs } = project(srv);
    const bad = [
      { command: 'c' },
      { type: 'bogus', command: 'c' },
      { type: 'LOCAL', command: 'c' },
      { type: 5, command: 'c' },
      { type: null, command: 'c' },
      { type: 'local' },
      { type: 'local', command: null },
      { type: 'local', command: 5 },
      { type: 'local', command: ['a', 1] },
      { type: 'local', command: 'c', args: null },
      { type: 'local', command: 'c', args: 'a' },
      { type: 'local', command: 'c', args: ['a', null] },
      { type: 'local', command: 'c', env: [] },
      { type: 'local', command: 'c', env: { a: 1 } },
      { type: 'local', command: 'c', env: { a: null } },
      { type: 'local', command: 'c', enabled: 'true' },
      { type: 'local', command: 'c', enabled: 1 },
      { type: 'local', command: 'c', timeoutMs: -5 },
      { type: 'local', command: 'c', timeoutMs: 5.5 },
      { type: 'local', command: 'c', timeoutMs: '5' },
      { type: 'local', command: 'c', cwd: 5 },
      { type: 'remote' },
      { type: 'http', url: 5 },
      { type: 'remote', url: 'u', headers: { a: null } },
      { type: 'remote', url: 'u', envHeaders: 'x' },
      { type: 'remote', url: 'u', bearerTokenEnvVar: false },
      { type: 'remote', url: 'u', transport: 'ws' },
      { type: 'remote', url: 'u', transport: 'HTTP' },
      { type: 'remote', url: 'u', transport: 5 },
      { type: 'remote', url: 'u', oauth: 1 },
      { type: 'remote', url: 'u', oauth: 'x' },
      { type: 'remote', url: 'u', oauth: { clientId: 5 } },
      { type: 'remote', url: 'u', oauth: { scope: ['a'] } },
    ];
    for (const body of bad) {
      const res = await put(srv, mcpUrl(abs, 'x'), body);
      assertErrorStatus(res, 422, JSON.stringify(body), { reference: IS_REFERENCE });
    }
    // Floats are not integers, even when integral (serde's u64).
    const res = await put(srv, mcpUrl(abs, 'x'), '{"type":"local","command":"c","timeoutMs":5.0}', { 'content-type': 'application/json' });
    assertErrorStatus(res, 422, 'timeoutMs 5.0', { reference: IS_REFERENCE });
    assert.equal(fs.existsSync(abs), false, 'rejected PUTs create nothing');
  });

  S.test('422 problems say what is wrong', { skip: OURS_ONLY }, async (srv) => {
    const { abs } = project(srv);
    const detail = async (url, body) => {
      const res = await put(srv, url, body);
      return assertProblem(res, 422, 'invalid_request').detail;
    };
    const prefix = 'invalid request: failed to deserialize the JSON body into the target type: ';
    assert.equal(
      await detail(mcpUrl(abs, 'x'), { type: 'nope' }),
      `${prefix}type: unknown variant \`nope\`, expected one of \`local\`, \`stdio\`, \`http\`, \`remote\``,
    );
    assert.equal(await detail(mcpUrl(abs, 'x'), { type: 'local' }), `${prefix}missing field \`command\``);
    assert.equal(await detail(mcpUrl(abs, 'x'), { type: 'local', command: 'c', timeoutMs: -5 }), `${prefix}timeoutMs: invalid value: integer \`-5\`, expected u64`);
    assert.equal(await detail(mcpUrl(abs, 'x'), { type: 'local', command: 'c', env: { k: 1 } }), `${prefix}env.k: invalid type: integer \`1\`, expected a string`);
    assert.equal(
      await detail(skillsUrl(abs, 'x'), { sources: [{ type: 'a', source: 'b', skills: 'c' }] }),
      `${prefix}sources[0].skills: invalid type: string "c", expected a sequence`,
    );
  });

  S.test('null optionals are absent, unknown members dropped, aliases resolved', async (srv) => {
    const { abs } = project(srv);
    const cases = [
      [{ type: 'local', command: 'c', timeoutMs: null, enabled: null, cwd: null, env: null, url: 'u' }, { type: 'local', command: 'c', args: [] }],
      [
        { type: 'remote', url: 'u', headers: null, envHeaders: null, bearerTokenEnvVar: null, transport: null, oauth: null, command: 'x', args: ['a'] },
        { type: 'remote', url: 'u' },
      ],
      [{ type: 'remote', url: 'u', oauth: { clientId: null, scope: null, other: 1 } }, { type: 'remote', url: 'u', oauth: {} }],
      [{ type: 'http', url: 'u', transport: 'http' }, { type: 'remote', url: 'u', transport: 'http' }],
      [{ type: 'local', command: 'c', timeoutMs: 9007199254740991 }, { type: 'local', command: 'c', args: [], timeoutMs: 9007199254740991 }],
    ];
    for (const [body, expected] of cases) {
      assert204(await put(srv, mcpUrl(abs, 'x'), body), JSON.stringify(body));
      assert.deepEqual((await request(srv, 'GET', mcpUrl(abs, 'x'))).json(), expected);
    }
    // Integers up to int64 survive exactly (checked on the wire text, beyond JS precision).
    assert204(await put(srv, mcpUrl(abs, 'big'), '{"type":"local","command":"c","timeoutMs":9223372036854775807}', { 'content-type': 'application/json' }), 'big');
    assert.match((await request(srv, 'GET', mcpUrl(abs, 'big'))).text, /"timeoutMs":9223372036854775807}$/);
  });

  S.test('SkillsConfig shapes the reference refuses are 422', async (srv) => {
    const { abs } = project(srv);
    const bad = [
      {},
      { sources: null },
      { sources: {} },
      { sources: [1] },
      { sources: [null] },
      { sources: [{ source: 'x' }] },
      { sources: [{ type: 'x' }] },
      { sources: [{ type: null, source: 'x' }] },
      { sources: [{ type: 'x', source: 5 }] },
      { sources: [{ type: 'x', source: 'y', skills: 'a' }] },
      { sources: [{ type: 'x', source: 'y', skills: [1] }] },
      { sources: [{ type: 'x', source: 'y', ref: 5 }] },
      { sources: [{ type: 'x', source: 'y', subpath: [] }] },
      { sources: [{ type: 'x', source: 'y' }, { type: 'x' }] },
    ];
    for (const body of bad) {
      assertErrorStatus(await put(srv, skillsUrl(abs, 'x'), body), 422, JSON.stringify(body), { reference: IS_REFERENCE });
    }
    assert.equal(fs.existsSync(abs), false);
    // The free-form type accepts anything, empty strings included; null optionals vanish.
    assert204(await put(srv, skillsUrl(abs, 'x'), { sources: [{ type: '', source: '', skills: [], ref: null, subpath: null }] }), 'empty strings');
    assert.equal((await request(srv, 'GET', skillsUrl(abs, 'x'))).text, '{"sources":[{"type":"","source":"","skills":[]}]}');
  });

  S.test('duplicate member names are refused', { skip: OURS_ONLY }, async (srv) => {
    const { abs } = project(srv);
    const ct = { 'content-type': 'application/json' };
    for (const body of [
      '{"type":"local","command":"a","command":"b"}',
      '{"type":"local","type":"remote","url":"u","command":"c"}',
      '{"sources":[],"sources":[]}',
    ]) {
      const url = body.includes('sources') ? skillsUrl(abs, 'x') : mcpUrl(abs, 'x');
      assertProblem(await put(srv, url, body, ct), 422, 'invalid_request', body);
    }
    assert.equal(fs.existsSync(abs), false);
  });
});

describe('existing files (§8.1)', () => {
  const setup = (abs, text, which = mcpFile) => {
    fs.mkdirSync(path.dirname(which(abs)), { recursive: true });
    fs.writeFileSync(which(abs), text);
  };

  S.test('an invalid file is a 400 on GET, PUT and DELETE, and is left alone', async (srv) => {
    const { abs } = project(srv);
    const prefix = `invalid request: invalid config file ${mcpFile(abs)}: `;
    for (const text of [
      '{"a":',
      '[]',
      'null',
      '{} x',
      '{"a":1}',
      '\ufeff{}',
      '{"a":{"type":"local","command":"x"},"b":{"type":"nope"}}',
      '{"a":{"type":"local","command":"x"},"b":{"type":"remote"}}',
    ]) {
      setup(abs, text);
      for (const [method, body] of [['GET'], ['PUT', { type: 'local', command: 'c' }], ['DELETE']]) {
        const res = await request(srv, method, mcpUrl(abs, 'a'), { body });
        const problem = assertProblem(res, 400, 'invalid_request', `${method} ${text}`);
        assert.equal(problem.title, 'Invalid Request');
        assert.ok(problem.detail.startsWith(prefix), problem.detail);
        assert.ok(problem.detail.length > prefix.length, 'with the parser message');
      }
      assert.equal(fs.readFileSync(mcpFile(abs), 'utf8'), text, 'file untouched');
    }
    // Same for skills.
    setup(abs, '{"k":{"sources":[{"type":"a"}]}}', skillsFile);
    assertProblem(await request(srv, 'GET', skillsUrl(abs, 'other')), 400, 'invalid_request');
  });

  S.test('an empty or whitespace-only file is an empty map', async (srv) => {
    for (const text of ['', ' \n\t\r ']) {
      const { abs } = project(srv);
      setup(abs, text);
      assertEntryNotFound(await request(srv, 'GET', mcpUrl(abs, 'a')), 'mcp:a');
      assert204(await request(srv, 'DELETE', mcpUrl(abs, 'a')), 'delete');
      assert204(await put(srv, mcpUrl(abs, 'a'), { type: 'local', command: 'c' }), 'put');
      assert.equal(fs.readFileSync(mcpFile(abs), 'utf8'), pretty({ a: { type: 'local', command: 'c', args: [] } }));
    }
  });

  S.test('hand-written files are read leniently and rewritten normalised', async (srv) => {
    const { abs } = project(srv);
    setup(abs, '\n{"z":{"url":"u","type":"http","zz":[1]},"a":{"type":"stdio","command":"x","env":{"b":"1","a":"2"}}}\n\n');
    assert.equal((await request(srv, 'GET', mcpUrl(abs, 'z'))).text, '{"type":"remote","url":"u"}');
    assert204(await put(srv, mcpUrl(abs, 'm'), { type: 'local', command: 'c' }), 'put');
    assert.equal(
      fs.readFileSync(mcpFile(abs), 'utf8'),
      pretty({
        a: { type: 'local', command: 'x', args: [], env: { a: '2', b: '1' } },
        m: { type: 'local', command: 'c', args: [] },
        z: { type: 'remote', url: 'u' },
      }),
    );
  });

  S.test('unreadable paths are 502 stream_error with the OS message', async (srv) => {
    const { abs } = project(srv);
    const expect = (res, message) => {
      assertProblem(res, 502, 'stream_error');
      assert.deepEqual(res.json(), {
        type: 'urn:sandbox-agent:error:stream_error',
        title: 'Stream Error',
        status: 502,
        detail: `stream error: ${message}`,
        details: { message },
      });
    };
    // The config file is a directory.
    fs.mkdirSync(mcpFile(abs), { recursive: true });
    expect(await request(srv, 'GET', mcpUrl(abs, 'a')), 'Is a directory (os error 21)');
    expect(await put(srv, mcpUrl(abs, 'a'), { type: 'local', command: 'c' }), 'Is a directory (os error 21)');
    expect(await request(srv, 'DELETE', mcpUrl(abs, 'a')), 'Is a directory (os error 21)');
    // `directory` is a regular file (GET says 404, see above).
    const file = path.join(abs, 'plain');
    fs.writeFileSync(file, 'x');
    expect(await put(srv, mcpUrl(file, 'a'), { type: 'local', command: 'c' }), 'Not a directory (os error 20)');
    expect(await request(srv, 'DELETE', mcpUrl(file, 'a')), 'Not a directory (os error 20)');
    // Not UTF-8.
    setup(abs, Buffer.from('{"a":{"type":"local","command":"\xff"}}', 'latin1'), skillsFile);
    expect(await request(srv, 'GET', skillsUrl(abs, 'a')), 'stream did not contain valid UTF-8');
    expect(await request(srv, 'DELETE', skillsUrl(abs, 'a')), 'stream did not contain valid UTF-8');
  });

  S.test('a FIFO planted as the config file does not block the server', { skip: OURS_ONLY }, async (srv) => {
    const { abs } = project(srv);
    fs.mkdirSync(path.dirname(mcpFile(abs)), { recursive: true });
    execFileSync('mkfifo', [mcpFile(abs)]);
    for (const [method, body] of [['GET'], ['PUT', { type: 'local', command: 'c' }], ['DELETE']]) {
      assertProblem(await request(srv, method, mcpUrl(abs, 'a'), { body }), 502, 'stream_error', method);
    }
    assert.equal((await request(srv, 'GET', '/v1/health')).status, 200);
  });
});

describe('routes', () => {
  S.test('other methods get 405 with an allow header', async (srv) => {
    for (const p of ['/v1/config/mcp', '/v1/config/skills']) {
      const res = await request(srv, 'POST', `${p}?directory=/tmp&mcpName=x&skillName=x`);
      assert.equal(res.status, 405);
      assert.deepEqual(res.headers.allow.split(',').sort(), ['DELETE', 'GET', 'HEAD', 'PUT']);
    }
  });

  nodeTest.test('bearer auth applies to every config route (§2.4)', async () => {
    await withServer({ token: 'secret-token' }, async (srv) => {
      const dir = path.join(srv.home, 'authed');
      for (const [method, url, body] of [
        ['GET', mcpUrl(dir, 'a')],
        ['PUT', mcpUrl(dir, 'a'), { type: 'local', command: 'c' }],
        ['DELETE', mcpUrl(dir, 'a')],
        ['GET', skillsUrl(dir, 'a')],
        ['PUT', skillsUrl(dir, 'a'), { sources: [] }],
        ['DELETE', skillsUrl(dir, 'a')],
      ]) {
        assertProblem(await request(srv, method, url, { body, token: null }), 401, 'token_invalid', `${method} ${url}`);
      }
      assert.equal(fs.existsSync(dir), false);
      await withSdk(srv, {}, async (sdk) => {
        await sdk.setSkillsConfig({ directory: dir, skillName: 'a' }, { sources: [] });
        assert.deepEqual(await sdk.getSkillsConfig({ directory: dir, skillName: 'a' }), { sources: [] });
      });
    });
  });
});
