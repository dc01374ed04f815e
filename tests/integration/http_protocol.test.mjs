// HTTP protocol level (http-api.md §2.2, §2.3, §2.8, §3): framing, keep-alive, pipelining,
// HEAD, 405/404, 100-continue, chunked request bodies, size limits, extractor errors.
import assert from 'node:assert/strict';
import * as nodeTest from 'node:test';
import { sharedServer, IS_REFERENCE, OURS_ONLY } from './lib/server.mjs';
import { request, rawExchange, rawConnection, assertProblem, assertErrorStatus, acpPost, initializeMsg, deleteAcp } from './lib/http.mjs';

const S = sharedServer(nodeTest);
const { describe } = nodeTest;

const VARY = 'origin, access-control-request-method, access-control-request-headers';
const NOT_FOUND = '{"type":"urn:sandbox-agent:error:invalid_request","title":"Not Found","status":404,"detail":"endpoint not found"}';
const allowSet = (v) => new Set(String(v).split(',').map((s) => s.trim()).filter(Boolean));

describe('root and health (§3)', () => {
  S.test('GET / answers the fixed JSON document', async (srv) => {
    const res = await request(srv, 'GET', '/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.deepEqual(res.json(), { docs: 'https://sandboxagent.dev', name: 'Sandbox Agent' });
  });

  S.test('GET /v1/health answers {"status":"ok"} with vary, date and content-length, no server header', async (srv) => {
    const res = await request(srv, 'GET', '/v1/health');
    assert.equal(res.status, 200);
    assert.equal(res.text, '{"status":"ok"}');
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.equal(res.headers['content-length'], '15');
    assert.equal(res.headers.vary, VARY);
    assert.ok(res.headers.date && !Number.isNaN(Date.parse(res.headers.date)), 'date header');
    assert.equal(res.headers.server, undefined);
  });

  S.test('/ui/ is served without auth', async (srv) => {
    const res = await request(srv, 'GET', '/ui/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html/);
  });
});

describe('404 and 405 (§2.2)', () => {
  for (const path of ['/nope', '/v1', '/v1/', '/v1/health/', '/v1/sessions/a/b/c', '/v1/rpc', '/openapi.json', '/v1/agents/mock/modes']) {
    S.test(`unknown path ${path} gets the exact 404 problem`, async (srv) => {
      const res = await request(srv, 'GET', path);
      assert.equal(res.status, 404);
      assert.match(res.headers['content-type'], /^application\/problem\+json/);
      assert.equal(res.text, NOT_FOUND);
      assert.equal(res.headers.vary, VARY);
    });
  }

  S.test('unknown path with another method is also 404', async (srv) => {
    const res = await request(srv, 'DELETE', '/definitely/not/here');
    assert.equal(res.status, 404);
    assert.equal(res.text, NOT_FOUND);
  });

  const cases = [
    ['PUT', '/v1/health', ['GET', 'HEAD']],
    ['POST', '/v1/agents', ['GET', 'HEAD']],
    ['DELETE', '/v1/acp', ['GET', 'HEAD']],
    ['PATCH', '/v1/acp/x', ['POST', 'GET', 'HEAD', 'DELETE']],
    ['GET', '/v1/agents/mock/install', ['POST']],
    ['POST', '/', ['GET', 'HEAD']],
  ];
  for (const [method, path, allowed] of cases) {
    S.test(`${method} ${path} gets 405 with allow: ${allowed.join(',')}`, async (srv) => {
      const res = await request(srv, method, path);
      assert.equal(res.status, 405, res.text);
      assert.equal(res.buf.length, 0, 'empty body');
      assert.deepEqual(allowSet(res.headers.allow), new Set(allowed));
      assert.equal(res.headers.vary, VARY);
    });
  }
});

describe('HEAD (§2.2)', () => {
  for (const path of ['/', '/v1/health', '/v1/agents', '/v1/agents/mock', '/v1/acp']) {
    S.test(`HEAD ${path} has the GET headers and no body`, async (srv) => {
      const get = await request(srv, 'GET', path);
      // HEAD then GET pipelined in one write: a stray HEAD body would corrupt the second reply.
      const ex = await rawExchange(
        srv.port,
        [`HEAD ${path} HTTP/1.1\r\nHost: t\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: t\r\n\r\n`],
        { methods: ['HEAD', 'GET'], count: 2 },
      );
      const [head, next] = ex.responses;
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.equal(head.headers['content-type'], get.headers['content-type']);
      if (path !== '/v1/agents' && path !== '/v1/agents/mock') {
        // (agent bodies may legitimately differ between two calls, e.g. serverStatus)
        assert.equal(head.headers['content-length'], get.headers['content-length']);
      } else {
        assert.ok(Number(head.headers['content-length']) > 0);
      }
      assert.equal(next.status, 200);
      assert.equal(next.body.toString(), '{"status":"ok"}');
    });
  }
});

describe('connections (§2.2)', () => {
  S.test('keep-alive: several requests on one connection, sent one after the other', async (srv) => {
    const c = await rawConnection(srv.port);
    try {
      c.send('GET /v1/health HTTP/1.1\r\nHost: t\r\n\r\n');
      let r = await c.read(1);
      assert.equal(r[0].status, 200);
      c.send('GET / HTTP/1.1\r\nHost: t\r\n\r\n');
      r = await c.read(2);
      assert.equal(r[1].status, 200);
      assert.equal(JSON.parse(r[1].body).name, 'Sandbox Agent');
      c.send('GET /nope HTTP/1.1\r\nHost: t\r\n\r\n');
      r = await c.read(3);
      assert.equal(r[2].status, 404);
      assert.equal(c.closed, false);
    } finally {
      c.close();
    }
  });

  S.test('pipelining: three requests in one write are answered in order', async (srv) => {
    const ex = await rawExchange(
      srv.port,
      ['GET /v1/agents HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n'],
      { count: 3, methods: ['GET', 'GET', 'GET'] },
    );
    const [a, b, c] = ex.responses;
    assert.equal(a.status, 200);
    assert.equal(JSON.parse(a.body).agents.length, 7);
    assert.equal(b.status, 404);
    assert.equal(b.body.toString(), NOT_FOUND);
    assert.equal(c.status, 200);
    assert.equal(JSON.parse(c.body).name, 'Sandbox Agent');
  });

  S.test('pipelining: a request split across writes, then two more in a single write', async (srv) => {
    const ex = await rawExchange(
      srv.port,
      ['GET /v1/hea', 30, 'lth HTTP/1.1\r\nHo', 30, 'st: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: t\r\n\r\n'],
      { count: 3 },
    );
    assert.deepEqual(ex.responses.map((r) => r.status), [200, 200, 200]);
    assert.equal(ex.responses[0].body.toString(), '{"status":"ok"}');
    assert.equal(JSON.parse(ex.responses[1].body).name, 'Sandbox Agent');
    assert.equal(ex.responses[2].body.toString(), '{"status":"ok"}');
  });

  S.test('Connection: close is honoured', async (srv) => {
    const ex = await rawExchange(srv.port, ['GET /v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'], { count: 2, timeoutMs: 10000 });
    assert.equal(ex.responses.length, 1);
    assert.equal(ex.responses[0].status, 200);
    assert.match(String(ex.responses[0].headers.connection), /close/i);
    assert.equal(ex.closed, true);
  });

  S.test('HTTP/1.0 requests are answered and the connection closes', async (srv) => {
    const ex = await rawExchange(srv.port, ['GET /v1/health HTTP/1.0\r\n\r\n'], { count: 2, timeoutMs: 10000 });
    assert.equal(ex.responses.length, 1);
    assert.equal(ex.responses[0].status, 200);
    assert.equal(ex.responses[0].body.toString(), '{"status":"ok"}');
    assert.equal(ex.closed, true);
  });

  S.test('a malformed request line gets 400 and the connection closes', async (srv) => {
    const ex = await rawExchange(srv.port, ['GARBAGE\r\n\r\n'], { count: 2, timeoutMs: 10000 });
    assert.equal(ex.responses.length, 1);
    assert.equal(ex.responses[0].status, 400);
    assert.equal(ex.closed, true);
  });

  S.test('Expect: 100-continue gets 100 Continue before the body is sent', async (srv) => {
    const body = JSON.stringify(initializeMsg(1));
    const c = await rawConnection(srv.port);
    try {
      c.send(
        `POST /v1/acp/expect-100?agent=mock HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nAccept: application/json\r\n` +
          `Expect: 100-continue\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
      );
      const interim = await c.read(1, ['POST'], { interim: true });
      assert.equal(interim[0].status, 100);
      c.send(body);
      const [res] = await c.read(1, ['POST']);
      assert.equal(res.status, 200, res.body.toString());
      assert.equal(JSON.parse(res.body).id, 1);
    } finally {
      c.close();
      await deleteAcp(srv, 'expect-100');
    }
  });

  S.test('a chunked request body is accepted on an ACP POST', async (srv) => {
    const body = JSON.stringify(initializeMsg(2));
    const parts = [body.slice(0, 10), body.slice(10, 40), body.slice(40)];
    const chunks = parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`);
    const ex = await rawExchange(
      srv.port,
      [
        'POST /v1/acp/chunked-body?agent=mock HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nAccept: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
        chunks[0],
        20,
        chunks[1],
        20,
        chunks[2] + '0\r\n\r\n',
      ],
      { methods: ['POST'], count: 1 },
    );
    try {
      assert.equal(ex.responses[0].status, 200, ex.responses[0].body.toString());
      const reply = JSON.parse(ex.responses[0].body);
      assert.equal(reply.id, 2);
      assert.equal(reply.jsonrpc, '2.0');
    } finally {
      await deleteAcp(srv, 'chunked-body');
    }
  });
});

describe('body size limits (§2.3)', () => {
  const exactly = (n) => {
    const prefix = '{"jsonrpc":"2.0","method":"_test/padding","params":{"pad":"';
    const suffix = '"}}';
    return prefix + 'a'.repeat(n - prefix.length - suffix.length) + suffix;
  };

  S.test('a 2 MiB (2097152-byte) ACP POST body is accepted', async (srv) => {
    const body = exactly(2 * 1024 * 1024);
    assert.equal(Buffer.byteLength(body), 2097152);
    const res = await acpPost(srv, 'big-body', null, { agent: 'mock', raw: body });
    try {
      assert.equal(res.status, 202, res.text);
      assert.equal(res.buf.length, 0);
    } finally {
      await deleteAcp(srv, 'big-body');
    }
  });

  S.test('reference: one byte over 2 MiB gets 413', { skip: !IS_REFERENCE && 'our cap is larger (32 MiB)' }, async (srv) => {
    const res = await acpPost(srv, 'big-body-2', null, { agent: 'mock', raw: exactly(2 * 1024 * 1024 + 1) });
    assert.equal(res.status, 413);
  });

  S.test('a declared Content-Length of 64 MiB + 1 gets a 413 problem without uploading it', { skip: OURS_ONLY }, async (srv) => {
    const len = 64 * 1024 * 1024 + 1;
    const ex = await rawExchange(
      srv.port,
      [`POST /v1/acp/too-big?agent=mock HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${len}\r\n\r\n{"jsonrpc":"2.0","pad":"aaaaaaaa`],
      { methods: ['POST'], count: 1 },
    );
    const [res] = ex.responses;
    assert.ok(res, `no response: ${ex.buf.toString().slice(0, 500)}`);
    assert.equal(res.status, 413);
    assert.match(res.headers['content-type'], /^application\/problem\+json/);
    const body = JSON.parse(res.body);
    assert.equal(body.status, 413);
    assert.match(body.type, /^urn:sandbox-agent:error:/);
    const list = await request(srv, 'GET', '/v1/acp');
    assert.ok(!list.json().servers.some((s) => s.serverId === 'too-big'), 'no instance was created');
  });

  S.test('a 100 KB request header gets 431', { skip: OURS_ONLY }, async (srv) => {
    const ex = await rawExchange(srv.port, [`GET /v1/health HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`], { count: 1 });
    assert.ok(ex.responses[0], `no response (${ex.error?.code ?? 'closed'})`);
    assert.equal(ex.responses[0].status, 431);
  });

  S.test('the server is still healthy after oversized requests', async (srv) => {
    const res = await request(srv, 'GET', '/v1/health');
    assert.equal(res.status, 200);
  });
});

describe('extractor errors (§2.8): same status; ours answer problem JSON', () => {
  const ref = { reference: IS_REFERENCE };
  S.test('bad query boolean gets 400', async (srv) => {
    for (const q of ['config=yes', 'config=1', 'config=', 'no_cache=TRUE']) {
      const res = await request(srv, 'GET', `/v1/agents?${q}`);
      assertErrorStatus(res, 400, q, ref);
    }
  });

  S.test('duplicate agent query key on an ACP POST gets 400 (and beats a wrong content type)', async (srv) => {
    const res = await request(srv, 'POST', '/v1/acp/dup?agent=mock&agent=mock', { headers: { 'content-type': 'text/plain' }, body: '{}' });
    assertErrorStatus(res, 400, 'duplicate agent', ref);
    const list = await request(srv, 'GET', '/v1/acp');
    assert.ok(!list.json().servers.some((s) => s.serverId === 'dup'));
  });

  S.test('install without a JSON content type gets 415', async (srv) => {
    const res = await request(srv, 'POST', '/v1/agents/mock/install', { headers: { 'content-type': 'text/plain' }, body: '{}' });
    assertErrorStatus(res, 415, 'text/plain', ref);
    const none = await request(srv, 'POST', '/v1/agents/mock/install', { body: Buffer.from('{}') });
    assertErrorStatus(none, 415, 'no content type', ref);
  });

  S.test('install with malformed or empty JSON gets 400', async (srv) => {
    for (const body of ['{', '', 'nope']) {
      const res = await request(srv, 'POST', '/v1/agents/mock/install', { headers: { 'content-type': 'application/json' }, body: Buffer.from(body) });
      assertErrorStatus(res, 400, JSON.stringify(body), ref);
    }
  });

  S.test('install with a wrongly typed field gets 422', async (srv) => {
    const res = await request(srv, 'POST', '/v1/agents/mock/install', { body: { reinstall: 'yes' } });
    assertErrorStatus(res, 422, 'reinstall:"yes"', ref);
  });

  S.test('application/*+json counts as JSON for a JSON-body route', async (srv) => {
    const res = await request(srv, 'POST', '/v1/agents/mock/install', { headers: { 'content-type': 'application/merge-patch+json' }, body: Buffer.from('{}') });
    assert.equal(res.status, 200, res.text);
    assert.equal(typeof res.json().already_installed, 'boolean');
  });
});
