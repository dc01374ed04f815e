// ui_logic_files.test.mjs - the pure logic behind the Files and MCP & Skills panels:
// web/js/tar.js (its archives are read back by GNU tar and by our server's upload-batch),
// web/js/fspath.js (paths, order, text/image detection) and web/js/configcheck.js (the
// editor's JSON parser and its mirror of the server's config schema, compared with what
// our server answers for the same bodies).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { buildTar, splitName } from '../../web/js/tar.js';
import { breadcrumbs, classify, joinPath, parentPath, sortEntries, looksLikeText } from '../../web/js/fspath.js';
import { checkConfig, parseJson } from '../../web/js/configcheck.js';
import { startServer } from './lib/server.mjs';

const enc = new TextEncoder();

test('tar: GNU tar lists and extracts what buildTar writes', () => {
  const big = new Uint8Array(1500).map((_, i) => i % 251);
  const long = 'd'.repeat(60) + '/' + 'e'.repeat(60) + '/file-with-a-long-name.txt';
  const tar = buildTar([
    { name: 'dir', dir: true },
    { name: 'dir/hello.txt', data: enc.encode('hello\n'), mtime: 1700000000 },
    { name: 'big.bin', data: big, mtime: 1700000000, mode: 0o600 },
    { name: long, data: enc.encode('x') },
    { name: 'empty', data: new Uint8Array(0) },
  ], 1700000000000);
  assert.equal(tar.length % 512, 0);
  const list = execFileSync('tar', ['-tvf', '-'], { input: tar }).toString().trim().split('\n');
  assert.equal(list.length, 5, list.join('\n'));
  assert.match(list[0], /^drwxr-xr-x .* 0 2023-11-1\d \d\d:\d\d dir\/$/);
  assert.match(list[1], /^-rw-r--r-- .* 6 2023-11-1\d \d\d:\d\d dir\/hello\.txt$/);
  assert.match(list[2], /^-rw------- .* 1500 .* big\.bin$/);
  assert.ok(list[3].endsWith(' ' + long), list[3]);
  assert.match(list[4], / 0 .* empty$/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-tar-'));
  try {
    execFileSync('tar', ['-xf', '-', '-C', dir], { input: tar });
    assert.equal(fs.readFileSync(path.join(dir, 'dir/hello.txt'), 'utf8'), 'hello\n');
    assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(dir, 'big.bin'))), big);
    assert.equal(fs.readFileSync(path.join(dir, long), 'utf8'), 'x');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('tar: refuses names the server would refuse or that ustar cannot hold', () => {
  assert.throws(() => buildTar([{ name: '/etc/x', data: new Uint8Array(1) }]), /absolute/);
  assert.throws(() => buildTar([{ name: 'a/../b', data: new Uint8Array(1) }]), /'\.\.'/);
  assert.throws(() => buildTar([{ name: '', data: new Uint8Array(1) }]), /empty/);
  assert.throws(() => splitName('x'.repeat(101)), /too long/);
  assert.deepEqual(splitName('a/' + 'b'.repeat(100)), { prefix: 'a', name: 'b'.repeat(100) });
  // Names are UTF-8 in the header, and GNU tar reads them back.
  const t = buildTar([{ name: 'café ünï.txt', data: enc.encode('é') }]);
  assert.match(execFileSync('tar', ['-tf', '-'], { input: t }).toString(), /^café ünï\.txt\n$/);
});

test('tar: our server extracts a browser-built archive', async () => {
  const srv = await startServer();
  try {
    const tar = buildTar([{ name: 'one.txt', data: enc.encode('1') }, { name: 'sub/two.txt', data: enc.encode('22') }]);
    const r = await fetch(`${srv.baseUrl}/v1/fs/upload-batch?path=up`, { method: 'POST', headers: { 'content-type': 'application/x-tar' }, body: tar });
    assert.equal(r.status, 200, await r.clone().text());
    const j = await r.json();
    assert.deepEqual(j.paths.map((p) => path.relative(srv.home, p)), ['up/one.txt', 'up/sub/two.txt']);
    assert.equal(fs.readFileSync(path.join(srv.home, 'up/sub/two.txt'), 'utf8'), '22');
  } finally {
    await srv.stop();
  }
});

test('fspath: joins, parents, breadcrumbs and the listing order', () => {
  assert.equal(joinPath('/a/b', 'c'), '/a/b/c');
  assert.equal(joinPath('/', 'c'), '/c');
  assert.equal(joinPath('/a/', '/x//y/'), '/x/y');
  assert.equal(parentPath('/a/b'), '/a');
  assert.equal(parentPath('/a'), '/');
  assert.equal(parentPath('/'), '/');
  assert.deepEqual(breadcrumbs('/home/u/'), [{ name: '/', path: '/' }, { name: 'home', path: '/home' }, { name: 'u', path: '/home/u' }]);
  const sorted = sortEntries([
    { name: 'b.txt', entryType: 'file' }, { name: 'Zdir', entryType: 'directory' },
    { name: 'a10', entryType: 'file' }, { name: 'a9', entryType: 'file' }, { name: 'adir', entryType: 'directory' },
  ]).map((e) => e.name);
  assert.deepEqual(sorted, ['adir', 'Zdir', 'a9', 'a10', 'b.txt']);
});

test('fspath: text, images and binaries are told apart', () => {
  assert.deepEqual(classify('a.txt', enc.encode('hello\tworld\n')), { kind: 'text' });
  assert.deepEqual(classify('a.md', enc.encode('ünïcödé ✓')), { kind: 'text' });
  assert.deepEqual(classify('x.png', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0])), { kind: 'image', mime: 'image/png' });
  assert.deepEqual(classify('noext', new Uint8Array([0xff, 0xd8, 0xff, 0xe0])), { kind: 'image', mime: 'image/jpeg' });
  assert.deepEqual(classify('i.svg', enc.encode('<svg xmlns="http://www.w3.org/2000/svg"/>')), { kind: 'image', mime: 'image/svg+xml' });
  assert.deepEqual(classify('a.bin', new Uint8Array([1, 2, 0, 4])), { kind: 'binary' });
  assert.deepEqual(classify('latin1.txt', new Uint8Array([0x63, 0x61, 0x66, 0xe9])), { kind: 'binary' });
  // A multi-byte character cut by the 64 KiB window does not make a text file binary.
  const s = enc.encode('a'.repeat(65535) + 'é');
  assert.equal(looksLikeText(s), true);
});

