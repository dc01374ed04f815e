// cli.mjs - run the sandbox-agent CLI from a test: its output collected, a safety-net kill
// after 60 s, and (for an ASan/UBSan build) no sanitizer report allowed on its stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { BIN, SANITIZED } from './server.mjs';

/**
 * Starts the CLI. opts: { bin (default BIN), cwd, env (added to process.env), fullEnv (the
 * whole environment instead: for tests that keep some of ours out), stdin (a string written
 * then closed; stdin is /dev/null without it) }.
 * Returns { child, done (Promise of { status, signal, stdout, stderr }), out(), err() }.
 */
export function startCli(args, { bin = BIN, cwd, env, fullEnv, stdin } = {}) {
  const child = spawn(bin, args, { cwd, env: fullEnv || { ...process.env, ...env }, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (stdin !== undefined) child.stdin.end(stdin);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      if (SANITIZED && bin === BIN) assert.doesNotMatch(stderr, /AddressSanitizer|runtime error:|LeakSanitizer/);
      resolve({ status, signal, stdout, stderr });
    });
  });
  return { child, done, out: () => stdout, err: () => stderr };
}

/** Runs the CLI to completion in ctx.home with exactly ctx.env (plus extraEnv): { status,
 *  stdout, stderr }. */
export async function runCli(ctx, args, extraEnv = {}) {
  const { status, stdout, stderr } = await startCli(args, { cwd: ctx.home, fullEnv: { ...ctx.env, ...extraEnv } }).done;
  return { status, stdout, stderr };
}
