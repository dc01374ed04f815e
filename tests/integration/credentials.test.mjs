// `sandbox-agent credentials` (agents.md §7) and credentialsAvailable from credential files
// (agents.md §3): discovery order, the three output forms, exit codes and error lines, usage
// errors, malformed files, and — when the reference 0.4.2 binary is installed in
// tests/node_modules — byte-for-byte agreement with it on the same fixtures.
//
// Every run gets a private HOME (also its working directory) and an environment with every
// ANTHROPIC_*, OPENAI_*, CODEX_*, CLAUDE_*, SANDBOX_AGENT_* and XDG_* variable removed.
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test, after } from 'node:test';
import { BIN, REPO, IS_REFERENCE, OURS_ONLY, SANITIZED, withServer } from './lib/server.mjs';
import { request } from './lib/http.mjs';

const REF = path.join(REPO, 'tests/node_modules/@sandbox-agent/cli-linux-x64/bin/sandbox-agent');
const NO_REF = IS_REFERENCE ? 'the binary under test is the reference' : !fs.existsSync(REF) && 'reference binary not installed';
// The reference prints the fraction of a second with its trailing zeros removed.
const ERR_LINE = /^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{0,8}[1-9])?Z level=error target=sandbox_agent message="sandbox-agent failed" error="server error: (.*)"\n$/;

const homes = [];
after(() => {
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
});

/** A private HOME holding files ({relative path: string | Buffer}). */
function makeHome(files = {}) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-cred-'));
  homes.push(home);
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(home, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, typeof content === 'string' || Buffer.isBuffer(content) ? content : JSON.stringify(content));
  }
  return home;
}

