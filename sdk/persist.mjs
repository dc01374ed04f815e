// persist.mjs - ServerSessionPersistDriver: the official SDK's SessionPersistDriver
// (sandbox-agent@0.4.2) kept by the sandbox-agent server itself, through its session routes
// (docs/sessions.md). An app that passes it to `new SandboxAgent({persist})` or
// `SandboxAgent.connect({persist})` needs no database of its own: its sessions are the ones
// `GET /v1/sessions` and the Inspector list, they survive server restarts, and another
// process (with its own driver) can list and resume them.
//
// No dependencies: it needs only a fetch (the global one by default).

/** @typedef {import('sandbox-agent').SessionRecord} SessionRecord */
/** @typedef {import('sandbox-agent').SessionEvent} SessionEvent */
/** @typedef {import('sandbox-agent').ListPageRequest} ListPageRequest */
/** @typedef {import('sandbox-agent').ListEventsRequest} ListEventsRequest */
/**
 * @template T
 * @typedef {import('sandbox-agent').ListPage<T>} ListPage
 */

/**
 * A session as `GET /v1/sessions` answers it (docs/sessions.md, "The session shape").
 * @typedef {object} ServerSession
 * @property {string} id the agent's ACP sessionId
 * @property {string} agent
 * @property {string} serverId the ACP server it lives (or lived) on
 * @property {string} cwd
 * @property {number} createdAt
 * @property {number} lastActivityAt
 * @property {'active' | 'ended' | 'agent_exited'} status
 * @property {string | null} title
 * @property {object | null} modes
 * @property {object[] | null} configOptions
 * @property {SessionRecord} [record] the record an SDK stored, when one did
 */

/**
 * @typedef {object} ServerSessionPersistDriverOptions
 * @property {string} baseUrl the server, e.g. "http://127.0.0.1:2468" (a path prefix is kept)
 * @property {string} [token] sent as `Authorization: Bearer <token>`
 * @property {typeof fetch} [fetch] defaults to the global fetch
 * @property {HeadersInit} [headers] added to every request
 */

/** The server's page bounds (1..1000) and default (100) for both lists. */
const MAX_LIMIT = 1000;
const DEFAULT_LIMIT = 100;

/** An HTTP error of the session routes, with the server's problem document. */
export class ServerSessionPersistError extends Error {
  /**
   * @param {string} message
   * @param {number} status
   * @param {object | null} problem
   */
  constructor(message, status, problem) {
    super(message);
    this.name = 'ServerSessionPersistError';
    this.status = status;
    this.problem = problem;
  }
}

/**
 * The SessionRecord the SDK would have stored for a session it did not create (started by
 * the REST API, the CLI, the Inspector or a client without this driver), so that
 * `getSession`, `listSessions` and `resumeSession` see it too.
 *
 * - `id` and `agentSessionId` are both the ACP session id: the SDK then addresses it by the
 *   id the server lists, and `resumeSession(id)` (which always opens a new ACP session on
 *   its own connection) stores its record on the new session with this id as the alias.
 * - `lastConnectionId` is the ACP server id: no SDK connection has that id, so the SDK
 *   never takes the session for one it has bound already.
 * - No `destroyedAt`, whatever the status: `ended` and `agent_exited` only say that the
 *   agent process is gone (every SDK `dispose()` ends its sessions that way, and a restart
 *   ends them all), not that anyone destroyed the session; the SDK resumes such sessions,
 *   and sets `destroyedAt` itself when asked to destroy one.
 * - `configOptions` only when the server knows some: an absent value makes the SDK ask the
 *   agent for them when it needs them.
 *
 * @param {ServerSession} session
 * @returns {SessionRecord}
 */
export function sessionRecordFromServer(session) {
  /** @type {SessionRecord} */
  const record = {
    id: session.id,
    agent: session.agent,
    agentSessionId: session.id,
    lastConnectionId: session.serverId ?? '',
    createdAt: session.createdAt,
    sessionInit: { cwd: session.cwd, mcpServers: [] },
    modes: session.modes ?? null,
  };
  if (Array.isArray(session.configOptions) && session.configOptions.length > 0) {
    record.configOptions = session.configOptions;
  }
  return record;
}

/** The record of a server session: the one an SDK stored, else one built from it. */
function recordOf(/** @type {ServerSession} */ session) {
  return session.record && typeof session.record === 'object' ? session.record : sessionRecordFromServer(session);
}

/** A page size within the server's bounds (the SDK may ask for more; it follows cursors). */
function pageLimit(/** @type {number | undefined} */ limit) {
  if (!Number.isFinite(limit) || limit < 1) return DEFAULT_LIMIT;
  return Math.min(Math.floor(limit), MAX_LIMIT);
}

