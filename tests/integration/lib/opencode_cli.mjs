// opencode_cli.mjs - helpers for the `sandbox-agent opencode` tests (opencode_cli.test.mjs,
// opencode_tui.test.mjs): a private HOME, XDG_DATA_HOME and PATH per test, the CLI run to
// completion, the real opencode when one is at hand; cleanup() stops the daemons left behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, freePort } from './server.mjs';
import { runCli } from './cli.mjs';

const dirs = [];
/** Contexts whose daemon cleanup() stops. */
export const daemons = [];
/** For after(): stops the daemons of daemons[] and removes every setup() directory. */
export async function cleanup() {
  for (const ctx of daemons) await run(ctx, ['daemon', 'stop', '-p', String(ctx.port)]);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}

/** A private HOME, XDG_DATA_HOME and PATH (only the fake programs and the system's). */
export async function setup() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-opencode-'));
  dirs.push(home);
  const fakebin = path.join(home, 'fakebin');
  fs.mkdirSync(fakebin);
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SANDBOX_AGENT_') && !k.startsWith('XDG_') && !k.startsWith('GIGACODE_') && !k.startsWith('OPENCODE_')) env[k] = v;
  }
  Object.assign(env, { HOME: home, XDG_DATA_HOME: path.join(home, 'xdg'), PATH: `${fakebin}:/usr/bin:/bin`, SANDBOX_AGENT_LOG: 'info' });
  return { home, fakebin, env, port: await freePort(), record: path.join(home, 'record.json') };
}

/** Runs the CLI to completion: { status, stdout, stderr } (lib/cli.mjs). */
export const run = runCli;

/** A real opencode for the attach test: $OPENCODE_TUI_BIN, else the one the real-agent pass
 * (tests/agents/e2e.test.mjs) installed for the opencode agent; null when neither exists. */
export function realOpencode() {
  const cands = [process.env.OPENCODE_TUI_BIN, path.join(REPO, 'tests/.cache/e2e-agents/xdg/sandbox-agent/bin/opencode')];
  return cands.find((p) => p && fs.existsSync(p)) || null;
}
export const hasScript = ['/usr/bin/script', '/bin/script'].some((p) => fs.existsSync(p));
