// desktop.mjs - helpers for the desktop tests (http-api.md §10): a display number away from
// other test files, image headers read by hand (PNG IHDR, JPEG SOF, WebP VP8/VP8L/VP8X), a
// small PNG decoder (to find things on the screen by colour), /proc checks for the runtime's
// children, and problem assertions for errors the SDK throws.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { REPO } from './server.mjs';

/** A display number to start probing from: far from the usual :99 and from other files
 *  (the runtime probes upward past taken numbers anyway). */
export const displayNumber = () => 200 + Math.floor(Math.random() * 3000);

/** The server environment for desktop tests: a UTF-8 locale, so xterm reads and writes
 *  UTF-8 whatever the caller's environment says. */
export const DESKTOP_ENV = {
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  // Every test server has a HOME of its own; one GStreamer plugin registry for all of them
  // spares each stream/start the plugin scan (a second or more on a loaded machine).
  GST_REGISTRY_1_0: path.join(REPO, 'build', 'gst-registry.bin'),
};

/** { format, width, height } from the first bytes of a PNG, JPEG or WebP file; throws on
 *  anything else. */
export function imageInfo(bytes) {
  const b = Buffer.from(bytes);
  if (b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    assert.equal(b.toString('latin1', 12, 16), 'IHDR', 'PNG: IHDR is the first chunk');
    return { format: 'png', width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  }
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) {
    // Markers from SOI on; SOFn (C0-CF but C4 DHT, C8 JPG, CC DAC) holds the size.
    let p = 2;
    while (p + 9 < b.length) {
      assert.equal(b[p], 0xff, `JPEG: marker expected at ${p}`);
      const m = b[p + 1];
      if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
        p += 2;
        continue;
      }
      const len = b.readUInt16BE(p + 2);
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        return { format: 'jpeg', height: b.readUInt16BE(p + 5), width: b.readUInt16BE(p + 7) };
      }
      p += 2 + len;
    }
    throw new Error('JPEG: no SOF marker');
  }
  if (b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') {
    assert.equal(b.readUInt32LE(4), b.length - 8, 'WebP: RIFF size is the file size - 8');
    const kind = b.toString('latin1', 12, 16);
    const d = 20; // the first chunk's data
    if (kind === 'VP8 ') {
      assert.deepEqual([...b.subarray(d + 3, d + 6)], [0x9d, 0x01, 0x2a], 'VP8 start code');
      return { format: 'webp', width: b.readUInt16LE(d + 6) & 0x3fff, height: b.readUInt16LE(d + 8) & 0x3fff };
    }
    if (kind === 'VP8L') {
      assert.equal(b[d], 0x2f, 'VP8L signature');
      const v = b.readUInt32LE(d + 1);
      return { format: 'webp', width: (v & 0x3fff) + 1, height: ((v >>> 14) & 0x3fff) + 1 };
    }
    if (kind === 'VP8X') {
      return { format: 'webp', width: b.readUIntLE(d + 4, 3) + 1, height: b.readUIntLE(d + 7, 3) + 1 };
    }
    throw new Error(`WebP: unknown chunk ${kind}`);
  }
  throw new Error(`not an image: ${b.subarray(0, 16).toString('hex')}`);
}

/** Decodes an 8-bit RGB or RGBA PNG: { width, height, pixel(x, y) -> [r, g, b] }. */
export function decodePng(bytes) {
  const b = Buffer.from(bytes);
  const { width, height } = imageInfo(b);
  const depth = b[24];
  const ctype = b[25];
  assert.equal(depth, 8, 'PNG bit depth');
  assert.ok(ctype === 2 || ctype === 6, `PNG colour type ${ctype}`);
  assert.equal(b[28], 0, 'PNG: not interlaced');
  const bpp = ctype === 6 ? 4 : 3;
  const idat = [];
  for (let p = 8; p < b.length; ) {
    const len = b.readUInt32BE(p);
    const type = b.toString('latin1', p + 4, p + 8);
    if (type === 'IDAT') idat.push(b.subarray(p + 8, p + 8 + len));
    if (type === 'IEND') break;
    p += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  assert.equal(raw.length, height * (stride + 1), 'PNG: inflated size');
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = out.subarray(y * stride, (y + 1) * stride);
    const up = y ? out.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? row[i - bpp] : 0;
      const c = i >= bpp ? up[i - bpp] : 0;
      let pred = 0;
      if (f === 1) pred = a;
      else if (f === 2) pred = up[i];
      else if (f === 3) pred = (a + up[i]) >> 1;
      else if (f === 4) {
        const p = a + up[i] - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - up[i]);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? up[i] : c;
      } else assert.equal(f, 0, `PNG filter type ${f}`);
      row[i] = (src[i] + pred) & 0xff;
    }
  }
  return {
    width,
    height,
    pixel(x, y) {
      const o = y * stride + x * bpp;
      return [out[o], out[o + 1], out[o + 2]];
    },
  };
}

/** True while a process with this pid exists and is not a zombie. */
export function pidAlive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The runtime's children from a status: { Xvfb: pid, openbox: pid, dbus: pid }. */
export function runtimePids(status) {
  const out = {};
  for (const p of status.processes || []) if (p.pid) out[p.name] = p.pid;
  return out;
}

/** Awaits an SDK call that must fail; asserts the problem (status, code) and returns it. */
export async function sdkProblem(promise, status, code) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected an HTTP ${status} ${code} error, the call succeeded`);
  assert.equal(err.status, status, `${err.message} ${JSON.stringify(err.problem)}`);
  if (code) {
    assert.equal(err.problem?.type, `urn:sandbox-agent:error:${code}`, JSON.stringify(err.problem));
  }
  return err.problem;
}

/** Asserts the desktop problem members of §10.2 (type, code member) on a parsed body. */
export function assertDesktopProblem(body, status, code, detail) {
  assert.equal(body.status, status, JSON.stringify(body));
  assert.equal(body.type, `urn:sandbox-agent:error:${code}`, JSON.stringify(body));
  assert.equal(body.code, code, JSON.stringify(body));
  assert.deepEqual(Object.keys(body).slice(0, 5), ['type', 'title', 'status', 'detail', 'code'], JSON.stringify(body));
  if (detail instanceof RegExp) assert.match(body.detail, detail);
  else if (detail !== undefined) assert.equal(body.detail, detail);
}

/** After a test SIGKILLed an X server (it cannot clean up): removes its socket file if
 *  nothing listens there any more, and its lock file if its pid is gone, so test runs do not
 *  litter /tmp. */
export async function removeStaleXSocket(display) {
  const file = `/tmp/.X11-unix/X${String(display).replace(/^:/, '')}`;
  const refused = await new Promise((resolve) => {
    const c = net.connect(file);
    c.once('connect', () => {
      c.destroy();
      resolve(false);
    });
    c.once('error', (e) => resolve(e.code === 'ECONNREFUSED'));
  });
  if (refused) fs.rmSync(file, { force: true });
  const lock = `/tmp/.X${String(display).replace(/^:/, '')}-lock`;
  let pid = 0;
  try {
    pid = Number(fs.readFileSync(lock, 'utf8').trim());
  } catch {
    return;
  }
  if (pid > 0 && !pidAlive(pid)) fs.rmSync(lock, { force: true });
}