test('configcheck: JSON errors carry line and column; duplicates and big integers refused', () => {
  let r = parseJson('{\n  "a": 1,\n  "b": [1, 2,,]\n}');
  assert.equal(r.ok, false);
  assert.deepEqual([r.line, r.column], [3, 14]);
  assert.match(r.error, /expected a value at line 3 column 14/);
  r = parseJson('{"a": 1, "a": 2}');
  assert.equal(r.ok, false);
  assert.match(r.error, /duplicate member name "a" at line 1 column 10/);
  r = parseJson('{"a": 1');
  assert.equal(r.ok, false);
  assert.match(r.error, /unterminated object/);
  assert.equal(parseJson('{"t": 99999999999999999999}').ok, false);
  assert.equal(parseJson('[1, 2] x').ok, false);
  assert.deepEqual(parseJson(' {"s": "\\u00e9\\n", "n": -1, "z": null} ').value, { s: 'é\n', n: -1, z: null });
  assert.equal(parseJson('{"__proto__": 1}').value.__proto__, 1);
});

test('configcheck: the MCP and skills schemas, with the server\'s wording', () => {
  const mcp = (v) => checkConfig('mcp', typeof v === 'string' ? v : JSON.stringify(v));
  assert.deepEqual(mcp({ type: 'stdio', command: 'node', env: null, x: 1 }),
    { ok: true, value: { type: 'local', command: 'node', args: [] }, warnings: ['x: unknown member, the server will drop it'] });
  assert.equal(mcp({ type: 'http', url: 'u', oauth: false, transport: 'sse' }).ok, true);
  assert.equal(mcp({ type: 'local', command: ['a', 'b'] }).ok, true);
  const errs = [
    [{ command: 'x' }, 'missing field `type`'],
    [{ type: 'ftp' }, 'type: unknown variant `ftp`, expected one of `local`, `stdio`, `http`, `remote`'],
    [{ type: 'local' }, 'missing field `command`'],
    [{ type: 'local', command: 'x', args: null }, 'args: invalid type: null, expected a sequence'],
    [{ type: 'local', command: 'x', args: [1] }, 'args[0]: invalid type: integer `1`, expected a string'],
    [{ type: 'local', command: 'x', env: { A: 1 } }, 'env.A: invalid type: integer `1`, expected a string'],
    [{ type: 'local', command: 'x', timeoutMs: -1 }, 'timeoutMs: invalid value: integer `-1`, expected u64'],
    [{ type: 'local', command: 7 }, 'command: data did not match any variant of untagged enum McpCommand'],
    [{ type: 'remote', url: 'u', transport: 'ws' }, 'transport: unknown variant `ws`, expected `http` or `sse`'],
    [{ type: 'remote', url: 'u', oauth: { scope: 1 } }, 'oauth: data did not match any variant of untagged enum McpOAuthConfigOrDisabled'],
    [[], 'invalid type: sequence, expected internally tagged enum McpServerConfig'],
  ];
  for (const [v, msg] of errs) assert.deepEqual([mcp(v).ok, mcp(v).error], [false, msg], JSON.stringify(v));
  assert.equal(mcp('{"type":"local","command":"x","timeoutMs":5.0}').error, 'timeoutMs: invalid type: floating point `5.0`, expected u64');

  const sk = (v) => checkConfig('skills', JSON.stringify(v));
  assert.equal(sk({ sources: [] }).ok, true);
  assert.equal(sk({ sources: [{ type: 'github', source: 'a/b', skills: ['x'], ref: 'main', subpath: 's' }] }).ok, true);
  assert.equal(sk({}).error, 'missing field `sources`');
  assert.equal(sk({ sources: [{ type: 'git' }] }).error, 'sources[0]: missing field `source`');
  assert.equal(sk({ sources: [5] }).error, 'sources[0]: invalid type: integer `5`, expected struct SkillSource');
  assert.deepEqual(sk({ sources: [{ type: 'a', source: 'b', q: 1 }] }).warnings, ['sources[0].q: unknown member, the server will drop it']);
});

