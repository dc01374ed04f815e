// Desktop recordings through the official SDK (http-api.md §10.8, src/desktop/record.c):
// ffmpeg records the private desktop into an MP4 that ffprobe must decode at the desktop's
// size; the recordings are listed, served and deleted; the errors are the reference's; the
// catalog survives a restart, and a server killed with SIGKILL while recording leaves a
// playable file and no ffmpeg behind. Needs Xvfb, openbox and ffmpeg (skipped without).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startServer, waitFor, OURS_ONLY } from './lib/server.mjs';
import { connect } from './lib/sdk.mjs';

const which = (name) => (process.env.PATH || '').split(':').some((d) => d && fs.existsSync(path.join(d, name)));
const MISSING = ['Xvfb', 'openbox', 'ffmpeg', 'ffprobe'].filter((x) => !which(x));
const SKIP = MISSING.length ? `needs ${MISSING.join(', ')}` : false;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tmpHome = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sa-desktop-rec-'));
// Servers of other test files may run desktops at the same time: start the display search
// somewhere else than the default 99.
const displayNum = () => 200 + Math.floor(Math.random() * 300);
const DESKTOP = () => ({ width: 640, height: 480, displayNum: displayNum() });

/** The SDK call rejects with this HTTP status; returns the problem. */
async function rejects(promise, status) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.status, status, `status of ${e.message}`);
    return e.problem;
  }
  assert.fail(`expected an HTTP ${status}`);
}

function assertConflict(problem, message) {
  assert.equal(problem.type, 'urn:sandbox-agent:error:conflict');
  assert.equal(problem.detail, `conflict: ${message}`);
  assert.deepEqual(problem.details, { message });
}

function assertNotFound(problem, id) {
  assert.equal(problem.type, 'urn:sandbox-agent:error:not_found');
  assert.equal(problem.status, 404);
  assert.equal(problem.detail, `not found: desktop_recording ${id}`);
  assert.deepEqual(problem.details, { id, resource: 'desktop_recording' });
}

/** ffprobe's view of an MP4's video stream: { width, height, frames }. */
function probe(bytes) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-rec-probe-'));
  try {
    const file = path.join(dir, 'r.mp4');
    fs.writeFileSync(file, bytes);
    const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0',
      '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', file], { encoding: 'utf8' });
    const s = JSON.parse(out).streams[0];
    return { codec: s.codec_name, width: s.width, height: s.height, frames: Number(s.nb_read_frames) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** ffmpeg processes (any) whose command line mentions dir. */
function ffmpegsUnder(dir) {
  const found = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd;
    try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    if (path.basename(cmd[0] || '') === 'ffmpeg' && cmd.some((a) => a.startsWith(dir))) found.push(Number(pid));
  }
  return found;
}

/** The recorder's command line, from the server's descendants. */
function ffmpegArgs(srv) {
  return srv.descendants().map((d) => d.cmdline).find((c) => /(^|\/)ffmpeg /.test(c)) || '';
}

test('recording routes without an active desktop: the reference errors', { skip: SKIP }, async () => {
  const srv = await startServer();
  const sdk = await connect(srv);
  try {
    assertConflict(await rejects(sdk.startDesktopRecording(), 409), 'Desktop runtime has not been started');
    assertConflict(await rejects(sdk.stopDesktopRecording(), 409), 'no desktop recording is active');
    assert.deepEqual(await sdk.listDesktopRecordings(), { recordings: [] });
    assertNotFound(await rejects(sdk.getDesktopRecording('rec_9'), 404), 'rec_9');
    assertNotFound(await rejects(sdk.downloadDesktopRecording('rec_9'), 404), 'rec_9');
    assertNotFound(await rejects(sdk.deleteDesktopRecording('rec_9'), 404), 'rec_9');
    // The body is checked before the state: fps is a u32.
    await rejects(sdk.startDesktopRecording({ fps: -1 }), 422);
  } finally {
    await sdk.dispose();
    await srv.stop();
  }
});

test('record, stop, download a decodable MP4, delete', { skip: SKIP }, async () => {
  const srv = await startServer();
  const sdk = await connect(srv);
  try {
    await sdk.startDesktop(DESKTOP());
    const started = await sdk.startDesktopRecording({ fps: 10 });
    assert.match(started.id, /^rec_\d+$/);
    assert.equal(started.status, 'recording');
    assert.equal(started.fileName, `${started.id}.mp4`);
    assert.equal(typeof started.bytes, 'number');
    assert.match(started.startedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);
    assert.equal(started.endedAt, undefined);
    if (!OURS_ONLY) {
      // Members in the reference's order (it adds processId; ffmpeg is ours alone).
      assert.deepEqual(Object.keys(started), ['id', 'status', 'fileName', 'bytes', 'startedAt']);
      assert.ok(started.bytes > 0, 'the start waits for the file header');
      assert.ok((await sdk.getDesktopStatus()).processes.some((p) => p.name === 'ffmpeg' && p.running && p.pid > 0), 'ffmpeg in the status');
    }
    assert.match(ffmpegArgs(srv), /-video_size 640x480 -framerate 10 /);

    assertConflict(await rejects(sdk.startDesktopRecording(), 409), 'a desktop recording is already active');
    assertConflict(await rejects(sdk.deleteDesktopRecording(started.id), 409), 'stop the active desktop recording before deleting it');

    await sleep(2500);
    const stopped = await sdk.stopDesktopRecording();
    assert.equal(stopped.id, started.id);
    assert.equal(stopped.status, 'completed');
    assert.equal(stopped.startedAt, started.startedAt);
    assert.ok(stopped.endedAt > stopped.startedAt, `${stopped.endedAt} after ${stopped.startedAt}`);
    assert.ok(stopped.bytes > 0);
    assert.equal(ffmpegArgs(srv), '', 'ffmpeg has exited');
    assertConflict(await rejects(sdk.stopDesktopRecording(), 409), 'no desktop recording is active');

    assert.deepEqual(await sdk.getDesktopRecording(started.id), stopped);
    assert.deepEqual((await sdk.listDesktopRecordings()).recordings.filter((r) => r.id === started.id), [stopped]);

    const bytes = await sdk.downloadDesktopRecording(started.id);
    assert.equal(bytes.length, stopped.bytes);
    const p = probe(bytes);
    assert.equal(p.codec, 'h264');
    assert.equal(p.width, 640);
    assert.equal(p.height, 480);
    assert.ok(p.frames >= 10, `frames: ${p.frames}`); // 10 fps for 2.5 s

    await sdk.deleteDesktopRecording(started.id);
    assertNotFound(await rejects(sdk.getDesktopRecording(started.id), 404), started.id);
    assertNotFound(await rejects(sdk.deleteDesktopRecording(started.id), 404), started.id);
    assert.deepEqual((await sdk.listDesktopRecordings()).recordings.filter((r) => r.id === started.id), []);

    // fps is clamped to 1..60, as in the reference.
    for (const [fps, rate] of [[0, 1], [100, 60]]) {
      const r = await sdk.startDesktopRecording({ fps });
      assert.match(ffmpegArgs(srv), new RegExp(`-framerate ${rate} `));
      await sdk.stopDesktopRecording();
      await sdk.deleteDesktopRecording(r.id);
    }
    await sdk.stopDesktop();
  } finally {
    await sdk.dispose();
    await srv.stop();
  }
});

