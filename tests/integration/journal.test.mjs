// The durable journal behind GET /v1/acp/{id} (docs/journal.md): replay with any
// Last-Event-ID after a restart, exactly once and in order; replays beyond the memory ring
// come from the store while live events keep flowing; ids never reused after kill -9, with
// the crash gap said; retention's gap signal; a bad database stops the start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

import { startServer, waitFor, OURS_ONLY, BIN, JOURNAL_PG } from './lib/server.mjs';
import { request, acpPost, initializeMsg, openSse } from './lib/http.mjs';

let seq = 0;
const uid = (p) => `${p}-${process.pid}-${++seq}`;
const tmpHome = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sa-journal-home-'));

async function newSession(srv, id, agentQuery = true) {
  let res = await acpPost(srv, id, initializeMsg(0), agentQuery ? { agent: 'mock' } : {});
  assert.equal(res.status, 200, res.text);
  res = await acpPost(srv, id, { jsonrpc: '2.0', id: 1, method: 'session/new', params: { cwd: srv.home, mcpServers: [] } });
  assert.equal(res.status, 200, res.text);
  return res.json().result.sessionId;
}

let rpc = 100;
async function prompt(srv, id, sid, text) {
  const res = await acpPost(srv, id, { jsonrpc: '2.0', id: ++rpc, method: 'session/prompt', params: { sessionId: sid, prompt: [{ type: 'text', text }] } });
  assert.equal(res.status, 200, res.text);
  return res.json();
}

/** Prompts one session over and over until stop() (or until the server goes away). */
function promptLoad(srv, id, sid, words) {
  let stopped = false;
  const done = (async () => {
    for (let i = 0; !stopped; i++) {
      try {
        await prompt(srv, id, sid, `${words} ${i}`);
      } catch {
        return; /* the server is stopping or gone */
      }
    }
  })();
  return { stop: () => (stopped = true), done };
}

const ids = (events) => events.filter((e) => e.id !== null).map((e) => Number(e.id));
const isGap = (e) => e.json && e.json.method === '_adapter/gap';

function assertStrictlyIncreasing(list, what) {
  for (let i = 1; i < list.length; i++) assert.ok(list[i] > list[i - 1], `${what}: ${list[i - 1]} then ${list[i]}`);
}

/** All events of a stream from Last-Event-ID `after` up to and including id `last`. */
async function replay(srv, id, after, last) {
  const s = await openSse(srv, id, { headers: after === null ? {} : { 'last-event-id': String(after) } });
  assert.equal(s.status, 200, s.text);
  await s.waitFor((evs) => ids(evs).some((x) => x >= last), `replay up to ${last}`, 30000);
  s.close();
  return s.events;
}

