// The official SDK across a restart of the server (docs/journal.md, src/acp/revive.c): a
// client that outlives the server keeps its session; resumeSession then prompt works, the
// server brings the ACP server id back (the agent again, the client's initialize replayed,
// session/load before the prompt), and the history the agent replays for that load is not
// delivered twice. Also after a kill -9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startServer, OURS_ONLY } from './lib/server.mjs';
import { connect, collect, text } from './lib/sdk.mjs';

const tmpHome = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sa-sdk-restart-'));

for (const how of ['stop', 'kill -9']) {
  test(`the SDK continues its session after a ${how} of the server: resumeSession, then prompt`, { skip: OURS_ONLY }, async () => {
    const home = tmpHome();
    let srv = await startServer({ home });
    const port = srv.port;
    const sdk = await connect(srv);
    try {
      const session = await sdk.createSession({ agent: 'mock', cwd: home });
      const c = collect(session);
      await session.prompt(text('before the restart'));
      await c.until((x) => x.text().includes('Mock response to: before the restart'), 'the first answer');
      if (how === 'stop') await srv.stop();
      else await srv.kill9();

      srv = await startServer({ home, port });
      const resumed = await sdk.resumeSession(session.id);
      assert.equal(resumed.id, session.id);
      const c2 = collect(resumed);
      const res = await resumed.prompt(text('after the restart'));
      assert.equal(res.stopReason, 'end_turn');
      await c2.until((x) => x.text().includes('Mock response to: after the restart'), 'the answer after the restart');
      // The mock replays a loaded session's history as message chunks: the bridge loaded it
      // for the client, and kept that replay to itself.
      assert.equal((c.text() + c2.text()).split('Mock response to: before the restart').length - 1, 1, `history delivered once: ${c.text()} | ${c2.text()}`);
      assert.match(srv.stderr(), /bringing back an ACP server from before the restart/);
      assert.match(srv.stderr(), /loading a session from before the restart/);
      // The same agent session id: it was loaded, not replaced.
      const again = await sdk.getSession(session.id);
      assert.equal(again.agentSessionId, session.agentSessionId);
    } finally {
      await sdk.dispose().catch(() => {});
      await srv.stop();
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
}