function cleanEnv(home, extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(ANTHROPIC_|OPENAI_|CODEX_|CLAUDE_|SANDBOX_AGENT_|XDG_)/.test(k)) continue;
    env[k] = v;
  }
  env.HOME = home;
  for (const [k, v] of Object.entries(extra)) {
    if (v === null) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs `<bin> credentials ...args`; stderr has its timestamp replaced by "ts=X". */
function run(home, args, env = {}, bin = BIN) {
  const r = spawnSync(bin, ['credentials', ...args], { cwd: home, env: cleanEnv(home, env), timeout: 20000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  const stderr = r.stderr.toString('utf8');
  if (SANITIZED && bin === BIN) assert.doesNotMatch(stderr, /AddressSanitizer|runtime error:|LeakSanitizer/);
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr, raw: r.stdout };
}

/** The error message of a failure run (exit 1, nothing on stdout, one logfmt line). */
function failure(r) {
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '');
  const m = ERR_LINE.exec(r.stderr);
  assert.ok(m, `error line: ${JSON.stringify(r.stderr)}`);
  return m[1];
}

const extract = (home, args = [], env = {}) => run(home, ['extract', ...args], env);
const json = (home, args = [], env = {}) => {
  const r = extract(home, args, env);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
};
const cred = (provider, source, auth_type, api_key, redacted = false) => ({ provider, source, auth_type, api_key, redacted });

describe('credentials extract: output (§7.2)', () => {
  test('nothing found: the exact empty document', () => {
    const r = extract(makeHome());
    assert.equal(r.status, 0);
    assert.equal(r.stdout, '{\n  "anthropic": null,\n  "openai": null,\n  "other": {}\n}\n');
    assert.equal(r.stderr, '');
  });

  test('pretty JSON, two-space indent, key order, sk-t...cdef redaction', () => {
    const home = makeHome({ '.local/share/opencode/auth.json': { openrouter: { type: 'api', key: 'or-0123456789' } } });
    const r = extract(home, [], { ANTHROPIC_API_KEY: 'sk-test-abcdef' });
    assert.equal(r.status, 0);
    assert.equal(
      r.stdout,
      '{\n' +
        '  "anthropic": {\n    "provider": "anthropic",\n    "source": "environment",\n    "auth_type": "api_key",\n' +
        '    "api_key": "sk-t...cdef",\n    "redacted": true\n  },\n' +
        '  "openai": null,\n' +
        '  "other": {\n    "openrouter": {\n      "provider": "openrouter",\n      "source": "opencode",\n' +
        '      "auth_type": "api_key",\n      "api_key": "or-0...6789",\n      "redacted": true\n    }\n  }\n' +
        '}\n',
    );
  });

  test('redaction: trimmed, **** up to 8 bytes, --reveal prints the key untouched', () => {
    const home = makeHome();
    const key = (v, args = []) => json(home, args, { ANTHROPIC_API_KEY: v }).anthropic;
    assert.equal(key('12345678').api_key, '****');
    assert.equal(key('').api_key, '****');
    assert.equal(key('  123456789  ').api_key, '1234...6789');
    assert.equal(key('\t 12345678\u3000').api_key, '****');
    assert.equal(key('ééééééééé').api_key, 'éé...éé');
    assert.deepEqual(key('  123456789  ', ['-r']), cred('anthropic', 'environment', 'api_key', '  123456789  ', false));
    assert.deepEqual(key('x', ['--reveal']).redacted, false);
  });

  test('the reference panics when a cut splits a UTF-8 character; we back off', { skip: OURS_ONLY }, () => {
    assert.equal(json(makeHome(), [], { ANTHROPIC_API_KEY: 'aéééé' }).anthropic.api_key, 'aé...éé');
  });

  test('JSON escaping follows serde_json (control characters as \\u00xx, DEL and UTF-8 raw)', () => {
    const r = extract(makeHome(), ['-r'], { ANTHROPIC_API_KEY: 'a\tb"c\\d\x01e/f\x7fg<é>' });
    assert.ok(r.stdout.includes('"api_key": "a\\tb\\"c\\\\d\\u0001e/f\x7fg<é>",\n'), r.stdout);
  });
});

describe('discovery order (§7.1)', () => {
  test('environment: ANTHROPIC_API_KEY, CLAUDE_API_KEY, then the oauth variables; empty counts', () => {
    const home = makeHome();
    const a = (env, args = ['-r']) => json(home, args, env).anthropic;
    assert.deepEqual(a({ ANTHROPIC_API_KEY: '', CLAUDE_API_KEY: 'c' }), cred('anthropic', 'environment', 'api_key', ''));
    assert.deepEqual(a({ CLAUDE_API_KEY: 'c', CLAUDE_CODE_OAUTH_TOKEN: 'o' }), cred('anthropic', 'environment', 'api_key', 'c'));
    assert.deepEqual(a({ CLAUDE_CODE_OAUTH_TOKEN: 'o1', ANTHROPIC_AUTH_TOKEN: 'o2' }), cred('anthropic', 'environment', 'oauth', 'o1'));
    assert.deepEqual(a({ ANTHROPIC_AUTH_TOKEN: 'o2' }), cred('anthropic', 'environment', 'oauth', 'o2'));
    assert.equal(a({ ANTHROPIC_AUTH_TOKEN: 'o2' }, ['-r', '--no-oauth']), null);
    const o = json(home, ['-r'], { OPENAI_API_KEY: 'o', CODEX_API_KEY: 'c' }).openai;
    assert.deepEqual(o, cred('openai', 'environment', 'api_key', 'o'));
    assert.deepEqual(json(home, ['-r'], { CODEX_API_KEY: 'c' }).openai, cred('openai', 'environment', 'api_key', 'c'));
  });

  test('amp: first non-empty string of the listed keys, nested ones included', () => {
    const cases = [
      [{ anthropicApiKey: '', apiKey: 'a2' }, 'a2'],
      [{ anthropicApiKey: 5, token: 'a3' }, 'a3'],
      [{ auth: { token: 'n1', apiKey: 'n2' } }, 'n2'],
      [{ anthropic: { apiKey: 'x' }, auth: { token: 'z' } }, 'z'],
      [{ 'auth.token': 'dotted' }, null],
    ];
    for (const [cfg, want] of cases) {
      const got = json(makeHome({ '.amp/config.json': cfg }), ['-r']).anthropic;
      assert.deepEqual(got, want === null ? null : cred('anthropic', 'amp', 'api_key', want), JSON.stringify(cfg));
    }
  });

  test('Claude Code: sk-ant- keys from .claude.json.api, .claude.json, .claude.json.nathan, then oauth', () => {
    let home = makeHome({
      '.claude.json': { primaryApiKey: 'sk-other', customApiKey: 'sk-ant-c' },
      '.claude.json.api': { apiKey: 'not-sk-ant' },
      '.claude/.credentials.json': { claudeAiOauth: { accessToken: 'oa1' } },
    });
    assert.deepEqual(json(home, ['-r']).anthropic, cred('anthropic', 'claude-code', 'api_key', 'sk-ant-c'));
    home = makeHome({
      '.claude/.credentials.json': { claudeAiOauth: { accessToken: 'oa1', expiresAt: '2000-01-01T00:00:00Z' } },
      '.claude-oauth-credentials.json': { claudeAiOauth: { accessToken: 'oa2', expiresAt: '2999-01-01T00:00:00+01:00' } },
    });
    assert.deepEqual(json(home, ['-r']).anthropic, cred('anthropic', 'claude-code', 'oauth', 'oa2'));
    assert.equal(json(home, ['-r', '--no-oauth']).anthropic, null);
    // A numeric or unparsable expiresAt is not checked (0.4.2).
    home = makeHome({ '.claude/.credentials.json': { claudeAiOauth: { accessToken: 'oa1', expiresAt: 1 } } });
    assert.equal(json(home, ['-r']).anthropic.api_key, 'oa1');
    // amp comes first.
    home = makeHome({ '.amp/config.json': { apiKey: 'amp' }, '.claude.json': { primaryApiKey: 'sk-ant-k' } });
    assert.equal(json(home, ['-r']).anthropic.source, 'amp');
  });

  test('codex: a non-empty OPENAI_API_KEY, else tokens.access_token (oauth)', () => {
    let home = makeHome({ '.codex/auth.json': { OPENAI_API_KEY: '', tokens: { access_token: 'at' } } });
    assert.deepEqual(json(home, ['-r']).openai, cred('openai', 'codex', 'oauth', 'at'));
    assert.equal(json(home, ['-r', '--no-oauth']).openai, null);
    home = makeHome({ '.codex/auth.json': { OPENAI_API_KEY: 'ck', tokens: { access_token: 'at' } } });
    assert.deepEqual(json(home, ['-r']).openai, cred('openai', 'codex', 'api_key', 'ck'));
    assert.equal(json(home, ['-r'], { OPENAI_API_KEY: 'env' }).openai.source, 'environment');
  });

  test('opencode: api and oauth entries, integer expiry checked, slots filled only when empty', () => {
    const home = makeHome({
      '.codex/auth.json': { OPENAI_API_KEY: 'ck' },
      '.local/share/opencode/auth.json': {
        anthropic: { type: 'api', key: 'k1' },
        openai: { type: 'api', key: 'ignored' },
        openrouter: { type: 'oauth', access: 'expired', expires: 1 },
        groq: { type: 'oauth', access: 'g', expires: Date.now() + 3600e3 },
        mistral: { type: 'oauth', access: 'm', expires: 1.5 },
        x: { type: 'wellknown', key: 'z' },
        y: 'str',
      },
    });
    const doc = json(home, ['-r']);
    assert.deepEqual(doc.anthropic, cred('anthropic', 'opencode', 'api_key', 'k1'));
    assert.deepEqual(doc.openai, cred('openai', 'codex', 'api_key', 'ck'));
    assert.deepEqual(doc.other, { groq: cred('groq', 'opencode', 'oauth', 'g'), mistral: cred('mistral', 'opencode', 'oauth', 'm') });
    assert.deepEqual(Object.keys(json(home, ['-r', '--no-oauth']).other), []);
  });

  test('XDG_DATA_HOME is not used for opencode; --home-dir replaces HOME', () => {
    const home = makeHome({ 'xdg/opencode/auth.json': { openai: { type: 'api', key: 'x' } }, 'alt/.codex/auth.json': { OPENAI_API_KEY: 'alt' } });
    assert.equal(json(home, [], { XDG_DATA_HOME: path.join(home, 'xdg') }).openai, null);
    assert.equal(json(home, ['-r', '-d', path.join(home, 'alt')]).openai.api_key, 'alt');
    assert.equal(json(home, ['-r', '--home-dir=alt']).openai.api_key, 'alt'); // relative to the cwd
  });
});

describe('credentials extract --agent / --provider (§7.3)', () => {
  const oc = { '.local/share/opencode/auth.json': { zeta: { type: 'api', key: 'ze' }, groq: { type: 'api', key: 'gq' } } };

  test('raw token and a newline, never redacted', () => {
    const home = makeHome(oc);
    const env = { ANTHROPIC_API_KEY: ' sk-ant-raw ', OPENAI_API_KEY: 'sk-openai-raw' };
    const r = extract(home, ['-a', 'claude'], env);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, ' sk-ant-raw \n', '']);
    assert.equal(extract(home, ['-a', 'amp', '-p', 'anthropic'], env).stdout, ' sk-ant-raw \n');
    assert.equal(extract(home, ['--agent=codex'], env).stdout, 'sk-openai-raw\n');
    assert.equal(extract(home, ['-a', 'opencode'], env).stdout, 'sk-openai-raw\n');
    assert.equal(extract(home, ['-a', 'opencode'], { ANTHROPIC_API_KEY: 'a' }).stdout, 'a\n');
    assert.equal(extract(home, ['-aopencode', '-p', 'groq'], env).stdout, 'gq\n');
    assert.equal(extract(home, ['-p', 'zeta']).stdout, 'ze\n');
    assert.equal(extract(makeHome({ '.local/share/opencode/auth.json': { groq: { type: 'api', key: 'gq' } } }), ['-a', 'opencode']).stdout, 'gq\n');
  });

  test('errors: exit 1, the logfmt line, nothing on stdout', () => {
    const home = makeHome(oc);
    assert.equal(failure(extract(home, ['-a', 'opencode'])), 'multiple providers available for opencode: groq, zeta (use --provider)');
    assert.equal(failure(extract(makeHome(), ['-a', 'opencode'])), 'no credentials found for opencode');
    assert.equal(failure(extract(home, ['-a', 'claude', '-p', 'groq'])), 'agent Claude only supports provider anthropic');
    assert.equal(failure(extract(home, ['-a', 'amp', '-p', 'openai'])), 'agent Amp only supports provider anthropic');
    assert.equal(failure(extract(home, ['-a', 'codex', '-p', 'anthropic'])), 'agent Codex only supports provider openai');
    assert.equal(failure(extract(home, ['-a', 'claude'])), 'no credentials found for provider anthropic');
    assert.equal(failure(extract(home, ['-a', 'codex'])), 'no credentials found for provider openai');
    assert.equal(failure(extract(home, ['-p', 'ZETA'])), 'no credentials found for provider ZETA');
    assert.equal(failure(extract(home, ['-p', 'a"b\\c\n'])), 'no credentials found for provider a\\"b\\\\c\\n');
  });
});

