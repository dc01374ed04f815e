// The real `opencode attach` (opencode-ai, the TUI) under `sandbox-agent opencode`
// (docs/opencode-meta.md): run under a pseudo-terminal (script(1)), it attaches with the
// password, makes its startup calls and exits 0 on Ctrl-C. Its own file: the TUI's start
// takes most of a file's time bound when the machine is busy. Skipped without an opencode
// ($OPENCODE_TUI_BIN, or the one the real-agent pass installs into tests/.cache/e2e-agents).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { BIN, IS_REFERENCE, waitFor } from './lib/server.mjs';
import { cleanup, daemons, hasScript, realOpencode, setup } from './lib/opencode_cli.mjs';

const SKIP = IS_REFERENCE ? 'tests our opencode command (the reference passes no password)' : false;
after(cleanup);

describe('sandbox-agent opencode with the real TUI', { skip: SKIP }, () => {
  const real = realOpencode();
  test('the real opencode attach starts against the daemon and exits cleanly', { skip: !real ? 'no opencode (OPENCODE_TUI_BIN or the e2e cache)' : !hasScript ? 'no script(1)' : false }, async () => {
    const ctx = await setup();
    const env = { ...ctx.env, SANDBOX_AGENT_LOG: 'debug', GIGACODE_OPENCODE_BIN: real, TERM: 'xterm-256color' };
    const logFile = path.join(ctx.env.XDG_DATA_HOME, `sandbox-agent/daemon/daemon-127-0-0-1-${ctx.port}.log`);
    const child = spawn('script', ['-qfec', `${BIN} opencode -p ${ctx.port} -t tk`, '/dev/null'], { cwd: ctx.home, env, stdio: ['pipe', 'ignore', 'ignore'] });
    daemons.push(ctx);
    const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
    let code = null;
    exited.then((c) => (code = c));
    const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
    try {
      // The TUI's startup calls, answered 200 with its Basic password.
      for (const p of ['/opencode/config/providers', '/opencode/provider', '/opencode/agent', '/opencode/path', '/opencode/vcs', '/opencode/provider/auth']) {
        await waitFor(() => code === null && log().includes(`method=GET path=${p} status=200`), { timeoutMs: 45000, what: `GET ${p} from the TUI` });
      }
      assert.doesNotMatch(log(), /path=\/opencode\/\S* status=401/);
      // Ctrl-C until it leaves (the first one may arrive before the TUI reads its input).
      await waitFor(
        () => {
          if (code === null) child.stdin.write('\x03');
          return code !== null;
        },
        { timeoutMs: 30000, intervalMs: 1000, what: 'the TUI to exit on Ctrl-C' },
      );
      assert.equal(await exited, 0);
    } finally {
      if (code === null) child.kill('SIGKILL');
    }
  });
});
