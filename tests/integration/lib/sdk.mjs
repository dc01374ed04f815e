// sdk.mjs - helpers for driving a server with the official SDK (sandbox-agent@0.4.2).
import { SandboxAgent } from 'sandbox-agent';
import { waitFor } from './server.mjs';

/** SandboxAgent.connect against srv (its token, if any). */
export function connect(srv, opts = {}) {
  return SandboxAgent.connect({ baseUrl: srv.baseUrl, token: srv.token, ...opts });
}

/** Runs fn(sdk) with a connected client and always disposes it. */
export async function withSdk(srv, opts, fn) {
  const sdk = await connect(srv, opts);
  try {
    return await fn(sdk);
  } finally {
    await sdk.dispose();
  }
}

/**
 * A fetch that records every request the SDK makes: { method, path, search, status, body }.
 * status is the HTTP status, or the error name (e.g. TimeoutError) when fetch failed.
 */
export function recordingFetch() {
  const log = [];
  const fetcher = async (input, init = {}) => {
    const url = new URL(typeof input === 'string' ? input : input.url);
    const entry = { method: (init.method || 'GET').toUpperCase(), path: url.pathname, search: url.search, status: null, body: init.body };
    log.push(entry);
    try {
      const res = await fetch(input, init);
      entry.status = res.status;
      return res;
    } catch (e) {
      entry.status = e?.name || 'error';
      throw e;
    }
  };
  return { log, fetch: fetcher };
}

/** Collects a session's events (SessionEvent objects) as they arrive. */
export function collect(session) {
  const events = [];
  const off = session.onEvent((e) => events.push(e));
  const c = {
    events,
    off,
    /** session/update payloads from the agent, in arrival order. */
    updates: () =>
      events.filter((e) => e.sender === 'agent' && e.payload?.method === 'session/update').map((e) => e.payload.params.update),
    /** Concatenated text of the given update kind. */
    text: (kind = 'agent_message_chunk') =>
      c
        .updates()
        .filter((u) => u.sessionUpdate === kind && u.content?.type === 'text')
        .map((u) => u.content.text)
        .join(''),
    /** Waits until pred(c) is truthy (a safety-net timeout only). */
    until: (pred, what, timeoutMs = 15000) => waitFor(() => pred(c), { what: () => `${what}; events so far: ${JSON.stringify(events.map((e) => e.payload)).slice(0, 4000)}`, timeoutMs }),
  };
  return c;
}

export const text = (t) => [{ type: 'text', text: t }];