describe('credentials extract-env (§7.4)', () => {
  test('NAME=value lines, --export prefix, provider names upper-cased with - as _', () => {
    const home = makeHome({
      '.local/share/opencode/auth.json': { 'github-copilot': { type: 'api', key: 'gh' }, 'amazon.bedrock': { type: 'api', key: 'ab' } },
    });
    const env = { ANTHROPIC_API_KEY: 'a b', CODEX_API_KEY: 'c=d' };
    let r = run(home, ['extract-env'], env);
    assert.equal(r.status, 0);
    const lines = r.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 4), ['ANTHROPIC_API_KEY=a b', 'CLAUDE_API_KEY=a b', 'OPENAI_API_KEY=c=d', 'CODEX_API_KEY=c=d']);
    assert.deepEqual(lines.slice(4).sort(), ['', 'AMAZON.BEDROCK_API_KEY=ab', 'GITHUB_COPILOT_API_KEY=gh']);
    r = run(home, ['extract-env', '-e', '--no-oauth'], { OPENAI_API_KEY: 'o' });
    assert.ok(r.stdout.startsWith('export OPENAI_API_KEY=o\nexport CODEX_API_KEY=o\n'), r.stdout);
    assert.equal(run(makeHome(), ['extract-env', '--export']).stdout, '');
  });
});

