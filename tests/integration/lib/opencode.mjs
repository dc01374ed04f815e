// opencode.mjs - helpers for the /opencode tests: the event stream, collected through the
// official @opencode-ai/sdk (v1 `event.subscribe`, or v2 `global.event`).
import { createOpencodeClient } from '@opencode-ai/sdk';
import { createOpencodeClient as createV2 } from '@opencode-ai/sdk/v2';
import { waitFor } from './server.mjs';

export const opencodeBase = (srv) => `${srv.baseUrl}/opencode`;

/**
 * Subscribes to /opencode/event (or /global/event with global) and collects every event.
 * Resolves once server.connected arrived. Returns { events, of(sid), wait(pred, what),
 * close() }.
 */
export async function listen(srv, { global = false } = {}) {
  const ac = new AbortController();
  const sub = global
    ? await createV2({ baseUrl: opencodeBase(srv) }).global.event({ signal: ac.signal })
    : await createOpencodeClient({ baseUrl: opencodeBase(srv) }).event.subscribe({ signal: ac.signal });
  const events = [];
  const done = (async () => {
    try {
      for await (const ev of sub.stream) events.push(ev);
    } catch {
      /* aborted */
    }
  })();
  await waitFor(() => events.some((e) => e.type === 'server.connected'), { what: 'server.connected' });
  return {
    events,
    of: (sid) => events.filter((e) => e.properties?.sessionID === sid || e.properties?.info?.sessionID === sid),
    wait: (pred, what) => waitFor(() => events.find(pred), { timeoutMs: 20000, what }),
    async close() {
      ac.abort();
      await done;
    },
  };
}