/** @implements {import('sandbox-agent').SessionPersistDriver} */
export class ServerSessionPersistDriver {
  /** @param {ServerSessionPersistDriverOptions} options */
  constructor(options) {
    if (!options || typeof options.baseUrl !== 'string' || !options.baseUrl) {
      throw new TypeError('ServerSessionPersistDriver needs a baseUrl');
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.headers = options.headers;
  }

  /**
   * One request to the server. Answers the parsed JSON body (undefined when empty), or
   * undefined for a 404 when notFound is 'undefined'; throws ServerSessionPersistError
   * for any other failure.
   * @param {string} method
   * @param {string} path
   * @param {{ body?: unknown, notFound?: 'undefined' | 'throw' }} [opts]
   */
  async request(method, path, opts = {}) {
    const headers = new Headers(this.headers);
    headers.set('accept', 'application/json');
    if (this.token) headers.set('authorization', `Bearer ${this.token}`);
    /** @type {RequestInit} */
    const init = { method, headers };
    if (opts.body !== undefined) {
      headers.set('content-type', 'application/json');
      init.body = JSON.stringify(opts.body);
    }
    const res = await this.fetch(`${this.baseUrl}${path}`, init);
    const text = await res.text();
    if (res.status === 404 && opts.notFound === 'undefined') return undefined;
    let body;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const problem = body && typeof body === 'object' ? body : null;
      const what = problem?.title ? `${problem.title}${problem.detail ? `: ${problem.detail}` : ''}` : text.slice(0, 500) || res.statusText;
      throw new ServerSessionPersistError(`${method} ${path} failed (HTTP ${res.status}): ${what}`, res.status, problem);
    }
    if (text && body === undefined) {
      throw new ServerSessionPersistError(`${method} ${path}: the server answered invalid JSON`, res.status, null);
    }
    return body;
  }

  /**
   * The record of a session, by the SDK's id (the server resolves its local ids) or by ACP
   * session id; undefined when the server knows neither.
   * @param {string} id
   * @returns {Promise<SessionRecord | undefined>}
   */
  async getSession(id) {
    const session = await this.request('GET', `/v1/sessions/${encodeURIComponent(id)}`, { notFound: 'undefined' });
    return session ? recordOf(session) : undefined;
  }

  /**
   * The server's sessions, oldest first, as records. The cursor is the server's.
   * @param {ListPageRequest} [request]
   * @returns {Promise<ListPage<SessionRecord>>}
   */
  async listSessions(request = {}) {
    const query = new URLSearchParams({ limit: String(pageLimit(request.limit)) });
    if (request.cursor) query.set('cursor', request.cursor);
    const page = await this.request('GET', `/v1/sessions?${query}`);
    // A record moves to a new ACP session when the SDK resumes it; should the session it
    // left still carry it, the page lists the record once: its latest session (the list is
    // oldest first).
    const byId = new Map();
    for (const session of page.items ?? []) {
      const record = recordOf(session);
      byId.delete(record.id);
      byId.set(record.id, record);
    }
    return { items: [...byId.values()], nextCursor: page.nextCursor ?? undefined };
  }

  /**
   * Stores the record on its ACP session (record.agentSessionId), where the server keeps it
   * with the session's summary and events; record.id becomes an alias of that session.
   * @param {SessionRecord} record
   * @returns {Promise<void>}
   */
  async updateSession(record) {
    if (!record || typeof record.agentSessionId !== 'string' || !record.agentSessionId) {
      throw new TypeError('updateSession needs a record with an agentSessionId');
    }
    await this.request('PUT', `/v1/sessions/${encodeURIComponent(record.agentSessionId)}/record`, { body: record });
  }

  /**
   * The session's events as the server journaled them, oldest first. The cursor is the
   * last eventIndex of the previous page (the server's offset); a session the server does
   * not know has no events, as with the SDK's in-memory driver.
   * @param {ListEventsRequest} request
   * @returns {Promise<ListPage<SessionEvent>>}
   */
  async listEvents(request) {
    const offset = Number.parseInt(request.cursor ?? '0', 10);
    const query = new URLSearchParams({
      offset: String(Number.isFinite(offset) && offset > 0 ? offset : 0),
      limit: String(pageLimit(request.limit)),
    });
    const page = await this.request('GET', `/v1/sessions/${encodeURIComponent(request.sessionId)}/events?${query}`, {
      notFound: 'undefined',
    });
    if (!page) return { items: [] };
    const next = page.nextOffset;
    return { items: page.items ?? [], nextCursor: Number.isInteger(next) ? String(next) : undefined };
  }

  /**
   * Sends nothing. The SDK persists only envelopes it observed on the ACP bridge, and the
   * server journaled every one of them (both directions, with its time and connection)
   * before the SDK could see it; listEvents reads them back. Storing the SDK's copy too
   * would keep every event twice, under ids and indexes of the SDK's own numbering.
   * @param {string} _sessionId
   * @param {SessionEvent} _event
   * @returns {Promise<void>}
   */
  async insertEvent(_sessionId, _event) {}
}