describe('credentials: command line', () => {
  test('help texts and usage errors (exit 2)', () => {
    const home = makeHome();
    const top = run(home, ['--help']);
    assert.equal(top.status, 0);
    assert.match(top.stdout, /^Inspect locally discovered credentials\n\nUsage: sandbox-agent credentials \[OPTIONS\] <COMMAND>\n/);
    const bare = run(home, []);
    assert.equal(bare.status, 2);
    assert.equal(bare.stderr, top.stdout);
    assert.match(run(home, ['extract', '-h']).stdout, /^ {2}-a, --agent <AGENT> {8}\[possible values: claude, codex, opencode, amp\]$/m);
    assert.match(run(home, ['help', 'extract-env']).stdout, /^ {2}-e, --export {15}$/m);
    const usage = (args, text) => {
      const r = run(home, args);
      assert.equal(r.status, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, text);
    };
    usage(['bogus'], "error: unrecognized subcommand 'bogus'\n\nUsage: sandbox-agent credentials [OPTIONS] <COMMAND>\n\nFor more information, try '--help'.\n");
    usage(['extract', '--foo'], "error: unexpected argument '--foo' found\n\nUsage: sandbox-agent credentials extract [OPTIONS]\n\nFor more information, try '--help'.\n");
    usage(['extract', '-a', 'pi'], "error: invalid value 'pi' for '--agent <AGENT>'\n  [possible values: claude, codex, opencode, amp]\n\nFor more information, try '--help'.\n");
    usage(['extract-env', '-e', '-e'], "error: the argument '--export' cannot be used multiple times\n\nUsage: sandbox-agent credentials extract-env [OPTIONS]\n\nFor more information, try '--help'.\n");
    // The global -t/-n are accepted and ignored.
    assert.equal(run(home, ['-t', 'tok', 'extract', '-n']).status, 0);
  });
});

