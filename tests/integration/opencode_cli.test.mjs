// `sandbox-agent opencode` (opencode-compat.md §18, docs/opencode-meta.md): the daemon is
// ensured, then `opencode attach http://H:P/opencode` runs with stdio inherited and
// `--password <token>` when a token is set. The opencode here is a fake program (a node
// script) that records its argv, calls the server's /opencode API with the password the way
// attach does (HTTP Basic), and exits with a chosen status. Also: which opencode is chosen
// (GIGACODE_OPENCODE_BIN, PATH, the installed one, --npx), a missing one, exit statuses and
// usage errors. The real opencode TUI is in opencode_tui.test.mjs.
//
// Every test gets a private HOME and XDG_DATA_HOME and a free port; daemons left behind are
// stopped in after().
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { BIN, IS_REFERENCE, startServer, waitFor } from './lib/server.mjs';
import { cleanup, daemons, run, setup } from './lib/opencode_cli.mjs';

const SKIP = IS_REFERENCE ? 'tests our opencode command (the reference passes no password)' : false;

after(cleanup);

/**
 * A fake opencode at file: records argv and the status of GET <url>/global/health sent with
 * `--password` as Basic auth (what attach does), then exits with $FAKE_EXIT.
 */
function fakeOpencode(file, record) {
  fs.writeFileSync(
    file,
    `#!${process.execPath}
const fs = require('node:fs');
const argv = process.argv.slice(2);
(async () => {
  const url = argv[argv.indexOf('attach') + 1];
  const i = argv.indexOf('--password');
  const headers = i >= 0 ? { authorization: 'Basic ' + Buffer.from('opencode:' + argv[i + 1]).toString('base64') } : {};
  let health = 0;
  try { health = (await fetch(url + '/global/health', { headers })).status; } catch {}
  fs.writeFileSync(${JSON.stringify(record)}, JSON.stringify({ argv, health, stdinIsTTY: !!process.stdin.isTTY }));
  process.exit(Number(process.env.FAKE_EXIT || 0));
})();
`,
    { mode: 0o755 },
  );
}

const record = (ctx) => JSON.parse(fs.readFileSync(ctx.record, 'utf8'));

