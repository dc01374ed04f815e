// File-system API (http-api.md §7): every SDK method, raw status codes and problem bodies,
// path rules (§7.1), binary and large round trips (streamed both ways), aborted uploads,
// hostile paths, tar extraction (escapes, links, limits, 1024-path cap).
//
// Deliberate differences from the reference are marked OURS_ONLY: client-caused OS errors
// are 400/403/409 instead of 502, bodies over 2 MiB are accepted (quirk Q10), delete looks
// at the link itself (quirk Q9 fixed), tar entries that would escape the destination are
// refused, hard links resolve against the destination, extraction limits.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as nodeTest from 'node:test';
import { gzipSync } from 'node:zlib';
import { sharedServer, withServer, waitFor, IS_REFERENCE, OURS_ONLY } from './lib/server.mjs';
import { request, assertProblem, assertErrorStatus } from './lib/http.mjs';
import { withSdk } from './lib/sdk.mjs';

const { describe, test } = nodeTest;
const S = sharedServer(nodeTest);

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?\+00:00$/;
const q = (p) => encodeURIComponent(p);
let seq = 0;
/** A fresh directory under the server's HOME: { rel, abs }. */
function scratch(srv, name = 'case') {
  const rel = `${name}-${++seq}`;
  const abs = path.join(srv.home, rel);
  fs.mkdirSync(abs, { recursive: true });
  return { rel, abs };
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
/** Problem check for our 4xx fixes; against the reference only the status is compared. */
function problem(res, status, code, refStatus = status) {
  if (IS_REFERENCE) {
    assert.equal(res.status, refStatus, res.text);
    return null;
  }
  return assertProblem(res, status, code);
}
const tempFiles = (dir) => fs.readdirSync(dir).filter((n) => n.includes('.sa-upload-'));

// ---------------------------------------------------------------------------------------
// A small ustar writer: entries { name (string|Buffer), type: file|dir|symlink|link|fifo,
// data (string|Buffer), target, mode, mtime }.
const TYPE = { file: '0', link: '1', symlink: '2', fifo: '6', dir: '5' };
function tarHeader(e) {
  const h = Buffer.alloc(512);
  const name = Buffer.isBuffer(e.name) ? e.name : Buffer.from(e.name);
  let prefix = Buffer.alloc(0);
  let base = name;
  if (name.length > 100) {
    const cut = name.lastIndexOf('/', name.length - 2, 'latin1');
    prefix = name.subarray(0, cut);
    base = name.subarray(cut + 1);
  }
  const oct = (off, len, n) => h.write(`${n.toString(8).padStart(len - 1, '0')}\0`, off, 'latin1');
  base.copy(h, 0);
  oct(100, 8, e.mode ?? (e.type === 'dir' ? 0o755 : 0o644));
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, e.size);
  oct(136, 12, e.mtime ?? 1577934245);
  h.fill(0x20, 148, 156);
  h.write(TYPE[e.type || 'file'], 156, 'latin1');
  if (e.target) h.write(e.target, 157, 'utf8');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  prefix.copy(h, 345);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}