describe('malformed credential files', () => {
  test('invalid JSON, wrong types, directories and symlink loops are skipped', () => {
    const home = makeHome({
      '.amp/config.json': '{"apiKey":',
      '.claude.json': '[1,2,3]',
      '.codex/auth.json': '{"OPENAI_API_KEY":5,"tokens":"x"}',
      '.local/share/opencode/auth.json': '{"a":{"type":"api","key":"k"},}',
      '.claude/.credentials.json': Buffer.from([0xff, 0xfe, 0x7b]),
    });
    fs.mkdirSync(path.join(home, '.claude.json.api'));
    fs.symlinkSync(path.join(home, 'loop2'), path.join(home, 'loop1'));
    fs.symlinkSync(path.join(home, 'loop1'), path.join(home, 'loop2'));
    fs.symlinkSync(path.join(home, 'loop1'), path.join(home, '.claude.json.nathan'));
    assert.deepEqual(json(home), { anthropic: null, openai: null, other: {} });
  });

  test('files over 8 MiB are not read (the reference reads any size)', { skip: OURS_ONLY }, () => {
    const home = makeHome({ '.local/share/opencode/auth.json': '{"a":{"type":"api","key":"' + 'k'.repeat(8 << 20) + '"}}' });
    assert.deepEqual(json(home).other, {});
    const small = makeHome({ '.local/share/opencode/auth.json': '{"a":{"type":"api","key":"' + 'k'.repeat(1 << 20) + '"}}' });
    assert.equal(json(small, ['-r']).other.a.api_key.length, 1 << 20);
  });

  test('a FIFO at a credential path does not block (the reference hangs)', { skip: OURS_ONLY }, async () => {
    const home = makeHome({ '.claude-oauth-credentials.json': { claudeAiOauth: { accessToken: 'oa2' } } });
    const fifo = spawnSync('mkfifo', [path.join(home, '.claude.json')]);
    if (fifo.status !== 0) return;
    // Asynchronous, so a hang is caught by the timeout instead of freezing the test runner.
    const child = spawn(BIN, ['credentials', 'extract', '-a', 'claude'], { cwd: home, env: cleanEnv(home) });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    const code = await new Promise((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    assert.equal(code, 0);
    assert.equal(out, 'oa2\n');
  });
});

describe('credentialsAvailable follows the credential files (§3)', () => {
  const NO_CREDS = {
    ANTHROPIC_API_KEY: null, CLAUDE_API_KEY: null, CLAUDE_CODE_OAUTH_TOKEN: null, ANTHROPIC_AUTH_TOKEN: null,
    OPENAI_API_KEY: null, CODEX_API_KEY: null,
  };
  const available = async (srv) =>
    Object.fromEntries((await request(srv, 'GET', '/v1/agents')).json().agents.map((a) => [a.id, a.credentialsAvailable]));
  const write = (home, rel, obj) => {
    fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
    fs.writeFileSync(path.join(home, rel), JSON.stringify(obj));
  };

  test('re-read on every request: opencode other-only, Claude oauth file, codex file', () =>
    withServer({ env: NO_CREDS }, async (srv) => {
      const base = { pi: true, cursor: true, mock: true };
      write(srv.home, '.local/share/opencode/auth.json', { groq: { type: 'api', key: 'g' } });
      assert.deepEqual(await available(srv), { claude: false, codex: false, opencode: false, amp: false, ...base });
      write(srv.home, '.claude/.credentials.json', { claudeAiOauth: { accessToken: 'x' } });
      assert.deepEqual(await available(srv), { claude: true, codex: false, opencode: true, amp: true, ...base });
      fs.rmSync(path.join(srv.home, '.claude'), { recursive: true });
      write(srv.home, '.codex/auth.json', { OPENAI_API_KEY: 'k' });
      assert.deepEqual(await available(srv), { claude: false, codex: true, opencode: true, amp: false, ...base });
      assert.equal((await request(srv, 'GET', '/v1/agents/codex')).json().credentialsAvailable, true);
    }));
});

// ---- byte-for-byte comparison with the reference binary ---------------------------------------

const FIXTURES = [
  ['env api key', {}, { ANTHROPIC_API_KEY: 'sk-test-abcdef', CODEX_API_KEY: '  123456789  ' }],
  ['env oauth', {}, { CLAUDE_CODE_OAUTH_TOKEN: 'oauth-token-1', ANTHROPIC_AUTH_TOKEN: 'x', OPENAI_API_KEY: '' }],
  ['env escapes', {}, { ANTHROPIC_API_KEY: 'a\tb"c\\d\x01e/f\x7fg<é>\u2028', OPENAI_API_KEY: '\u3000ééééééééé\u00a0' }],
  ['amp nested', { '.amp/config.json': { anthropicApiKey: '', auth: 'x', anthropic: { token: 'amp-anthropic-token' } } }, {}],
  ['claude files', { '.claude.json': { primaryApiKey: 'sk-other', customApiKey: 'sk-ant-custom-key' }, '.claude.json.api': '{bad' }, {}],
  [
    'claude oauth expiry',
    {
      '.claude/.credentials.json': { claudeAiOauth: { accessToken: 'expired', expiresAt: '1999-12-31T23:59:60Z' } },
      '.claude-oauth-credentials.json': { claudeAiOauth: { accessToken: 'kept-token', expiresAt: '2000-01-01T00:00:60Z' } },
    },
    {},
  ],
  ['claude empty oauth token', { '.claude/.credentials.json': { claudeAiOauth: { accessToken: '' } } }, {}],
  ['codex oauth', { '.codex/auth.json': { OPENAI_API_KEY: '', tokens: { access_token: 'codex-access-token' } } }, {}],
  [
    'opencode one other',
    {
      '.local/share/opencode/auth.json': {
        anthropic: { type: 'oauth', access: 'x', expires: 1 },
        openai: { type: 'oauth', access: 'oc-openai', expires: 9223372036854775807n },
        'github-copilot': { type: 'oauth', access: 'gh-token-abcdef', expires: 1.5 },
        other: { type: 'wellknown', key: 'x' },
      },
    },
    {},
  ],
  ['big integers and NUL escapes', { '.claude.json': '{"primaryApiKey":"sk-ant-\\u0000k","n":123456789012345678901234567890,"x\\u0000":1}' }, {}],
  ['deep nesting', { '.amp/config.json': '{"apiKey":"deep","x":' + '['.repeat(127) + ']'.repeat(127) + '}', '.claude.json': { primaryApiKey: 'sk-ant-shallow' } }, {}],
];
const ARGS = [
  ['extract'],
  ['extract', '-r'],
  ['extract', '--no-oauth'],
  ['extract-env'],
  ['extract-env', '-e', '--no-oauth'],
  ['extract', '-a', 'claude'],
  ['extract', '-a', 'codex'],
  ['extract', '-a', 'opencode'],
  ['extract', '-p', 'github-copilot'],
];
const USAGE = [
  [], ['--help'], ['help', 'extract'], ['help', 'help'], ['help', 'bogus'], ['bogus'], ['-t', 'x', '-t', 'y', 'extract'],
  ['extract', '-rn'], ['extract', '-a'], ['extract', '-a', ''], ['extract', '-a=claude'], ['extract', '-ra'], ['extract', '-p', '-r'],
  ['extract', '-p', '-5'], ['extract', '--reveal=1'], ['extract', '-r=x'], ['extract', '-d', ''], ['extract', '--', '-r'],
  ['extract-env', '-r'], ['extract-env', '--help'], ['extract', '-a', 'claude', '-a', 'codex'], ['--help=x'],
];

const stringify = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `@@${x}@@` : x)).replace(/"@@(\d+)@@"/g, '$1');

