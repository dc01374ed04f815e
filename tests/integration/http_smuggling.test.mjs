// Request-smuggling battery: framing that a lenient parser accepts (and a proxy in front of
// us may read differently) is refused with a 400 problem and the connection closed, so no
// second request can hide inside the first. The parser is llhttp, strict (issue: a lenient
// http_parser accepted `Content-Length : 5`, obs-fold, junk after chunk data, a request line
// without a version, and HTTP/9.9).
import assert from 'node:assert/strict';
import * as nodeTest from 'node:test';
import { sharedServer, OURS_ONLY } from './lib/server.mjs';
import { rawExchange } from './lib/http.mjs';

const S = sharedServer(nodeTest);
const { describe } = nodeTest;

/** Sends raw bytes; expects exactly one answer, a 400 problem, then the close. */
async function refused(srv, raw) {
  const ex = await rawExchange(srv.port, [raw], { count: 2, timeoutMs: 10000 });
  assert.equal(ex.responses.length, 1, `one answer only, got: ${ex.buf.toString('latin1').slice(0, 600)}`);
  const [r] = ex.responses;
  assert.equal(r.status, 400, ex.buf.toString('latin1').slice(0, 600));
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  const body = JSON.parse(r.body);
  assert.equal(body.type, 'urn:sandbox-agent:error:invalid_request');
  assert.equal(ex.closed, true, 'the connection is closed after a framing error');
  return body;
}

const HIDDEN = 'GET /v1/agents HTTP/1.1\r\nHost: t\r\n\r\n';

describe('strict framing (smuggling battery)', { skip: OURS_ONLY }, () => {
  S.test('space before the colon of Content-Length', async (srv) => {
    await refused(srv, `POST /v1/health HTTP/1.1\r\nHost: t\r\nContent-Length : ${HIDDEN.length}\r\n\r\n${HIDDEN}`);
  });
  S.test('obs-fold (a header continued on the next line)', async (srv) => {
    await refused(srv, 'GET /v1/health HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n');
  });
  S.test('obs-fold split across writes, at the line break and after the blank', async (srv) => {
    for (const parts of [['GET /v1/health HTTP/1.1\r\nHost: t\r\nX-A: b\r\n', 30, ' c\r\n\r\n'], ['GET /v1/health HTTP/1.1\r\nHost: t\r\nX-A: b\r\n ', 30, 'c\r\n\r\n']]) {
      const ex = await rawExchange(srv.port, parts, { count: 2, timeoutMs: 10000 });
      assert.deepEqual(ex.responses.map((r) => r.status), [400], ex.buf.toString('latin1').slice(0, 400));
    }
  });
  S.test('a header value split across writes is not mistaken for a fold', async (srv) => {
    const ex = await rawExchange(srv.port, ['GET /v1/health HTTP/1.1\r\nHost: t\r\nX-A: b', 30, ' c\r\nX-B:', 30, ' d\r\n\r\n'], { count: 1 });
    assert.deepEqual(ex.responses.map((r) => r.status), [200]);
  });
  S.test('bytes other than CRLF after chunk data', async (srv) => {
    await refused(srv, 'POST /v1/health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n');
  });
  S.test('a request line without a version', async (srv) => {
    await refused(srv, 'GET /v1/health\r\nHost: t\r\n\r\n');
  });
  S.test('an unknown HTTP version', async (srv) => {
    await refused(srv, 'GET /v1/health HTTP/9.9\r\nHost: t\r\n\r\n');
  });
  S.test('Content-Length and Transfer-Encoding together', async (srv) => {
    await refused(srv, `POST /v1/health HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${HIDDEN}`);
  });
  S.test('two different Content-Length headers', async (srv) => {
    await refused(srv, `POST /v1/health HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: ${HIDDEN.length}\r\n\r\n${HIDDEN}`);
  });
  S.test('a Content-Length that is not a number', async (srv) => {
    await refused(srv, 'POST /v1/health HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\nx');
  });
  S.test('Transfer-Encoding other than chunked last', async (srv) => {
    await refused(srv, `POST /v1/health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${HIDDEN}`);
  });
  S.test('a bare LF as line end in the head', async (srv) => {
    await refused(srv, 'GET /v1/health HTTP/1.1\nHost: t\n\n');
  });
  S.test('a control character in a header value', async (srv) => {
    await refused(srv, 'GET /v1/health HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n');
  });
  S.test('whitespace inside a header name', async (srv) => {
    await refused(srv, 'GET /v1/health HTTP/1.1\r\nHost: t\r\nX A: b\r\n\r\n');
  });
  S.test('a chunk size that is not hexadecimal', async (srv) => {
    await refused(srv, 'POST /v1/health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
  });

  S.test('well-formed neighbours still work: chunked body with trailers, then a pipelined request', async (srv) => {
    const ex = await rawExchange(
      srv.port,
      [
        'GET /v1/health HTTP/1.1\r\nHost: t\r\n\r\n' +
          'POST /v1/health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Trailer: yes\r\n\r\n' +
          'GET / HTTP/1.1\r\nHost: t\r\n\r\n',
      ],
      { count: 3, methods: ['GET', 'POST', 'GET'] },
    );
    assert.deepEqual(ex.responses.map((r) => r.status), [200, 405, 200]);
    assert.equal(JSON.parse(ex.responses[2].body).name, 'Sandbox Agent');
  });
});
