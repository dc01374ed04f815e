// tar.js - builds an uncompressed POSIX ustar archive in memory, for the Files panel's batch
// upload (POST /v1/fs/upload-batch takes application/x-tar). Pure: no DOM, so node:test
// runs it directly and the output can be checked by GNU tar.
//
// Only what the upload needs: regular files and directories, names split into ustar's
// prefix/name fields when longer than 100 bytes (no pax or GNU long-name extensions, so a
// name that cannot be split is refused with a clear error rather than silently cut).

const BLOCK = 512;
const enc = new TextEncoder();

/** Writes s (a string of ASCII or UTF-8) into buf at off, at most len bytes. */
function putStr(buf, off, len, s) {
  const b = enc.encode(s);
  if (b.length > len) throw new Error(`tar: field too long: ${s}`);
  buf.set(b, off);
}

/** Octal number field: len-1 digits, zero-padded, then NUL (what GNU tar writes). */
function putOct(buf, off, len, n) {
  const s = Math.floor(n).toString(8);
  if (s.length > len - 1) throw new Error(`tar: number ${n} does not fit in ${len - 1} octal digits`);
  putStr(buf, off, len, s.padStart(len - 1, '0'));
}

/**
 * Splits a path into ustar's name (≤100 bytes) and prefix (≤155 bytes) at a '/'.
 * Throws when no split fits: the server would otherwise extract a truncated name.
 */
export function splitName(path) {
  const bytes = enc.encode(path).length;
  if (bytes <= 100) return { name: path, prefix: '' };
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i), name = path.slice(i + 1);
    if (enc.encode(prefix).length <= 155 && enc.encode(name).length <= 100 && name) return { name, prefix };
  }
  throw new Error(`tar: name too long for ustar (${bytes} bytes): ${path}`);
}

/** Refuses names the server refuses (absolute, or with a `..` component), and empty ones. */
export function checkName(path) {
  if (!path) throw new Error('tar: empty name');
  if (path.startsWith('/')) throw new Error(`tar: absolute name: ${path}`);
  if (path.split('/').includes('..')) throw new Error(`tar: name with a '..' component: ${path}`);
}

/** One 512-byte header. entry: {name, size, mtime (seconds), mode, type: '0' | '5'}. */
export function header(entry) {
  const h = new Uint8Array(BLOCK);
  const { name, prefix } = splitName(entry.name);
  putStr(h, 0, 100, name);
  putOct(h, 100, 8, entry.mode);
  putOct(h, 108, 8, 0); // uid
  putOct(h, 116, 8, 0); // gid
  putOct(h, 124, 12, entry.size);
  putOct(h, 136, 12, entry.mtime);
  h.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  h[156] = entry.type.charCodeAt(0);
  putStr(h, 257, 6, 'ustar'); // magic "ustar\0"
  putStr(h, 263, 2, '00');
  putStr(h, 345, 155, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  // Six octal digits, NUL, space: the traditional layout every tar accepts.
  putStr(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/**
 * The archive for files: [{name, data: Uint8Array, mtime?: seconds, mode?}] and optional
 * directories: [{name, dir: true}]. Returns a Uint8Array ending with two zero blocks.
 */
export function buildTar(entries, now = Date.now()) {
  const parts = [];
  let total = 0;
  for (const e of entries) {
    const dir = !!e.dir;
    let name = String(e.name).replace(/^\.\//, '');
    checkName(name.replace(/\/+$/, ''));
    if (dir && !name.endsWith('/')) name += '/';
    const data = dir ? new Uint8Array(0) : e.data;
    if (!(data instanceof Uint8Array)) throw new Error(`tar: data of ${name} must be a Uint8Array`);
    const mtime = e.mtime ?? Math.floor(now / 1000);
    const mode = e.mode ?? (dir ? 0o755 : 0o644);
    const h = header({ name, size: data.length, mtime, mode, type: dir ? '5' : '0' });
    parts.push(h, data);
    total += BLOCK + Math.ceil(data.length / BLOCK) * BLOCK;
  }
  total += 2 * BLOCK;
  const out = new Uint8Array(total);
  let off = 0;
  for (let i = 0; i < parts.length; i += 2) {
    out.set(parts[i], off);
    off += BLOCK;
    out.set(parts[i + 1], off);
    off += Math.ceil(parts[i + 1].length / BLOCK) * BLOCK;
  }
  return out;
}