describe('agreement with the reference 0.4.2 binary', { skip: NO_REF }, () => {
  for (const [name, files, env] of FIXTURES) {
    test(`same output: ${name}`, () => {
      const home = makeHome(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? v : stringify(v)])));
      for (const args of ARGS) {
        const ours = run(home, args, env);
        const ref = run(home, args, env, REF);
        const label = `${name}: credentials ${args.join(' ')}`;
        assert.equal(ours.status, ref.status, label);
        assert.ok(ours.raw.equals(ref.raw), `${label}\nours: ${JSON.stringify(ours.stdout)}\nref:  ${JSON.stringify(ref.stdout)}`);
        assert.equal(ours.stderr.replace(/^ts=\S+/, 'ts=X'), ref.stderr.replace(/^ts=\S+/, 'ts=X'), label);
      }
    });
  }

  test('same result with several opencode providers (their order is not stable in the reference)', () => {
    const home = makeHome({
      '.local/share/opencode/auth.json': stringify({
        openrouter: { type: 'api', key: 'or-0123456789' }, groq: { type: 'api', key: 'g' }, 'amazon.bedrock': { type: 'api', key: 'ab-ab-ab-ab' },
      }),
    });
    for (const args of [['extract'], ['extract', '-r']]) {
      assert.deepEqual(JSON.parse(run(home, args).stdout), JSON.parse(run(home, args, {}, REF).stdout));
    }
    const lines = (r) => r.stdout.split('\n').sort();
    assert.deepEqual(lines(run(home, ['extract-env', '-e'])), lines(run(home, ['extract-env', '-e'], {}, REF)));
    const a = run(home, ['extract', '-a', 'opencode']);
    const b = run(home, ['extract', '-a', 'opencode'], {}, REF);
    assert.equal(a.stderr.replace(/^ts=\S+/, ''), b.stderr.replace(/^ts=\S+/, ''));
  });

  test('same usage errors, help texts and exit codes', () => {
    const home = makeHome();
    for (const args of USAGE) {
      const ours = run(home, args);
      const ref = run(home, args, {}, REF);
      const label = `credentials ${args.join(' ')}`;
      assert.equal(ours.status, ref.status, label);
      assert.equal(ours.stdout, ref.stdout, label);
      assert.equal(ours.stderr.replace(/^ts=\S+/, 'ts=X'), ref.stderr.replace(/^ts=\S+/, 'ts=X'), label);
    }
  });
});
