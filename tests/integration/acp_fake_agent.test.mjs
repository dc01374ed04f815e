// The ACP bridge with a scripted stand-in agent (a shell script installed as the `pi`
// adapter launcher, $AP/pi-acp, which both servers run as is: agents.md §2.6). It makes the
// agent's side deterministic: stderr injection into error replies, invalid stdout, duplicate
// and orphan responses, what the bridge writes to stdin, the agent's environment and cwd,
// exit codes and process-group cleanup.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { withServer, waitFor, OURS_ONLY, IS_REFERENCE } from './lib/server.mjs';
import { request, acpPost, assertProblem, openSse, responsesWithId, deleteAcp } from './lib/http.mjs';

const AGENT = 'pi';
const SCRIPT = String.raw`#!/bin/sh
dir="$(dirname "$0")/fake-agent"
mkdir -p "$dir"
printf '%s\n' "$FAKE_AGENT_MARKER" > "$dir/env.txt"
printf '%s\n' "$PATH" > "$dir/path.txt"
pwd > "$dir/cwd.txt"
echo $$ > "$dir/pid.txt"
echo "fake agent started" >&2
if [ -e "$dir/die-on-start" ]; then echo "dying on start" >&2; exit 4; fi
while IFS= read -r line; do
  printf '%s\n' "$line" >> "$dir/stdin.log"
  case "$line" in
    *test/err_obj*) echo '{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"nope","data":{"k":1}}}' ;;
    *test/err_nodata*) echo '{"jsonrpc":"2.0","id":6,"error":{"code":-32000,"message":"no data"}}' ;;
    *test/err_str*) echo '{"jsonrpc":"2.0","id":7,"error":{"code":-32001,"message":"str","data":"s"}}' ;;
    *test/ok*) echo '{"jsonrpc":"2.0","id":8,"result":{"ok":true}}' ;;
    *test/dup*) echo '{"jsonrpc":"2.0","id":11,"result":{"n":1}}'; echo '{"jsonrpc":"2.0","id":11,"result":{"n":2}}' ;;
    *test/orphan*) echo '{"jsonrpc":"2.0","id":99,"result":{"orphan":true}}' ;;
    *test/garbage*) echo 'this is not json' ;;
    *test/null*) echo '{"jsonrpc":"2.0","id":null,"result":{"null":true}}' ;;
    *test/ask*) echo '{"jsonrpc":"2.0","id":"perm-x","method":"session/request_permission","params":{"sessionId":"s","toolCall":{"toolCallId":"t"},"options":[]}}' ;;
    *perm-x*) echo '{"jsonrpc":"2.0","method":"test/got_response"}' ;;
    *test/spawn*) sleep 300 & echo $! > "$dir/grandchild.txt"; echo '{"jsonrpc":"2.0","method":"test/spawned"}' ;;
    *test/exit3*) echo "exiting with 3" >&2; exit 3 ;;
    *sandbox-agent/reinit/*)
      id=$(printf '%s' "$line" | sed 's/.*"id":"\([^"]*\)".*/\1/')
      echo '{"jsonrpc":"2.0","id":"'"$id"'","result":{"protocolVersion":1}}' ;;
    *initialize*) echo '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":1}}' ;;
    *session/new*) echo '{"jsonrpc":"2.0","id":20,"result":{"sessionId":"fresh"}}' ;;
  esac
done
`;

const SRV_OPTS = { env: { SANDBOX_AGENT_ACP_REGISTRY_URL: 'http://127.0.0.1:9/registry.json', FAKE_AGENT_MARKER: 'marker-42' } };

/** Installs the fake agent as $AP/pi-acp in the server's data dir; returns its state dir. */
function installFake(srv) {
  const ap = path.join(srv.home, '.local/share/sandbox-agent/bin/agent_processes');
  fs.mkdirSync(ap, { recursive: true });
  fs.writeFileSync(path.join(ap, `${AGENT}-acp`), SCRIPT, { mode: 0o755 });
  return path.join(ap, 'fake-agent');
}