describe('sandbox-agent opencode', { skip: SKIP }, () => {
  test('starts the daemon with the token and attaches with --password; the daemon stays', async () => {
    const ctx = await setup();
    const fake = path.join(ctx.home, 'my-opencode');
    fakeOpencode(fake, ctx.record);
    const env = { GIGACODE_OPENCODE_BIN: fake };
    const r = await run(ctx, ['opencode', '-p', String(ctx.port), '-t', 'tk', '--yolo', '--session-title', 'T'], env);
    daemons.push({ ...ctx, env: { ...ctx.env } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`checking daemon health at http://127\\.0\\.0\\.1:${ctx.port} \\(token: set\\)\\.\\.\\.`));
    assert.match(r.stderr, /daemon started \(PID \d+/);
    const rec = record(ctx);
    assert.deepEqual(rec.argv, ['attach', `http://127.0.0.1:${ctx.port}/opencode`, '--password', 'tk']);
    assert.equal(rec.health, 200, 'the daemon accepts the password as Basic auth');
    // The daemon requires the token and is still there.
    const h = await fetch(`http://127.0.0.1:${ctx.port}/v1/health`, { headers: { authorization: 'Bearer tk' } });
    assert.equal(h.status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${ctx.port}/v1/health`)).status, 401);

    // Again: the running daemon is reused; a failing attach gives exit 1 and says so.
    fs.rmSync(ctx.record);
    const again = await run(ctx, ['opencode', '--port', String(ctx.port), '--token', 'tk'], { ...env, FAKE_EXIT: '3' });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /daemon already running at http:\/\/127\.0\.0\.1:\d+ \(PID \d+/);
    assert.match(again.stderr, /error="server error: opencode attach exited with status exit status: 3"/);
    assert.equal(record(ctx).health, 200);
  });

  test('a server started by hand is used as it is; no token, no --password', async () => {
    const ctx = await setup();
    const srv = await startServer();
    try {
      fakeOpencode(path.join(ctx.fakebin, 'opencode'), ctx.record);
      const r = await run(ctx, ['opencode', '-p', String(srv.port)]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /\(token: unset\)/);
      assert.match(r.stderr, /server already running at http:\/\/127\.0\.0\.1:\d+ \(not started by `daemon start`\)/);
      const rec = record(ctx);
      assert.deepEqual(rec.argv, ['attach', `http://127.0.0.1:${srv.port}/opencode`]);
      assert.equal(rec.health, 200);
    } finally {
      await srv.stop();
    }
  });

  test('the opencode installed by install-agent is found when PATH has none', async () => {
    const ctx = await setup();
    const srv = await startServer();
    try {
      const bin = path.join(ctx.env.XDG_DATA_HOME, 'sandbox-agent/bin');
      fs.mkdirSync(bin, { recursive: true });
      fakeOpencode(path.join(bin, 'opencode'), ctx.record);
      const r = await run(ctx, ['opencode', '-p', String(srv.port)]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(record(ctx).argv[0], 'attach');
    } finally {
      await srv.stop();
    }
  });

  test('a missing opencode names what to install and starts nothing; --npx runs it through npx', async () => {
    const ctx = await setup();
    const r = await run(ctx, ['opencode', '-p', String(ctx.port)]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: opencode is not installed: install it with `sandbox-agent install-agent opencode`/);
    assert.doesNotMatch(r.stderr, /checking daemon health/);
    assert.equal(fs.existsSync(path.join(ctx.env.XDG_DATA_HOME, `sandbox-agent/daemon/daemon-127-0-0-1-${ctx.port}.pid`)), false);

    const bad = await run(ctx, ['opencode', '-p', String(ctx.port)], { GIGACODE_OPENCODE_BIN: path.join(ctx.home, 'nope') });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^error: GIGACODE_OPENCODE_BIN=.*nope is not an executable program/);

    const srv = await startServer();
    try {
      fakeOpencode(path.join(ctx.fakebin, 'npx'), ctx.record);
      const n = await run(ctx, ['opencode', '-p', String(srv.port), '--npx']);
      assert.equal(n.status, 0, n.stderr);
      assert.deepEqual(record(ctx).argv, ['--yes', 'opencode-ai', 'attach', `http://127.0.0.1:${srv.port}/opencode`]);
    } finally {
      await srv.stop();
    }
  });

  test('a program that cannot be executed, or dies from a signal, is exit 1', async () => {
    const ctx = await setup();
    const srv = await startServer();
    try {
      const noexec = path.join(ctx.home, 'broken');
      fs.writeFileSync(noexec, '#!/nonexistent/interpreter\n', { mode: 0o755 });
      const r = await run(ctx, ['opencode', '-p', String(srv.port)], { GIGACODE_OPENCODE_BIN: noexec });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /failed to launch .*broken attach: No such file or directory/);
      const killer = path.join(ctx.home, 'killer');
      fs.writeFileSync(killer, '#!/bin/sh\nkill -TERM $$\n', { mode: 0o755 });
      const k = await run(ctx, ['opencode', '-p', String(srv.port)], { GIGACODE_OPENCODE_BIN: killer });
      assert.equal(k.status, 1);
      assert.match(k.stderr, /opencode attach was killed by signal 15/);
    } finally {
      await srv.stop();
    }
  });

  test('usage: help, bad port, unknown option', async () => {
    const ctx = await setup();
    const h = await run(ctx, ['opencode', '--help']);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /Usage: sandbox-agent opencode \[OPTIONS\]/);
    assert.match((await run(ctx, ['help', 'opencode'])).stdout, /--npx/);
    const p = await run(ctx, ['opencode', '-p', 'x']);
    assert.equal(p.status, 2);
    assert.match(p.stderr, /invalid value 'x' for '--port <PORT>'/);
    assert.equal((await run(ctx, ['opencode', '--bogus'])).status, 2);
    assert.match((await run(ctx, ['--help'])).stdout, /opencode {7}EXPERIMENTAL: OpenCode TUI/);
  });
});