test('configcheck agrees with our server on which bodies are accepted', async () => {
  const srv = await startServer();
  try {
    const bodies = [
      ['mcp', '{"type":"stdio","command":"node","args":[]}'],
      ['mcp', '{"type":"local","command":"x","timeoutMs":5.0}'],
      ['mcp', '{"type":"remote","url":"u","oauth":{"clientId":"c"},"headers":{"a":"b"}}'],
      ['mcp', '{"type":"remote","url":"u","oauth":{"clientId":3}}'],
      ['mcp', '{"type":"local","command":"x","command":"y"}'],
      ['mcp', '{"type":"ftp"}'],
      ['mcp', '{"type":"local","command":"x","env":{"A":null}}'],
      ['skills', '{"sources":[{"type":"github","source":"a/b"}]}'],
      ['skills', '{"sources":[{"type":"github"}]}'],
      ['skills', '{"sources":null}'],
    ];
    for (const [kind, body] of bodies) {
      const name = kind === 'mcp' ? 'mcpName' : 'skillName';
      const r = await fetch(`${srv.baseUrl}/v1/config/${kind}?directory=${encodeURIComponent(srv.home)}&${name}=n`, {
        method: 'PUT', headers: { 'content-type': 'application/json' }, body,
      });
      const text = await r.text();
      const ours = checkConfig(kind, body);
      assert.equal(ours.ok, r.status === 204, `${kind} ${body}: server ${r.status} ${text}; ours ${JSON.stringify(ours)}`);
      if (!ours.ok && ours.line == null) assert.ok(text.includes(ours.error), `server said ${text}, we said ${ours.error}`);
    }
  } finally {
    await srv.stop();
  }
});