test('stopping the desktop finishes the recording; a restart keeps the catalog', { skip: SKIP || OURS_ONLY }, async () => {
  const home = tmpHome();
  let srv = await startServer({ home });
  let sdk = await connect(srv);
  try {
    await sdk.startDesktop(DESKTOP());
    const a = await sdk.startDesktopRecording({ fps: 10 });
    await sleep(1500);
    await sdk.stopDesktop();
    const done = await sdk.getDesktopRecording(a.id);
    assert.equal(done.status, 'completed');
    assert.ok(done.endedAt && done.bytes > 0);
    assert.equal(ffmpegArgs(srv), '');

    await sdk.dispose();
    await srv.stop();
    srv = await startServer({ home });
    sdk = await connect(srv);
    assert.deepEqual(await sdk.listDesktopRecordings(), { recordings: [done] });
    assert.ok(probe(await sdk.downloadDesktopRecording(a.id)).frames > 0);
    // Ids go on after the ones the catalog knows, even deleted ones.
    await sdk.deleteDesktopRecording(a.id);
    await sdk.startDesktop(DESKTOP());
    const b = await sdk.startDesktopRecording({ fps: 5 });
    assert.equal(b.id, `rec_${Number(a.id.slice(4)) + 1}`);
    await sdk.stopDesktopRecording();
    await sdk.stopDesktop();
  } finally {
    await sdk.dispose();
    await srv.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('a server killed while recording leaves a playable file and no ffmpeg', { skip: SKIP || OURS_ONLY }, async () => {
  const home = tmpHome();
  let srv = await startServer({ home });
  let sdk = await connect(srv);
  try {
    await sdk.startDesktop(DESKTOP());
    const rec = await sdk.startDesktopRecording({ fps: 10 });
    await sleep(3500); // past the first 2-second fragment
    await sdk.dispose();
    await srv.kill9();
    await waitFor(() => ffmpegsUnder(home).length === 0, { timeoutMs: 5000, what: 'ffmpeg to die with the server' });

    srv = await startServer({ home });
    sdk = await connect(srv);
    const after = await sdk.getDesktopRecording(rec.id);
    assert.equal(after.status, 'completed');
    assert.equal(after.startedAt, rec.startedAt);
    assert.ok(after.endedAt && after.bytes > 0, JSON.stringify(after));
    const p = probe(await sdk.downloadDesktopRecording(rec.id));
    assert.equal(p.width, 640);
    assert.ok(p.frames >= 10, `frames: ${p.frames}`);
  } finally {
    await sdk.dispose();
    await srv.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('the size cap stops a recording that passes it and removes the oldest', { skip: SKIP || OURS_ONLY }, async () => {
  const srv = await startServer({ env: { SANDBOX_AGENT_DESKTOP_RECORDINGS_MAX_BYTES: 4000 } });
  const sdk = await connect(srv);
  try {
    await sdk.startDesktop(DESKTOP());
    const a = await sdk.startDesktopRecording({ fps: 30 });
    // The size is checked every 2 s: the recording stops on its own.
    const a2 = await waitFor(async () => {
      const r = await sdk.getDesktopRecording(a.id);
      return r.status !== 'recording' && r;
    }, { timeoutMs: 20000, intervalMs: 200, what: 'the recording to stop at the cap' });
    assert.equal(a2.status, 'completed');
    assert.ok(a2.bytes > 4000, `${a2.bytes} bytes`);
    assertConflict(await rejects(sdk.stopDesktopRecording(), 409), 'no desktop recording is active');
    // The newest is kept even alone over the cap; the older ones go once another finishes.
    assert.deepEqual((await sdk.listDesktopRecordings()).recordings.map((r) => r.id), [a.id]);
    const b = await sdk.startDesktopRecording({ fps: 5 });
    await sdk.stopDesktopRecording();
    assert.deepEqual((await sdk.listDesktopRecordings()).recordings.map((r) => r.id), [b.id]);
    assertNotFound(await rejects(sdk.downloadDesktopRecording(a.id), 404), a.id);
    await sdk.stopDesktop();
  } finally {
    await sdk.dispose();
    await srv.stop();
  }
});