function tar(entries) {
  const parts = [];
  for (const e of entries) {
    const data = e.type && e.type !== 'file' ? Buffer.alloc(0) : Buffer.from(e.data ?? '');
    parts.push(tarHeader({ ...e, size: data.length }), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
const upload = (srv, dest, body, contentType = 'application/x-tar') =>
  request(srv, 'POST', `/v1/fs/upload-batch${dest === undefined ? '' : `?path=${q(dest)}`}`, {
    headers: contentType ? { 'content-type': contentType } : {},
    body,
  });

// ---------------------------------------------------------------------------------------

describe('SDK methods (§7.2-§7.9)', () => {
  S.test('listFsEntries: bare array, member order, lstat metadata, hidden files, default $HOME', async (srv) => {
    const d = scratch(srv, 'list');
    fs.writeFileSync(path.join(d.abs, 'b.bin'), 'abc');
    fs.writeFileSync(path.join(d.abs, '.hidden'), '');
    fs.mkdirSync(path.join(d.abs, 'd1'));
    fs.symlinkSync('d1', path.join(d.abs, 'to-dir'));
    fs.symlinkSync('missing', path.join(d.abs, 'dangling'));
    await withSdk(srv, {}, async (sdk) => {
      const entries = await sdk.listFsEntries({ path: d.rel });
      const byName = Object.fromEntries(entries.map((e) => [e.name, e]));
      assert.deepEqual(Object.keys(byName).sort(), ['.hidden', 'b.bin', 'd1', 'dangling', 'to-dir']);
      for (const e of entries) {
        assert.deepEqual(Object.keys(e), ['name', 'path', 'entryType', 'size', 'modified']);
        assert.equal(e.path, `${d.abs}/${e.name}`);
        assert.match(e.modified, RFC3339);
      }
      assert.equal(byName['b.bin'].entryType, 'file');
      assert.equal(byName['b.bin'].size, 3);
      assert.equal(byName.d1.entryType, 'directory');
      // lstat: links are "file" with the length of their text, dangling ones included.
      assert.equal(byName['to-dir'].entryType, 'file');
      assert.equal(byName['to-dir'].size, 2);
      assert.equal(byName.dangling.size, 7);
      assert.deepEqual(await sdk.listFsEntries({ path: `${d.rel}/d1` }), []);
      const home = await sdk.listFsEntries();
      assert.ok(home.some((e) => e.name === d.rel && e.path === `${srv.home}/${d.rel}`));
    });
  });

  S.test('readFsFile / writeFsFile: binary round trip of every byte value, empty file', async (srv) => {
    const d = scratch(srv, 'rw');
    const bytes = Buffer.alloc(1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256;
    await withSdk(srv, {}, async (sdk) => {
      const w = await sdk.writeFsFile({ path: `${d.rel}/all.bin` }, bytes);
      assert.deepEqual(w, { path: `${d.abs}/all.bin`, bytesWritten: 1024 });
      assert.deepEqual(fs.readFileSync(path.join(d.abs, 'all.bin')), bytes);
      const r = await sdk.readFsFile({ path: `${d.rel}/all.bin` });
      assert.ok(r instanceof Uint8Array);
      assert.deepEqual(Buffer.from(r), bytes);
      const e = await sdk.writeFsFile({ path: `${d.rel}/empty` }, new Uint8Array(0));
      assert.equal(e.bytesWritten, 0);
      assert.equal(fs.statSync(path.join(d.abs, 'empty')).size, 0);
      assert.equal((await sdk.readFsFile({ path: `${d.rel}/empty` })).length, 0);
    });
  });

  S.test('writeFsFile creates parents, overwrites, keeps the mode and writes through a symlink', async (srv) => {
    const d = scratch(srv, 'over');
    const f = path.join(d.abs, 'script.sh');
    fs.writeFileSync(f, 'a much longer original content\n');
    fs.chmodSync(f, 0o750);
    fs.symlinkSync('script.sh', path.join(d.abs, 'link'));
    await withSdk(srv, {}, async (sdk) => {
      await sdk.writeFsFile({ path: `${d.rel}/link` }, 'short');
      assert.equal(fs.readFileSync(f, 'utf8'), 'short');
      assert.ok(fs.lstatSync(path.join(d.abs, 'link')).isSymbolicLink(), 'the link stays a link');
      assert.equal(fs.statSync(f).mode & 0o777, 0o750);
      const w = await sdk.writeFsFile({ path: `${d.rel}/x/y/z.txt` }, 'deep');
      assert.equal(w.path, `${d.abs}/x/y/z.txt`);
      assert.equal(fs.readFileSync(path.join(d.abs, 'x/y/z.txt'), 'utf8'), 'deep');
      assert.deepEqual(tempFiles(d.abs), []);
    });
  });

  S.test('statFs follows symlinks; mkdirFs is mkdir -p and idempotent', async (srv) => {
    const d = scratch(srv, 'stat');
    fs.writeFileSync(path.join(d.abs, 'f'), '12345');
    fs.symlinkSync('f', path.join(d.abs, 'l'));
    const t = new Date('2020-01-02T03:04:05.500Z');
    fs.utimesSync(path.join(d.abs, 'f'), t, t);
    await withSdk(srv, {}, async (sdk) => {
      const st = await sdk.statFs({ path: `${d.rel}/l` });
      assert.deepEqual(Object.keys(st), ['path', 'entryType', 'size', 'modified']);
      assert.deepEqual(st, { path: `${d.abs}/l`, entryType: 'file', size: 5, modified: '2020-01-02T03:04:05.500+00:00' });
      const m = await sdk.mkdirFs({ path: `${d.rel}/a/b/c` });
      assert.deepEqual(m, { path: `${d.abs}/a/b/c` });
      assert.deepEqual(await sdk.mkdirFs({ path: `${d.rel}/a/b/c` }), m);
      assert.equal((await sdk.statFs({ path: `${d.rel}/a/b` })).entryType, 'directory');
    });
  });

  S.test('moveFs: rename, parents created, existing destination needs overwrite', async (srv) => {
    const d = scratch(srv, 'move');
    fs.writeFileSync(path.join(d.abs, 'a'), 'A');
    fs.writeFileSync(path.join(d.abs, 'b'), 'B');
    fs.mkdirSync(path.join(d.abs, 'dir/sub'), { recursive: true });
    await withSdk(srv, {}, async (sdk) => {
      const r = await sdk.moveFs({ from: `${d.rel}/a`, to: `${d.rel}/new/parent/a2` });
      assert.deepEqual(r, { from: `${d.abs}/a`, to: `${d.abs}/new/parent/a2` });
      assert.equal(fs.readFileSync(path.join(d.abs, 'new/parent/a2'), 'utf8'), 'A');
      const err = await sdkError(sdk.moveFs({ from: `${d.rel}/b`, to: `${d.rel}/new/parent/a2` }));
      assert.equal(err.status, 400);
      assert.equal(err.problem.detail, `invalid request: destination already exists: ${d.abs}/new/parent/a2`);
      await sdk.moveFs({ from: `${d.rel}/b`, to: `${d.rel}/new/parent/a2`, overwrite: true });
      assert.equal(fs.readFileSync(path.join(d.abs, 'new/parent/a2'), 'utf8'), 'B');
      // A directory replaced by a file, recursively.
      await sdk.moveFs({ from: `${d.rel}/new/parent/a2`, to: `${d.rel}/dir`, overwrite: true });
      assert.equal(fs.readFileSync(path.join(d.abs, 'dir'), 'utf8'), 'B');
      const missing = await sdkError(sdk.moveFs({ from: `${d.rel}/nope`, to: `${d.rel}/x` }));
      assert.equal(missing.status, 400);
      assert.equal(missing.problem.detail, `invalid request: path not found: ${d.abs}/nope`);
    });
  });

  S.test('deleteFsEntry: file, empty directory, recursive tree', async (srv) => {
    const d = scratch(srv, 'del');
    fs.writeFileSync(path.join(d.abs, 'f'), 'x');
    fs.mkdirSync(path.join(d.abs, 'empty'));
    fs.mkdirSync(path.join(d.abs, 'tree/a/b'), { recursive: true });
    fs.writeFileSync(path.join(d.abs, 'tree/a/b/c'), 'x');
    await withSdk(srv, {}, async (sdk) => {
      assert.deepEqual(await sdk.deleteFsEntry({ path: `${d.rel}/f` }), { path: `${d.abs}/f` });
      await sdk.deleteFsEntry({ path: `${d.rel}/empty` });
      const err = await sdkError(sdk.deleteFsEntry({ path: `${d.rel}/tree` }));
      assert.equal(err.status, IS_REFERENCE ? 502 : 409);
      assert.ok(fs.existsSync(path.join(d.abs, 'tree/a/b/c')));
      await sdk.deleteFsEntry({ path: `${d.rel}/tree`, recursive: true });
      assert.deepEqual(fs.readdirSync(d.abs), []);
    });
  });

  S.test('uploadFsBatch: paths in archive order, "./" dropped, modes and mtimes applied', async (srv) => {
    const d = scratch(srv, 'up');
    const body = tar([
      { name: './', type: 'dir' },
      { name: 'a/', type: 'dir' },
      { name: 'a/b/', type: 'dir', mode: 0o700 },
      { name: 'a/b/two.txt', data: 'two' },
      { name: './a/one.txt', data: 'one', mode: 0o751, mtime: 1577934245 },
      { name: 'a/lnk', type: 'symlink', target: 'one.txt' },
    ]);
    await withSdk(srv, {}, async (sdk) => {
      const r = await sdk.uploadFsBatch(body, { path: `${d.rel}/up1` });
      const base = `${d.abs}/up1`;
      assert.deepEqual(r, { paths: [`${base}/a`, `${base}/a/b`, `${base}/a/b/two.txt`, `${base}/a/one.txt`, `${base}/a/lnk`], truncated: false });
      assert.equal(fs.readFileSync(`${base}/a/b/two.txt`, 'utf8'), 'two');
      const one = fs.statSync(`${base}/a/one.txt`);
      assert.equal(one.mode & 0o777, 0o751);
      assert.equal(one.mtimeMs, 1577934245000);
      assert.equal(fs.statSync(`${base}/a/b`).mode & 0o777, 0o700);
      assert.equal(fs.readlinkSync(`${base}/a/lnk`), 'one.txt');
    });
  });
});

describe('path rules (§7.1)', () => {
  S.test('relative paths are normalised and joined onto $HOME; absolute ones are verbatim', async (srv) => {
    const d = scratch(srv, 'norm');
    fs.writeFileSync(path.join(d.abs, 'f'), 'x');
    const stat = async (p) => (await request(srv, 'GET', `/v1/fs/stat?path=${q(p)}`));
    for (const p of [`${d.rel}/f`, `./${d.rel}/f`, `${d.rel}//f`, `${d.rel}/./f/`, `.//${d.rel}/f/.`]) {
      const res = await stat(p);
      assert.equal(res.status, 200, `${p}: ${res.text}`);
      assert.equal(res.json().path, `${d.abs}/f`, p);
    }
    for (const p of ['', '.', './']) assert.equal((await stat(p)).json().path, `${srv.home}/`);
    const abs = `${srv.home}//${d.rel}/../${d.rel}/f`;
    assert.equal((await stat(abs)).json().path, abs);
    const tilde = await stat('~/x');
    problem(tilde, 400, 'invalid_request');
    assert.equal(tilde.json().detail, `invalid request: path not found: ${srv.home}/~/x`);
  });

  S.test('a relative path with ".." is refused', async (srv) => {
    for (const p of ['../etc/passwd', 'a/../b', 'a/..']) {
      const res = await request(srv, 'GET', `/v1/fs/stat?path=${q(p)}`);
      assertProblem(res, 400, 'invalid_request');
      assert.equal(res.json().detail, `invalid request: invalid relative path: ${p}`);
    }
    const res = await request(srv, 'POST', '/v1/fs/move', { body: { from: '../x', to: 'y' } });
    assertProblem(res, 400, 'invalid_request');
  });

  S.test('missing path: 400 path not found, wrong kind: 400 not a directory / not a file', async (srv) => {
    const d = scratch(srv, 'kinds');
    fs.writeFileSync(path.join(d.abs, 'f'), 'x');
    for (const [m, p] of [['GET', 'stat'], ['GET', 'file'], ['GET', 'entries'], ['DELETE', 'entry']]) {
      const res = await request(srv, m, `/v1/fs/${p}?path=${q(`${d.rel}/missing`)}`);
      assertProblem(res, 400, 'invalid_request');
      assert.equal(res.json().detail, `invalid request: path not found: ${d.abs}/missing`);
    }
    const notDir = await request(srv, 'GET', `/v1/fs/entries?path=${q(`${d.rel}/f`)}`);
    assertProblem(notDir, 400, 'invalid_request');
    assert.equal(notDir.json().detail, `invalid request: path is not a directory: ${d.abs}/f`);
    const notFile = await request(srv, 'GET', `/v1/fs/file?path=${q(d.rel)}`);
    assertProblem(notFile, 400, 'invalid_request');
    assert.equal(notFile.json().detail, `invalid request: path is not a file: ${d.abs}`);
  });

  S.test('a missing required path and a bad recursive flag are 400', async (srv) => {
    for (const [m, p] of [['GET', 'stat'], ['GET', 'file'], ['PUT', 'file'], ['DELETE', 'entry'], ['POST', 'mkdir']]) {
      assertErrorStatus(await request(srv, m, `/v1/fs/${p}`), 400, `${m} ${p}`, { reference: IS_REFERENCE });
    }
    for (const v of ['1', 'yes', '']) {
      const res = await request(srv, 'DELETE', `/v1/fs/entry?path=x&recursive=${v}`);
      assertErrorStatus(res, 400, `recursive=${v}`, { reference: IS_REFERENCE });
    }
    assertErrorStatus(await request(srv, 'GET', '/v1/fs/stat?path=a&path=b'), 400, 'duplicate', { reference: IS_REFERENCE });
  });

  S.test('move body errors: 415 without JSON, 400 bad JSON, 422 missing or mistyped fields', async (srv) => {
    const post = (body, headers = { 'content-type': 'application/json' }) => request(srv, 'POST', '/v1/fs/move', { headers, body });
    assertErrorStatus(await post('{"from":"a","to":"b"}', { 'content-type': 'text/plain' }), 415, 'ctype', { reference: IS_REFERENCE });
    assertErrorStatus(await post('{'), 400, 'syntax', { reference: IS_REFERENCE });
    assertErrorStatus(await post('{"from":"a"}'), 422, 'missing to', { reference: IS_REFERENCE });
    assertErrorStatus(await post('{"from":1,"to":"b"}'), 422, 'number', { reference: IS_REFERENCE });
    assertErrorStatus(await post('{"from":"a","to":"b","overwrite":"yes"}'), 422, 'overwrite', { reference: IS_REFERENCE });
  });

  S.test('hostile paths get clear 400 problems: NUL, invalid UTF-8, huge', { skip: OURS_ONLY }, async (srv) => {
    for (const p of ['a%00b', '%00', '%ff%fe', '%C0%AF']) {
      const res = await request(srv, 'GET', `/v1/fs/stat?path=${p}`);
      assertProblem(res, 400, 'invalid_request', p);
    }
    const huge = 'x'.repeat(5000);
    for (const p of [huge, `${huge}/y`, `/${huge}`]) {
      const res = await request(srv, 'GET', `/v1/fs/stat?path=${p}`);
      assertProblem(res, 400, 'invalid_request');
      assert.match(res.json().detail, /File name too long \(os error 36\)/);
      assertProblem(await request(srv, 'PUT', `/v1/fs/file?path=${p}`, { body: 'x' }), 400, 'invalid_request');
    }
    const nul = await request(srv, 'POST', '/v1/fs/move', { body: { from: 'a\u0000b', to: 'c' } });
    assertProblem(nul, 400, 'invalid_request');
    // The server is still fine.
    assert.equal((await request(srv, 'GET', '/v1/health')).status, 200);
  });
});

describe('client-caused OS errors are 4xx (not 502)', () => {
  S.test('directory not empty, file exists, is a directory, not a directory', async (srv) => {
    const d = scratch(srv, 'oserr');
    fs.writeFileSync(path.join(d.abs, 'f'), 'x');
    fs.mkdirSync(path.join(d.abs, 'full'));
    fs.writeFileSync(path.join(d.abs, 'full/x'), 'x');
    const b = problem(await request(srv, 'DELETE', `/v1/fs/entry?path=${q(`${d.rel}/full`)}`), 409, 'conflict', 502);
    if (b) assert.equal(b.details.message, `Directory not empty (os error 39): ${d.abs}/full`);
    problem(await request(srv, 'POST', `/v1/fs/mkdir?path=${q(`${d.rel}/f`)}`), 409, 'conflict', 502);
    problem(await request(srv, 'PUT', `/v1/fs/file?path=${q(`${d.rel}/f/sub`)}`, { body: 'x' }), 409, 'conflict', 502);
    const isDir = problem(await request(srv, 'PUT', `/v1/fs/file?path=${q(`${d.rel}/full`)}`, { body: 'x' }), 400, 'invalid_request', 502);
    if (isDir) assert.equal(isDir.detail, `invalid request: Is a directory (os error 21): ${d.abs}/full`);
    problem(await request(srv, 'GET', `/v1/fs/stat?path=${q(`${d.rel}/f/x`)}`), 400, 'invalid_request', 502);
    problem(await request(srv, 'POST', `/v1/fs/mkdir?path=${q(`${d.rel}/f/x/y`)}`), 400, 'invalid_request', 502);
    // Moving a directory into itself.
    problem(await request(srv, 'POST', '/v1/fs/move', { body: { from: `${d.rel}/full`, to: `${d.rel}/full/in` } }), 400, 'invalid_request', 502);
    assert.equal(fs.readFileSync(path.join(d.abs, 'f'), 'utf8'), 'x');
  });

  S.test('PUT onto an existing fifo is refused without blocking', { skip: OURS_ONLY }, async (srv) => {
    const d = scratch(srv, 'fifo');
    const fifo = path.join(d.abs, 'p');
    execFileSync('mkfifo', [fifo]);
    assertProblem(await request(srv, 'PUT', `/v1/fs/file?path=${q(`${d.rel}/p`)}`, { body: 'x' }), 400, 'invalid_request');
    assertProblem(await request(srv, 'GET', `/v1/fs/file?path=${q(`${d.rel}/p`)}`), 400, 'invalid_request');
    assert.ok(fs.lstatSync(fifo).isFIFO());
  });
});

describe('symlinks (quirk Q9 fixed: delete and move act on the link)', () => {
  S.test('deleting a symlink to a directory removes the link, not the directory', { skip: OURS_ONLY }, async (srv) => {
    const d = scratch(srv, 'q9');
    fs.mkdirSync(path.join(d.abs, 'dir'));
    fs.writeFileSync(path.join(d.abs, 'dir/keep'), 'x');
    fs.symlinkSync('dir', path.join(d.abs, 'dlink'));
    fs.symlinkSync('nowhere', path.join(d.abs, 'broken'));
    await withSdk(srv, {}, async (sdk) => {
      await sdk.deleteFsEntry({ path: `${d.rel}/dlink` });
      await sdk.deleteFsEntry({ path: `${d.rel}/broken`, recursive: true });
      assert.deepEqual(fs.readdirSync(d.abs), ['dir']);
      assert.ok(fs.existsSync(path.join(d.abs, 'dir/keep')));
      // A recursive delete never follows links inside the tree either.
      fs.mkdirSync(path.join(d.abs, 'outside'));
      fs.writeFileSync(path.join(d.abs, 'outside/precious'), 'x');
      fs.symlinkSync('../outside', path.join(d.abs, 'dir/escape'));
      await sdk.deleteFsEntry({ path: `${d.rel}/dir`, recursive: true });
      assert.ok(fs.existsSync(path.join(d.abs, 'outside/precious')));
      assert.ok(!fs.existsSync(path.join(d.abs, 'dir')));
    });
  });

  S.test('moving a path onto itself with overwrite keeps it', { skip: OURS_ONLY }, async (srv) => {
    const d = scratch(srv, 'self');
    fs.writeFileSync(path.join(d.abs, 'f'), 'keep');
    const res = await request(srv, 'POST', '/v1/fs/move', { body: { from: `${d.rel}/f`, to: `${d.abs}/f`, overwrite: true } });
    assert.equal(res.status, 200, res.text);
    assert.equal(fs.readFileSync(path.join(d.abs, 'f'), 'utf8'), 'keep');
  });
});

describe('large files, streaming and aborts', () => {
  S.test('raw status codes: HEAD on a file, exactly 2 MiB and one byte more', async (srv) => {
    const d = scratch(srv, 'sizes');
    const two = crypto.randomBytes(2 * 1024 * 1024);
    const r1 = await request(srv, 'PUT', `/v1/fs/file?path=${q(`${d.rel}/two`)}`, { body: two, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(r1.status, 200, r1.text);
    assert.deepEqual(r1.json(), { path: `${d.abs}/two`, bytesWritten: two.length });
    const head = await request(srv, 'HEAD', `/v1/fs/file?path=${q(`${d.rel}/two`)}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(two.length));
    assert.equal(head.headers['content-type'], 'application/octet-stream');
    assert.equal(head.buf.length, 0);
    const get = await request(srv, 'GET', `/v1/fs/file?path=${q(`${d.rel}/two`)}`);
    assert.equal(get.headers['content-length'], String(two.length));
    assert.ok(get.buf.equals(two));
    const over = await request(srv, 'PUT', `/v1/fs/file?path=${q(`${d.rel}/over`)}`, { body: Buffer.concat([two, Buffer.from('x')]) });
    if (IS_REFERENCE) assert.equal(over.status, 413);
    else assert.equal(over.json().bytesWritten, two.length + 1);
  });

  S.test('a 128 MiB file goes up and down intact through the SDK (chunked upload too)', { skip: OURS_ONLY }, async (srv) => {
    const d = scratch(srv, 'big');
    const big = crypto.randomBytes(128 * 1024 * 1024);
    const digest = crypto.createHash('sha256').update(big).digest('hex');
    await withSdk(srv, {}, async (sdk) => {
      const w = await sdk.writeFsFile({ path: `${d.rel}/big.bin` }, big);
      assert.equal(w.bytesWritten, big.length);
      const r = await sdk.readFsFile({ path: `${d.rel}/big.bin` });
      assert.equal(r.length, big.length);
      assert.equal(crypto.createHash('sha256').update(r).digest('hex'), digest);
      // A streamed (chunked) request body of unknown length.
      const chunks = async function* () {
        for (let off = 0; off < 8 * 1024 * 1024; off += 1024 * 1024) yield big.subarray(off, off + 1024 * 1024);
      };
      const res = await fetch(`${srv.baseUrl}/v1/fs/file?path=${q(`${d.rel}/chunked.bin`)}`, { method: 'PUT', body: chunks(), duplex: 'half' });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).bytesWritten, 8 * 1024 * 1024);
      assert.ok(fs.readFileSync(path.join(d.abs, 'chunked.bin')).equals(big.subarray(0, 8 * 1024 * 1024)));
    });
    assert.deepEqual(tempFiles(d.abs), []);
    if (!process.env.SANDBOX_AGENT_SANITIZED) {
      // Streaming both ways: the server never held the file in memory.
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${srv.pid}/status`, 'utf8'))[1]);
      assert.ok(hwm < 64 * 1024, `server peak RSS ${hwm} kB`);
    }
  });

  S.test('an aborted upload leaves the old file intact and no temp file behind', { skip: OURS_ONLY }, async (srv) => {
    const d = scratch(srv, 'abort');
    const target = path.join(d.abs, 'keep.txt');
    fs.writeFileSync(target, 'original');
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    sock.write(`PUT /v1/fs/file?path=${q(`${d.rel}/keep.txt`)} HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`);
    sock.write(crypto.randomBytes(2 * 1024 * 1024));
    // Wait until data reached the temp file, then leave in the middle of the body.
    await waitFor(() => tempFiles(d.abs).some((n) => fs.statSync(path.join(d.abs, n)).size > 0), { what: 'the temp file to fill' });
    sock.destroy();
    await waitFor(() => tempFiles(d.abs).length === 0, { what: 'the temp file to be removed' });
    assert.equal(fs.readFileSync(target, 'utf8'), 'original');
    assert.deepEqual(fs.readdirSync(d.abs), ['keep.txt']);
    assert.equal((await request(srv, 'GET', '/v1/health')).status, 200);
  });

  S.test('a client that leaves during a large download does not hurt the server', async (srv) => {
    const d = scratch(srv, 'dlabort');
    fs.writeFileSync(path.join(d.abs, 'big'), crypto.randomBytes(16 * 1024 * 1024));
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    let got = 0;
    const first = new Promise((r) => sock.on('data', (b) => { got += b.length; r(); }));
    sock.write(`GET /v1/fs/file?path=${q(`${d.rel}/big`)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await first;
    sock.destroy();
    assert.ok(got > 0);
    const again = await request(srv, 'GET', `/v1/fs/file?path=${q(`${d.rel}/big`)}`);
    assert.equal(again.buf.length, 16 * 1024 * 1024);
  });
});

describe('upload limits', () => {
  test('SANDBOX_AGENT_MAX_UPLOAD_BYTES caps PUT (declared and chunked) with 413 and leaves nothing', { skip: OURS_ONLY }, () =>
    withServer({ env: { SANDBOX_AGENT_MAX_UPLOAD_BYTES: 1000 } }, async (srv) => {
      const d = scratch(srv, 'cap');
      const ok = await request(srv, 'PUT', `/v1/fs/file?path=${q(`${d.rel}/ok`)}`, { body: Buffer.alloc(1000) });
      assert.equal(ok.status, 200, ok.text);
      assertProblem(await request(srv, 'PUT', `/v1/fs/file?path=${q(`${d.rel}/big`)}`, { body: Buffer.alloc(1001) }), 413, 'invalid_request');
      const chunked = await fetch(`${srv.baseUrl}/v1/fs/file?path=${q(`${d.rel}/big2`)}`, {
        method: 'PUT',
        body: (async function* () {
          yield Buffer.alloc(800);
          yield Buffer.alloc(800);
        })(),
        duplex: 'half',
      }).catch((e) => e);
      if (!(chunked instanceof Error)) assert.equal(chunked.status, 413);
      await waitFor(() => tempFiles(d.abs).length === 0, { what: 'no temp file' });
      assert.deepEqual(fs.readdirSync(d.abs), ['ok']);
      assertProblem(await upload(srv, d.rel, Buffer.alloc(2048)), 413, 'invalid_request');
    }));

  test('extraction limits: entry count and total bytes are 413, partial file removed', { skip: OURS_ONLY }, () =>
    withServer({ env: { SANDBOX_AGENT_MAX_EXTRACT_ENTRIES: 5, SANDBOX_AGENT_MAX_EXTRACT_BYTES: 1000 } }, async (srv) => {
      const d = scratch(srv, 'bomb');
      const five = tar([1, 2, 3, 4, 5].map((i) => ({ name: `f${i}`, data: 'x' })));
      assert.equal((await upload(srv, `${d.rel}/five`, five)).status, 200);
      const six = tar([1, 2, 3, 4, 5, 6].map((i) => ({ name: `f${i}`, data: 'x' })));
      const r = assertProblem(await upload(srv, `${d.rel}/six`, six), 413, 'invalid_request');
      assert.match(r.detail, /more than 5 entries/);
      const big = tar([{ name: 'small', data: 'x'.repeat(600) }, { name: 'big', data: 'y'.repeat(600) }]);
      const b = assertProblem(await upload(srv, `${d.rel}/bytes`, big), 413, 'invalid_request');
      assert.match(b.detail, /SANDBOX_AGENT_MAX_EXTRACT_BYTES/);
      assert.deepEqual(fs.readdirSync(path.join(d.abs, 'bytes')), ['small']);
    }));
});

describe('tar upload (§7.9)', () => {
  // The reference tests a case-sensitive prefix (probed), which the spec's "exactly" misses.
  S.test('content type: must start with application/x-tar (case-sensitive), else 400', async (srv) => {
    const d = scratch(srv, 'ctype');
    const body = tar([{ name: 'x', data: 'x' }]);
    for (const ct of [null, 'Application/x-tar', 'application/X-tar', 'application/tar', 'xapplication/x-tar', 'text/plain']) {
      const res = await upload(srv, d.rel, body, ct);
      assertProblem(res, 400, 'invalid_request', String(ct));
      assert.equal(res.json().detail, 'invalid request: content-type must be application/x-tar');
    }
    for (const ct of ['application/x-tar; charset=binary', 'application/x-tar;a=b', 'application/x-tarball']) {
      const ok = await upload(srv, d.rel, body, ct);
      assert.equal(ok.status, 200, `${ct}: ${ok.text}`);
    }
  });

  S.test('empty body, default destination $HOME, corrupt and gzip bodies', async (srv) => {
    assert.deepEqual((await upload(srv, undefined, Buffer.alloc(0))).json(), { paths: [], truncated: false });
    const name = `home-${++seq}.txt`;
    const r = await upload(srv, undefined, tar([{ name, data: 'h' }]));
    assert.deepEqual(r.json(), { paths: [`${srv.home}/${name}`], truncated: false });
    assertProblem(await upload(srv, 'gz', gzipSync(tar([{ name: 'x', data: 'x' }]))), 502, 'stream_error');
    const cut = tar([{ name: 'trunc', data: 'z'.repeat(3000) }]).subarray(0, 1500);
    assertProblem(await upload(srv, 'cut', cut), 502, 'stream_error');
  });

  S.test('1100 files: 1024 paths listed, truncated, all extracted', async (srv) => {
    const d = scratch(srv, 'many');
    const entries = [];
    for (let i = 0; i < 1100; i++) entries.push({ name: `f${String(i).padStart(4, '0')}`, data: String(i) });
    const r = (await upload(srv, d.rel, tar(entries))).json();
    assert.equal(r.paths.length, 1024);
    assert.equal(r.truncated, true);
    assert.equal(r.paths[1023], `${d.abs}/f1023`);
    assert.equal(fs.readdirSync(d.abs).length, 1100);
  });

  S.test('names with ".." or absolute are refused; earlier entries stay', async (srv) => {
    const d = scratch(srv, 'dotdot');
    for (const bad of ['a/sub/../z', '../evil', '/abs/evil', 'x/..']) {
      const res = await upload(srv, `${d.rel}/t`, tar([{ name: 'first', data: '1' }, { name: bad, data: 'evil' }]));
      assertProblem(res, 400, 'invalid_request');
      assert.equal(res.json().detail, `invalid request: invalid relative path: ${bad}`);
    }
    assert.deepEqual(fs.readdirSync(path.join(d.abs, 't')), ['first']);
    assert.ok(!fs.existsSync(path.join(d.abs, 'evil')));
  });

  S.test('symlinks and hard links that leave the destination, fifos and devices are refused', { skip: OURS_ONLY }, async (srv) => {
    const d = scratch(srv, 'esc');
    const bad = [
      [{ name: 'l', type: 'symlink', target: '/etc/passwd' }, /symlink points outside/],
      [{ name: 'l', type: 'symlink', target: '..' }, /symlink points outside/],
      [{ name: 'a/b/l', type: 'symlink', target: '../../../x' }, /symlink points outside/],
      [{ name: 'h', type: 'link', target: '../outside' }, /hard link points outside/],
      [{ name: 'h', type: 'link', target: '/etc/passwd' }, /hard link points outside/],
      [{ name: 'p', type: 'fifo' }, /unsupported entry type/],
      [{ name: 'c', type: 'file', data: '' }, null],
    ];
    for (const [entry, why] of bad) {
      const res = await upload(srv, `${d.rel}/t`, tar([entry]));
      if (!why) {
        assert.equal(res.status, 200);
        continue;
      }
      const b = assertProblem(res, 400, 'invalid_request', entry.name);
      assert.match(b.detail, why);
    }
    // A hard link to a symlink would re-read its relative text from another depth.
    const hl = await upload(srv, `${d.rel}/t`, tar([{ name: 'a/b/l', type: 'symlink', target: '../../x' }, { name: 'h', type: 'link', target: 'a/b/l' }]));
    assert.match(assertProblem(hl, 400, 'invalid_request').detail, /hard link target is a symlink/);
    // Links that stay inside are fine, including an absolute one under the destination.
    const dest = `${d.abs}/ok`;
    const good = tar([
      { name: 'dir/file', data: 'content' },
      { name: 'dir/rel', type: 'symlink', target: '../dir/file' },
      { name: 'abs', type: 'symlink', target: `${dest}/dir/file` },
      { name: 'hard', type: 'link', target: './dir/file' },
    ]);
    const ok = await upload(srv, `${d.rel}/ok`, good);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(fs.readFileSync(`${dest}/dir/rel`, 'utf8'), 'content');
    assert.equal(fs.readFileSync(`${dest}/hard`, 'utf8'), 'content');
    assert.equal(fs.statSync(`${dest}/hard`).ino, fs.statSync(`${dest}/dir/file`).ino);
  });

  S.test('nothing is ever written through a symlink, from the archive or already on disk', { skip: OURS_ONLY }, async (srv) => {
    const d = scratch(srv, 'through');
    const outside = path.join(d.abs, 'outside');
    fs.mkdirSync(outside);
    fs.mkdirSync(path.join(d.abs, 'dest'));
    fs.symlinkSync(outside, path.join(d.abs, 'dest/pre'));
    // A symlink already in the destination.
    let res = await upload(srv, `${d.rel}/dest`, tar([{ name: 'pre/pwn', data: 'x' }]));
    assertProblem(res, 400, 'invalid_request');
    assert.match(res.json().detail, /refusing to extract through a symlink/);
    // A symlink created by the archive itself (inside, so allowed), then used as a directory.
    res = await upload(srv, `${d.rel}/dest`, tar([{ name: 'sub/', type: 'dir' }, { name: 'in', type: 'symlink', target: 'sub' }, { name: 'in/x', data: 'x' }]));
    assertProblem(res, 400, 'invalid_request');
    // Replacing an existing symlink by a file replaces the link, not its target.
    fs.writeFileSync(path.join(outside, 'target'), 'safe');
    fs.symlinkSync(path.join(outside, 'target'), path.join(d.abs, 'dest/file-link'));
    res = await upload(srv, `${d.rel}/dest`, tar([{ name: 'file-link', data: 'new' }]));
    assert.equal(res.status, 200, res.text);
    assert.ok(!fs.lstatSync(path.join(d.abs, 'dest/file-link')).isSymbolicLink());
    assert.deepEqual(fs.readdirSync(outside).sort(), ['target']);
    assert.equal(fs.readFileSync(path.join(outside, 'target'), 'utf8'), 'safe');
  });

  S.test('existing files are replaced; a file where a directory exists is a 4xx', async (srv) => {
    const d = scratch(srv, 'replace');
    fs.writeFileSync(path.join(d.abs, 'f'), 'old');
    fs.mkdirSync(path.join(d.abs, 'dir'));
    assert.equal((await upload(srv, d.rel, tar([{ name: 'f', data: 'new' }]))).status, 200);
    assert.equal(fs.readFileSync(path.join(d.abs, 'f'), 'utf8'), 'new');
    problem(await upload(srv, d.rel, tar([{ name: 'dir', data: 'x' }])), 400, 'invalid_request', 502);
    problem(await upload(srv, d.rel, tar([{ name: 'f/', type: 'dir' }])), 409, 'conflict', 502);
  });

  S.test('non-UTF-8 names are extracted and reported lossily', { skip: OURS_ONLY }, async (srv) => {
    const d = scratch(srv, 'latin1');
    const res = await upload(srv, d.rel, tar([{ name: Buffer.from([0x63, 0x61, 0x66, 0xe9]), data: 'x' }]));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json().paths, [`${d.abs}/caf\ufffd`]);
    assert.equal(fs.readdirSync(d.abs, { encoding: 'buffer' })[0].toString('latin1'), 'caf\u00e9');
  });

  S.test('an aborted tar upload stops the extraction and the server stays healthy', { skip: OURS_ONLY }, async (srv) => {
    const d = scratch(srv, 'tarabort');
    const entries = [];
    for (let i = 0; i < 64; i++) entries.push({ name: `f${i}`, data: crypto.randomBytes(64 * 1024) });
    const body = tar(entries);
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    sock.write(`POST /v1/fs/upload-batch?path=${q(d.rel)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: ${body.length}\r\n\r\n`);
    sock.write(body.subarray(0, body.length / 2));
    await waitFor(() => fs.readdirSync(d.abs).length > 2, { what: 'extraction to start' });
    sock.destroy();
    const res = await upload(srv, `${d.rel}/2`, tar([{ name: 'after', data: 'ok' }]));
    assert.equal(res.status, 200, res.text);
  });
});

describe('uploads that break off mid-body release everything', { skip: OURS_ONLY }, () => {
  const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
  /** Sends head + broken chunked body; resolves with the answer's status line (or null). */
  function broken(srv, head) {
    return new Promise((resolve) => {
      const sock = net.connect(srv.port, '127.0.0.1');
      let buf = '';
      sock.on('data', (d) => (buf += d));
      sock.on('close', () => resolve(buf.split('\r\n')[0] || null));
      sock.on('error', () => {});
      sock.on('connect', () => sock.write(`${head}\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n`));
    });
  }
  test('bad chunk framing in PUT /v1/fs/file and upload-batch: 400, no fd and no temp file left', () =>
    withServer({}, async (srv) => {
      const d = scratch(srv, 'leak');
      // Warm up (lazily opened files, the thread pool) before counting.
      assert.equal((await request(srv, 'PUT', `/v1/fs/file?path=${q(d.rel + '/warm')}`, { body: 'x' })).status, 200);
      assert.equal((await broken(srv, `PUT /v1/fs/file?path=${q(d.rel + '/f')} HTTP/1.1`)), 'HTTP/1.1 400 Bad Request');
      const before = fdCount(srv.pid);
      for (let i = 0; i < 20; i++) {
        assert.equal(await broken(srv, `PUT /v1/fs/file?path=${q(d.rel + '/f')} HTTP/1.1`), 'HTTP/1.1 400 Bad Request');
        assert.equal(await broken(srv, `POST /v1/fs/upload-batch?path=${q(d.rel + '/t')} HTTP/1.1\r\nContent-Type: application/x-tar`), 'HTTP/1.1 400 Bad Request');
      }
      await waitFor(() => fdCount(srv.pid) <= before, { what: () => `fds back to ${before} (now ${fdCount(srv.pid)})` });
      await waitFor(() => tempFiles(d.abs).length === 0, { what: () => `no temp file left: ${tempFiles(d.abs)}` });
      assert.equal(fs.existsSync(path.join(d.abs, 'f')), false, 'the target was not created');
      assert.equal((await request(srv, 'GET', '/v1/health')).status, 200);
    }));
});

describe('auth', () => {
  test('every fs route needs the bearer token when one is configured', () =>
    withServer({ token: 'fs-secret' }, async (srv) => {
      const routes = [['GET', '/v1/fs/entries'], ['GET', '/v1/fs/file?path=x'], ['PUT', '/v1/fs/file?path=x'], ['DELETE', '/v1/fs/entry?path=x'],
        ['POST', '/v1/fs/mkdir?path=x'], ['POST', '/v1/fs/move'], ['GET', '/v1/fs/stat?path=x'], ['POST', '/v1/fs/upload-batch']];
      for (const [m, p] of routes) {
        const res = await request(srv, m, p, { token: null });
        assertProblem(res, 401, 'token_invalid', `${m} ${p}`);
      }
      await withSdk(srv, {}, async (sdk) => {
        assert.ok(Array.isArray(await sdk.listFsEntries()));
      });
    }));
});