test('after a restart, any Last-Event-ID replays every later event exactly once, then the same id continues live', { skip: OURS_ONLY }, async () => {
  const home = tmpHome();
  try {
    let srv = await startServer({ home });
    const port = srv.port;
    const id = uid('restart');
    const sid = await newSession(srv, id);
    for (const t of ['one think', 'two tool', 'three plan']) await prompt(srv, id, sid, t);
    const live = await openSse(srv, id);
    const before = await live.waitFor((evs) => evs.length >= 10 && evs.some((e) => e.json?.result?.stopReason) && evs, 'events');
    const all = ids(before);
    const lastBefore = all[all.length - 1];
    // Quiet now: everything the agent sent is in `before`.
    await waitFor(async () => ids((await replay(srv, id, null, lastBefore))).length === all.length, { what: 'a stable history' });
    live.close();
    await srv.stop();

    srv = await startServer({ home, port });
    try {
      // The history: what the client saw, then the agent's exit when the server stopped.
      const h = await openSse(srv, id, { headers: { 'last-event-id': '0' } });
      await h.waitFor((evs) => evs.some((e) => e.json?.method === '_adapter/agent_exited'), 'the whole history');
      h.close();
      const history = h.events;
      assert.deepEqual(history.slice(0, before.length).map((e) => [e.id, e.data]), before.map((e) => [e.id, e.data]));
      assert.equal(history.length, before.length + 1, 'nothing but the exit after what was seen');
      const lastAll = Number(history.at(-1).id);
      for (const k of [0, all[0], all[3], all[all.length - 2], lastBefore]) {
        const got = await replay(srv, id, k, lastAll);
        const want = history.filter((e) => Number(e.id) > k);
        assert.deepEqual(ids(got), ids(want), `from ${k}`);
        assert.deepEqual(got.map((e) => e.data), want.map((e) => e.data), `payloads from ${k}`);
      }
      // A follower of the dormant id sees a new instance under it, live, with newer ids.
      const follower = await openSse(srv, id, { headers: { 'last-event-id': String(lastAll) } });
      assert.equal(follower.status, 200);
      const sid2 = await newSession(srv, id);
      await prompt(srv, id, sid2, 'after restart');
      const fresh = await follower.waitFor((evs) => evs.some((e) => e.json?.params?.update?.content?.text?.includes('after restart')) && evs, 'live events after the restart');
      const freshIds = ids(fresh);
      assert.ok(freshIds.every((x) => x > lastAll), `new ids above ${lastAll}: ${freshIds}`);
      assertStrictlyIncreasing(freshIds, 'live ids');
      follower.close();
      // A server id nobody ever used is still unknown.
      const unknown = await openSse(srv, uid('never'));
      assert.equal(unknown.status, 404);
    } finally {
      await srv.stop();
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('a restart in the middle of a stream: the client reconnects with its Last-Event-ID and gets every later event exactly once', { skip: OURS_ONLY }, async () => {
  const home = tmpHome();
  try {
    let srv = await startServer({ home });
    const port = srv.port;
    const id = uid('midstream');
    const sid = await newSession(srv, id);
    const watcher = await openSse(srv, id);
    const load = promptLoad(srv, id, sid, 'think plan');
    await watcher.waitFor((evs) => evs.length > 300, 'events under load', 30000);
    const stopping = srv.stop(); // SIGTERM while prompts are in flight
    load.stop();
    await Promise.all([stopping, load.done]);
    const seen = watcher.events;
    const lastSeen = Number(seen.at(-1).id);

    srv = await startServer({ home, port });
    try {
      const rest = await openSse(srv, id, { headers: { 'last-event-id': String(lastSeen) } });
      const full = await openSse(srv, id, { headers: { 'last-event-id': '0' } });
      const end = (evs) => evs.some((e) => e.json?.method === '_adapter/agent_exited');
      await full.waitFor(end, 'the whole history');
      await rest.waitFor(end, 'the rest of the history');
      full.close();
      rest.close();
      assert.ok(!full.events.some(isGap), 'a clean stop loses nothing');
      assert.deepEqual(ids(full.events), Array.from({ length: full.events.length }, (_, i) => i + 1), 'ids from 1, consecutive');
      assert.deepEqual(seen.map((e) => e.data), full.events.slice(0, seen.length).map((e) => e.data), 'what the client saw comes first');
      assert.deepEqual(rest.events.map((e) => [e.id, e.data]), full.events.slice(seen.length).map((e) => [e.id, e.data]), 'the reconnect gets exactly the rest');
    } finally {
      await srv.stop();
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('a replay larger than the memory ring comes from the store, in order and exactly once, while live events keep coming', { skip: OURS_ONLY }, async () => {
  const srv = await startServer({ env: { SANDBOX_AGENT_ACP_REPLAY_EVENTS: '1024' } });
  try {
    const id = uid('bigreplay');
    const sids = [];
    for (let i = 0; i < 4; i++) sids.push(await newSession(srv, id, i === 0));
    const watcher = await openSse(srv, id);
    // Four sessions prompting in parallel until the history is well past the ring.
    const loops = sids.map((sid, n) => promptLoad(srv, id, sid, `think plan tool ${n}/`));
    await watcher.waitFor((evs) => evs.length > 2500, 'a long history', 60000);
    // Replay from the start while the prompts go on: the store part, then the switch to live.
    const s = await openSse(srv, id, { headers: { 'last-event-id': '0' } });
    await s.waitFor((evs) => evs.length > 3000, 'the replay and live events', 60000);
    loops.forEach((l) => l.stop());
    await Promise.all(loops.map((l) => l.done));
    // A last prompt marks the end: both streams must get everything up to its answer.
    const marker = await prompt(srv, id, sids[0], 'the end');
    const isEnd = (evs) => evs.some((e) => e.json?.id === marker.id && e.json?.result);
    await s.waitFor(isEnd, 'the last answer');
    await watcher.waitFor(isEnd, 'the last answer');
    assert.deepEqual(ids(s.events), ids(watcher.events), 'replayed then live == what a live follower saw');
    assert.deepEqual(s.events.map((e) => e.data), watcher.events.map((e) => e.data));
    assertStrictlyIncreasing(ids(s.events), 'ids');
    s.close();
    watcher.close();
  } finally {
    await srv.stop();
  }
});

test('kill -9: what survives is a prefix of what clients saw, ids are never reused, and a replay says what was lost', { skip: OURS_ONLY }, async () => {
  const home = tmpHome();
  try {
    let srv = await startServer({ home });
    const port = srv.port;
    const id = uid('crash');
    const sid = await newSession(srv, id);
    const watcher = await openSse(srv, id);
    const load = promptLoad(srv, id, sid, 'think tool');
    await watcher.waitFor((evs) => evs.length > 400, 'events under load', 30000);
    await srv.kill9();
    load.stop();
    await load.done;
    const seen = watcher.events;
    const seenIds = ids(seen);
    assertStrictlyIncreasing(seenIds, 'ids seen live');

    srv = await startServer({ home, port });
    try {
      const s = await openSse(srv, id, { headers: { 'last-event-id': '0' } });
      // The replay is done when a new instance's first event arrives after it.
      const sid2 = await newSession(srv, id);
      await prompt(srv, id, sid2, 'after the crash');
      await s.waitFor((evs) => evs.some((e) => e.json?.params?.update?.content?.text?.includes('after the crash')), 'live events after the crash', 30000);
      s.close();
      const replayed = s.events.filter((e) => !isGap(e) && Number(e.id) <= seenIds.at(-1));
      const n = replayed.length;
      assert.ok(n > 0, 'committed events survive');
      assert.deepEqual(ids(replayed), seenIds.slice(0, n), 'the survivors are a prefix of what was seen');
      assert.deepEqual(replayed.map((e) => e.data), seen.slice(0, n).map((e) => e.data));
      const gaps = s.events.filter(isGap);
      assert.equal(gaps.length, 1, `one crash gap: ${JSON.stringify(gaps.map((g) => g.json))}`);
      const gap = gaps[0].json.params;
      assert.equal(gap.reason, 'crash');
      assert.ok(gap.from > ids(replayed).at(-1) && gap.to >= seenIds.at(-1), `gap ${JSON.stringify(gap)} covers everything seen but lost`);
      assert.equal(Number(gaps[0].id), gap.to);
      const after = s.events.filter((e) => Number(e.id) > gap.to);
      assert.ok(after.length > 0 && ids(after).every((x) => x > seenIds.at(-1)), 'no id a client saw is handed out again');
      assertStrictlyIncreasing(ids(s.events), 'replayed ids');
    } finally {
      await srv.stop();
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('retention: when pruning removed events a client asks for, the replay starts with a pruned gap', { skip: OURS_ONLY }, async () => {
  const home = tmpHome();
  const env = { SANDBOX_AGENT_JOURNAL_MAX_BYTES: String(1 << 20), SANDBOX_AGENT_JOURNAL_PRUNE_INTERVAL_MS: '100' };
  try {
    let srv = await startServer({ home, env });
    const port = srv.port;
    const id = uid('prune');
    const sid = await newSession(srv, id);
    const big = 'x'.repeat(200 * 1024);
    for (let i = 0; i < 8; i++) await prompt(srv, id, sid, `${i} ${big}`);
    await srv.stop();
    // A fresh server has nothing of that history in memory: the replay is the store's.
    srv = await startServer({ home, port, env });
    try {
      const probe = await openSse(srv, id, { headers: { 'last-event-id': '0' } });
      const last = Number((await probe.waitFor((evs) => evs.find((e) => e.json?.method === '_adapter/agent_exited'), 'the exit event')).id);
      probe.close();
      const events = await waitFor(async () => {
        const evs = await replay(srv, id, 0, last);
        return isGap(evs[0]) && evs;
      }, { what: 'retention to prune', timeoutMs: 20000 });
      const gap = events[0].json.params;
      assert.equal(gap.reason, 'pruned');
      assert.equal(gap.from, 1);
      assert.equal(Number(events[0].id), gap.to);
      assert.ok(Number(events[1].id) > gap.to, 'the replay resumes after the gap');
      assertStrictlyIncreasing(ids(events), 'ids');
      // Asking from inside the pruned range gets the rest of the gap only.
      const mid = await replay(srv, id, 2, last);
      assert.ok(isGap(mid[0]) && mid[0].json.params.from === 3 && mid[0].json.params.to === gap.to, JSON.stringify(mid[0].json));
      // Beyond the gap: no gap at all.
      const past = await replay(srv, id, gap.to, last);
      assert.ok(!past.some(isGap));
    } finally {
      await srv.stop();
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('a database that is not ours, corrupt or unwritable stops the start with a clear error; --journal memory is explicit', { skip: OURS_ONLY }, async () => {
  const home = tmpHome();
  try {
    const run = (args) => spawnSync(BIN, ['server', '--no-token', '--port', '1', ...args], { env: { ...process.env, HOME: home }, encoding: 'utf8', timeout: 20000 });
    const junk = path.join(home, 'junk.sqlite3');
    fs.writeFileSync(junk, 'this is not a database '.repeat(100));
    let r = run(['--journal', junk]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /error: cannot open the journal: .*junk\.sqlite3/);
    r = run(['--journal', '/proc/no-such-dir/j.sqlite3']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /error: cannot open the journal: .*\/proc\/no-such-dir\/j\.sqlite3/);

    const srv = await startServer({ args: ['--journal', 'memory'] });
    try {
      const h = await request(srv, 'GET', '/v1/health');
      assert.deepEqual(h.json(), { status: 'ok' });
      assert.match(srv.stderr(), /journal disabled \(--journal memory\)/);
    } finally {
      await srv.stop();
    }
    const srv2 = await startServer();
    try {
      const h = await request(srv2, 'GET', '/v1/health');
      assert.deepEqual(h.json(), { status: 'ok' });
      if (!JOURNAL_PG) assert.ok(fs.existsSync(path.join(srv2.home, '.local/share/sandbox-agent/journal.sqlite3')));
    } finally {
      await srv2.stop();
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