async function bootstrap(srv, id) {
  const res = await acpPost(srv, id, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: 1 } }, { agent: AGENT });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json(), { id: 1, jsonrpc: '2.0', result: { protocolVersion: 1 } });
}

const rpc = (id, method, params = {}) => (id === undefined ? { jsonrpc: '2.0', method, params } : { jsonrpc: '2.0', id, method, params });
const pidAlive = (pid) => {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX] /.test(st);
  } catch {
    return false;
  }
};

describe('bridge behaviour with a scripted agent', () => {
  test('stderr is injected into error replies (POST body only), per data shape', () =>
    withServer(SRV_OPTS, async (srv) => {
      installFake(srv);
      await bootstrap(srv, 'f1');
      const sse = await openSse(srv, 'f1');
      try {
        const obj = await acpPost(srv, 'f1', rpc(5, 'test/err_obj'));
        assert.equal(obj.status, 200);
        assert.deepEqual(obj.json(), { error: { code: -32601, data: { agentStderr: 'fake agent started', k: 1 }, message: 'nope' }, id: 5, jsonrpc: '2.0' });
        const nodata = await acpPost(srv, 'f1', rpc(6, 'test/err_nodata'));
        assert.deepEqual(nodata.json().error, { code: -32000, message: 'no data', data: { agentStderr: 'fake agent started' } });
        const str = await acpPost(srv, 'f1', rpc(7, 'test/err_str'));
        assert.deepEqual(str.json().error, { code: -32001, message: 'str', data: 's' }, 'a non-object data is left alone');
        const ok = await acpPost(srv, 'f1', rpc(8, 'test/ok'));
        assert.deepEqual(ok.json(), { id: 8, jsonrpc: '2.0', result: { ok: true } }, 'success replies are untouched');
        await sse.waitFor((evs) => responsesWithId(evs, 8).length, 'the SSE copies');
        assert.deepEqual(responsesWithId(sse.events, 5)[0].json.error.data, { k: 1 }, 'the SSE copy is not modified');
        assert.equal(responsesWithId(sse.events, 6)[0].json.error.data, undefined);
      } finally {
        sse.close();
        await deleteAcp(srv, 'f1');
      }
    }));

  test('invalid stdout, duplicate and orphan responses, id null, agent→client requests', () =>
    withServer(SRV_OPTS, async (srv) => {
      installFake(srv);
      await bootstrap(srv, 'f2');
      const sse = await openSse(srv, 'f2');
      try {
        const garbage = await acpPost(srv, 'f2', rpc(undefined, 'test/garbage'));
        assert.equal(garbage.status, 202);
        const [bad] = await sse.waitFor((evs) => {
          const m = evs.filter((e) => e.json?.method === '_adapter/invalid_stdout');
          return m.length ? m : null;
        }, '_adapter/invalid_stdout');
        assert.equal(bad.json.jsonrpc, '2.0');
        assert.equal(bad.json.params.raw, 'this is not json');
        assert.equal(typeof bad.json.params.error, 'string');
        assert.ok(bad.json.params.error.length > 0);

        const dup = await acpPost(srv, 'f2', rpc(11, 'test/dup'));
        assert.deepEqual(dup.json().result, { n: 1 }, 'the first answer completes the POST');
        await sse.waitFor((evs) => responsesWithId(evs, 11).length === 2, 'both answers on SSE');

        assert.equal((await acpPost(srv, 'f2', rpc(undefined, 'test/orphan'))).status, 202);
        await sse.waitFor((evs) => responsesWithId(evs, 99).length === 1, 'the orphan response on SSE');

        const nul = await acpPost(srv, 'f2', rpc(null, 'test/null'));
        assert.equal(nul.status, 200, 'a request with id null waits for the id-null response');
        assert.deepEqual(nul.json(), { id: null, jsonrpc: '2.0', result: { null: true } });

        assert.equal((await acpPost(srv, 'f2', rpc(undefined, 'test/ask'))).status, 202);
        const [ask] = await sse.waitFor((evs) => {
          const m = evs.filter((e) => e.json?.method === 'session/request_permission');
          return m.length ? m : null;
        }, 'the agent request');
        assert.equal(ask.json.id, 'perm-x');
        const answer = await acpPost(srv, 'f2', { jsonrpc: '2.0', id: 'perm-x', result: { outcome: { outcome: 'cancelled' } } });
        assert.equal(answer.status, 202);
        await sse.waitFor((evs) => evs.some((e) => e.json?.method === 'test/got_response'), 'the agent to read the response');
        // ids stay consecutive through synthesised notifications
        assert.deepEqual(sse.events.map((e) => Number(e.id)), sse.events.map((_, i) => i + 1));
      } finally {
        sse.close();
        await deleteAcp(srv, 'f2');
      }
    }));

  test('each POSTed message reaches stdin as one compact JSON line; the agent inherits env and cwd', () =>
    withServer(SRV_OPTS, async (srv) => {
      const dir = installFake(srv);
      await bootstrap(srv, 'f3');
      try {
        const msgs = [
          rpc(8, 'test/ok', { text: 'line\nbreak and "quotes" ✓', nested: { a: [1, 2, { b: null }] } }),
          rpc(undefined, 'test/note', { x: 1 }),
          { jsonrpc: '2.0', id: 'perm-x', result: { outcome: { outcome: 'cancelled' } } },
        ];
        for (const m of msgs) assert.ok([200, 202].includes((await acpPost(srv, 'f3', m)).status));
        await acpPost(srv, 'f3', rpc(8, 'test/ok'));
        const lines = fs.readFileSync(path.join(dir, 'stdin.log'), 'utf8').split('\n').filter(Boolean);
        assert.equal(lines.length, 5, `one line per message: ${JSON.stringify(lines)}`);
        assert.deepEqual(JSON.parse(lines[0]).method, 'initialize');
        msgs.forEach((m, i) => assert.deepEqual(JSON.parse(lines[i + 1]), m));
        for (const l of lines) assert.ok(!/^\s|\s$/.test(l) && !l.includes('\n'));
        assert.equal(fs.readFileSync(path.join(dir, 'cwd.txt'), 'utf8').trim(), fs.realpathSync(srv.home), 'agent cwd = server cwd');
        assert.equal(fs.readFileSync(path.join(dir, 'env.txt'), 'utf8').trim(), 'marker-42', 'the agent inherits the server environment');
        if (!IS_REFERENCE) {
          // Our launch puts the agent's own install dirs ahead of the inherited PATH.
          const data = path.join(srv.home, '.local/share/sandbox-agent/bin');
          const agentPath = fs.readFileSync(path.join(dir, 'path.txt'), 'utf8').trim().split(':');
          assert.deepEqual(agentPath.slice(0, 2), [path.join(data, `agent_processes/${AGENT}/node_modules/.bin`), data], agentPath.join(':'));
        }
        const info = (await request(srv, 'GET', `/v1/agents/${AGENT}`)).json();
        assert.equal(info.installed, true, 'the launcher makes the agent count as installed');
        assert.equal(info.serverStatus.status, 'running');
      } finally {
        await deleteAcp(srv, 'f3');
      }
    }));

  test('agent exit with a request pending: immediate JSON-RPC error with exit code and stderr; a new session restarts it', { skip: OURS_ONLY }, () =>
    withServer(SRV_OPTS, async (srv) => {
      const dir = installFake(srv);
      await bootstrap(srv, 'f4');
      const sse = await openSse(srv, 'f4');
      try {
        const res = await acpPost(srv, 'f4', rpc(9, 'test/exit3'));
        assert.equal(res.status, 200, res.text);
        assert.equal(
          res.text,
          JSON.stringify({
            jsonrpc: '2.0',
            id: 9,
            error: {
              code: -32010,
              message: `agent process exited (exit code 3): ${AGENT}`,
              data: {
                exitCode: 3,
                signal: null,
                stderr: 'fake agent started\nexiting with 3',
                type: 'urn:sandbox-agent:error:agent_process_exited',
                agent: AGENT,
                serverId: 'f4',
              },
            },
          }),
        );
        const [ev] = await sse.waitFor((evs) => {
          const m = evs.filter((e) => e.json?.method === '_adapter/agent_exited');
          return m.length ? m : null;
        }, 'agent_exited');
        assert.deepEqual(ev.json.params, { code: 3, success: false });
        const stale = await acpPost(srv, 'f4', rpc(8, 'test/ok'));
        assert.equal(stale.json().error.code, -32010, stale.text);
        assertProblem(await acpPost(srv, 'f4', rpc(undefined, 'test/note')), 502, 'agent_process_exited');

        // A restarted agent that dies before answering the replayed initialize: the held
        // session/new fails with the new exit, and nothing hangs.
        fs.writeFileSync(path.join(dir, 'die-on-start'), '');
        const died = await acpPost(srv, 'f4', rpc(20, 'session/new', { cwd: '/', mcpServers: [] }));
        assert.equal(died.status, 200, died.text);
        assert.equal(died.json().error.code, -32010);
        assert.equal(died.json().error.data.exitCode, 4);
        assert.match(died.json().error.data.stderr, /dying on start/);

        // Once it starts cleanly, it gets our replay of the client's initialize, then the
        // session/new, in that order.
        fs.rmSync(path.join(dir, 'die-on-start'));
        fs.rmSync(path.join(dir, 'stdin.log'), { force: true });
        const fresh = await acpPost(srv, 'f4', rpc(20, 'session/new', { cwd: '/', mcpServers: [] }));
        assert.deepEqual(fresh.json(), { jsonrpc: '2.0', id: 20, result: { sessionId: 'fresh' } });
        const lines = fs.readFileSync(path.join(dir, 'stdin.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(lines.map((l) => [l.id, l.method]), [['sandbox-agent/reinit/2', 'initialize'], [20, 'session/new']]);
        assert.deepEqual(lines[0].params, { protocolVersion: 1 }, 'the client\'s own initialize params');
        const restarts = sse.events.filter((e) => e.json?.method === '_adapter/agent_restarted').map((e) => e.json.params.restarts);
        assert.deepEqual(restarts, [1, 2]);
        assert.equal(responsesWithId(sse.events, 'sandbox-agent/reinit/2').length, 0, 'the replayed initialize stays internal');
      } finally {
        sse.close();
        await deleteAcp(srv, 'f4');
      }
    }));

  test('DELETE kills the whole agent process group, grandchildren included', { skip: OURS_ONLY }, () =>
    withServer(SRV_OPTS, async (srv) => {
      const dir = installFake(srv);
      await bootstrap(srv, 'f5');
      const sse = await openSse(srv, 'f5');
      let agentPid;
      let grandchild;
      try {
        assert.equal((await acpPost(srv, 'f5', rpc(undefined, 'test/spawn'))).status, 202);
        await sse.waitFor((evs) => evs.some((e) => e.json?.method === 'test/spawned'), 'the grandchild to start');
        agentPid = Number(fs.readFileSync(path.join(dir, 'pid.txt'), 'utf8'));
        grandchild = Number(fs.readFileSync(path.join(dir, 'grandchild.txt'), 'utf8'));
        assert.ok(pidAlive(agentPid) && pidAlive(grandchild));
        const serverPgrp = fs.readFileSync(`/proc/${srv.pid}/stat`, 'utf8').split(') ')[1].split(' ')[2];
        const agentPgrp = fs.readFileSync(`/proc/${agentPid}/stat`, 'utf8').split(') ')[1].split(' ')[2];
        assert.notEqual(agentPgrp, serverPgrp, 'the agent runs in its own process group');
      } finally {
        sse.close();
        await deleteAcp(srv, 'f5');
      }
      await waitFor(() => !pidAlive(agentPid) && !pidAlive(grandchild), { what: 'agent and grandchild to be gone' });
    }));
});
