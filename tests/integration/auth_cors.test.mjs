// Authentication (http-api.md §2.4) and CORS (§2.5).
import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import { startServer, withServer, annotate, OURS_ONLY } from './lib/server.mjs';
import { request, acpPost, initializeMsg, assertProblem } from './lib/http.mjs';

const TOKEN = 's3cret-Token_1';
const TOKEN_401 =
  '{"type":"urn:sandbox-agent:error:token_invalid","title":"Token Invalid","status":401,"detail":"token invalid","details":{"message":"missing or invalid bearer token"}}';
const ALLOWED = 'http://allowed.example';
const OTHER = 'http://other.example:8080';
const EVIL = 'http://evil.example';

/** One server with a token and explicit CORS configuration, shared by this file's auth tests. */
let srv;
before(async () => {
  srv = await startServer({
    token: TOKEN,
    args: ['-O', ALLOWED, '-O', OTHER, '-M', 'GET', '-M', 'POST', '-A', 'content-type', '-A', 'authorization', '-C'],
  });
});
after(async () => {
  if (srv) await srv.stop();
});
const T = (name, fn) =>
  test(name, async () => {
    try {
      await fn();
    } catch (e) {
      throw annotate(e, srv);
    }
  });
const noAuth = { token: null };

describe('authentication (§2.4)', () => {
  T('missing token: 401 with the exact problem body and no WWW-Authenticate', async () => {
    const res = await request(srv, 'GET', '/v1/health', noAuth);
    assert.equal(res.status, 401);
    assert.match(res.headers['content-type'], /^application\/problem\+json/);
    assert.equal(res.text, TOKEN_401);
    assert.equal(res.headers['www-authenticate'], undefined);
  });

  T('exact "Bearer <token>" is accepted', async () => {
    const res = await request(srv, 'GET', '/v1/health', { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
  });

  for (const [label, value] of [
    ['lower-case scheme', `bearer ${TOKEN}`],
    ['two spaces', `Bearer  ${TOKEN}`],
    ['bare token', TOKEN],
    ['basic auth', `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`],
    ['wrong token', 'Bearer nope'],
    ['token prefix', `Bearer ${TOKEN.slice(0, -1)}`],
    ['token with suffix', `Bearer ${TOKEN}x`],
    ['empty bearer', 'Bearer '],
  ]) {
    T(`rejected: ${label}`, async () => {
      const res = await request(srv, 'GET', '/v1/health', { headers: { authorization: value } });
      assert.equal(res.status, 401, `${value} -> ${res.status}`);
      assert.equal(res.text, TOKEN_401);
    });
  }

  T('every /v1 route requires the token', async () => {
    const routes = [
      ['GET', '/v1/health'],
      ['GET', '/v1/agents'],
      ['GET', '/v1/agents/mock'],
      ['POST', '/v1/agents/mock/install'],
      ['GET', '/v1/acp'],
      ['GET', '/v1/acp/s1'],
      ['DELETE', '/v1/acp/s1'],
    ];
    for (const [method, path] of routes) {
      const res = await request(srv, method, path, { ...noAuth, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? Buffer.from('{}') : undefined });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.text, TOKEN_401, `${method} ${path}`);
    }
    const post = await acpPost(srv, 'auth-x', initializeMsg(), { agent: 'mock', headers: { authorization: 'Bearer wrong' } });
    assert.equal(post.status, 401);
    const list = await request(srv, 'GET', '/v1/acp');
    assert.deepEqual(list.json(), { servers: [] }, 'the unauthenticated POST created nothing');
  });

  T('access_token query parameter is not accepted on normal routes', async () => {
    const res = await request(srv, 'GET', `/v1/agents?access_token=${TOKEN}`, noAuth);
    assert.equal(res.status, 401);
  });

  T('exempt: GET /, /ui/, unknown paths and OPTIONS', async () => {
    assert.equal((await request(srv, 'GET', '/', noAuth)).status, 200);
    assert.equal((await request(srv, 'GET', '/ui/', noAuth)).status, 200);
    const nf = await request(srv, 'GET', '/v2/whatever', noAuth);
    assert.equal(nf.status, 404);
    assert.equal(nf.json().detail, 'endpoint not found');
    const opt = await request(srv, 'OPTIONS', '/v1/health', noAuth);
    assert.equal(opt.status, 200);
    assert.equal(opt.buf.length, 0);
  });

  test('dot segments are resolved before routing: /ui/../v1/health is /v1/health, token and all', { skip: OURS_ONLY }, async () => {
    for (const p of ['/ui/../v1/health', '/ui/./../v1/./health', '/../../v1/health', '/v1/agents/../health']) {
      const anon = await request(srv, 'GET', p, noAuth);
      assert.equal(anon.status, 401, `${p}: ${anon.text}`);
      const res = await request(srv, 'GET', p);
      assert.equal(res.status, 200, p);
      assert.deepEqual(res.json(), { status: 'ok' }, p);
    }
    const ui = await request(srv, 'GET', '/v1/../ui/', noAuth);
    assert.equal(ui.status, 200);
    assert.match(ui.headers['content-type'], /^text\/html/);
  });

  T('under /v1 authentication runs before the method check (401, not 405)', async () => {
    const res = await request(srv, 'PUT', '/v1/health', noAuth);
    assert.equal(res.status, 401);
    const authed = await request(srv, 'PUT', '/v1/health');
    assert.equal(authed.status, 405);
  });
});

describe('CORS with explicit configuration (§2.5)', () => {
  T('preflight from an allowed origin', async () => {
    const res = await request(srv, 'OPTIONS', '/v1/agents', {
      ...noAuth,
      headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.buf.length, 0);
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
    assert.equal(res.headers['access-control-allow-methods'], 'GET,POST');
    assert.equal(res.headers['access-control-allow-headers'], 'content-type,authorization');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers.vary, 'origin, access-control-request-method, access-control-request-headers');
    assert.equal(res.headers['access-control-max-age'], undefined);
    assert.equal(res.headers['access-control-expose-headers'], undefined);
  });

  T('preflight from the second allowed origin (with a port)', async () => {
    const res = await request(srv, 'OPTIONS', '/v1/acp/x', { ...noAuth, headers: { origin: OTHER, 'access-control-request-method': 'GET' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], OTHER);
  });

  T('preflight from a disallowed origin: no allow-origin, credentials still sent', async () => {
    const res = await request(srv, 'OPTIONS', '/v1/agents', { ...noAuth, headers: { origin: EVIL, 'access-control-request-method': 'GET' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
  });

  T('origin matching is exact', async () => {
    for (const origin of [`${ALLOWED}/`, 'http://ALLOWED.example', 'https://allowed.example', 'http://allowed.example:80']) {
      const res = await request(srv, 'GET', '/v1/health', { headers: { origin } });
      assert.equal(res.status, 200);
      assert.equal(res.headers['access-control-allow-origin'], undefined, origin);
    }
  });

  T('simple requests: allowed origin echoed, disallowed origin still served', async () => {
    const ok = await request(srv, 'GET', '/v1/health', { headers: { origin: ALLOWED } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], ALLOWED);
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    const evil = await request(srv, 'GET', '/v1/health', { headers: { origin: EVIL } });
    assert.equal(evil.status, 200);
    assert.deepEqual(evil.json(), { status: 'ok' });
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
    assert.equal(evil.headers['access-control-allow-credentials'], 'true');
  });

  T('error responses (401, 404) carry the CORS headers too', async () => {
    const unauth = await request(srv, 'GET', '/v1/agents', { ...noAuth, headers: { origin: ALLOWED } });
    assert.equal(unauth.status, 401);
    assert.equal(unauth.headers['access-control-allow-origin'], ALLOWED);
    assert.equal(unauth.headers['access-control-allow-credentials'], 'true');
    const nf = await request(srv, 'GET', '/nope', { ...noAuth, headers: { origin: ALLOWED } });
    assert.equal(nf.status, 404);
    assert.equal(nf.headers['access-control-allow-origin'], ALLOWED);
  });
});

describe('CORS defaults', () => {
  test('without CORS flags: OPTIONS answers 200 with wildcards and no allow-origin', () =>
    withServer({}, async (s) => {
      for (const path of ['/v1/health', '/v1/acp/anything', '/not/a/route']) {
        const res = await request(s, 'OPTIONS', path, { headers: { origin: ALLOWED, 'access-control-request-method': 'DELETE' } });
        assert.equal(res.status, 200, path);
        assert.equal(res.buf.length, 0);
        assert.equal(res.headers['access-control-allow-methods'], '*');
        assert.equal(res.headers['access-control-allow-headers'], '*');
        assert.equal(res.headers['access-control-allow-origin'], undefined);
        assert.equal(res.headers['access-control-allow-credentials'], undefined);
      }
      const plain = await request(s, 'OPTIONS', '/v1/health');
      assert.equal(plain.status, 200);
      const get = await request(s, 'GET', '/v1/health', { headers: { origin: ALLOWED } });
      assert.equal(get.headers['access-control-allow-origin'], undefined);
    }));

  test('-C without -M/-A starts (no reference panic) and answers preflights', { skip: OURS_ONLY }, () =>
    withServer({ args: ['-O', ALLOWED, '-C'] }, async (s) => {
      const res = await request(s, 'OPTIONS', '/v1/acp/x', {
        headers: { origin: ALLOWED, 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'x-custom, content-type' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      const methods = String(res.headers['access-control-allow-methods']);
      assert.ok(methods === '*' || /\bDELETE\b/i.test(methods), `allow-methods: ${methods}`);
      const hdrs = String(res.headers['access-control-allow-headers']).toLowerCase();
      assert.ok(hdrs === '*' || (hdrs.includes('x-custom') && hdrs.includes('content-type')), `allow-headers: ${hdrs}`);
      const get = await request(s, 'GET', '/v1/health', { headers: { origin: ALLOWED } });
      assert.equal(get.status, 200);
      assert.equal(get.headers['access-control-allow-origin'], ALLOWED);
    }));
});

describe('auth flag forms', () => {
  test('neither --token nor --no-token means no authentication', () =>
    withServer({ noTokenFlag: true }, async (s) => {
      const res = await request(s, 'GET', '/v1/agents');
      assert.equal(res.status, 200);
    }));

  test('-t short flag enables authentication', () =>
    withServer({ noTokenFlag: true, args: ['-t', 'short'], healthToken: 'short' }, async (s) => {
      assert.equal((await request(s, 'GET', '/v1/health')).status, 401);
      const ok = await request(s, 'GET', '/v1/health', { headers: { authorization: 'Bearer short' } });
      assert.equal(ok.status, 200);
    }));
});
