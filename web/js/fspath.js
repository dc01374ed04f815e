// fspath.js - the Files panel's pure logic: path arithmetic on the server's absolute POSIX
// paths, breadcrumbs, listing order, and deciding how a file can be shown (text, image or
// neither). No DOM, so node:test checks it directly.
//
// The server never normalises paths (http-api.md §7.1) and echoes them verbatim, so these
// helpers only collapse duplicate slashes and never resolve `..` themselves.

/** Joins a directory and a name (or relative path). An absolute `name` wins. */
export function joinPath(dir, name) {
  if (name.startsWith('/')) return cleanPath(name);
  return cleanPath((dir || '/') + '/' + name);
}

/** Collapses repeated slashes and drops a trailing one (except for the root). */
export function cleanPath(p) {
  const s = String(p).replace(/\/{2,}/g, '/');
  return s.length > 1 ? s.replace(/\/$/, '') : s || '/';
}

/** The parent of an absolute path; the root's parent is the root. */
export function parentPath(p) {
  const s = cleanPath(p);
  const i = s.lastIndexOf('/');
  return i <= 0 ? '/' : s.slice(0, i);
}

export function baseName(p) {
  const s = cleanPath(p);
  return s === '/' ? '/' : s.slice(s.lastIndexOf('/') + 1);
}

/** [{name, path}] from the root to p, for the breadcrumb bar. */
export function breadcrumbs(p) {
  const s = cleanPath(p);
  const out = [{ name: '/', path: '/' }];
  let acc = '';
  for (const part of s.split('/').filter(Boolean)) {
    acc += '/' + part;
    out.push({ name: part, path: acc });
  }
  return out;
}

/** Directories first, then by name (case-insensitive, numbers in natural order). */
export function sortEntries(entries) {
  const coll = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  return [...entries].sort((a, b) => {
    const da = a.entryType === 'directory', db = b.entryType === 'directory';
    if (da !== db) return da ? -1 : 1;
    return coll.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  });
}

const IMAGE_TYPES = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', svg: 'image/svg+xml',
};

/** The image MIME type for a file name, or '' when it is not an image we show. */
export function imageType(name) {
  const m = /\.([A-Za-z0-9]+)$/.exec(name);
  return (m && IMAGE_TYPES[m[1].toLowerCase()]) || '';
}

/** The image MIME type from the first bytes (magic numbers), or ''. */
export function sniffImage(bytes) {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'image/gif';
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 &&
      b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'image/webp';
  return '';
}

/**
 * Whether bytes look like text: valid UTF-8 with no NUL and few control characters
 * (tabs, newlines, form feeds and escapes for colours are fine). Checks the first 64 KiB;
 * a multi-byte character cut at that edge is not held against the file.
 */
export function looksLikeText(bytes) {
  const n = Math.min(bytes.length, 64 * 1024);
  const head = bytes.subarray(0, n);
  let ctrl = 0;
  for (const c of head) {
    if (c === 0) return false;
    if (c < 0x20 && c !== 9 && c !== 10 && c !== 13 && c !== 12 && c !== 27) ctrl++;
  }
  if (ctrl > n / 100 + 1) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: n < bytes.length });
    return true;
  } catch {
    return false;
  }
}

/** How to show a file: {kind: 'image', mime} | {kind: 'text'} | {kind: 'binary'}. */
export function classify(name, bytes) {
  const mime = sniffImage(bytes) || (imageType(name) === 'image/svg+xml' ? 'image/svg+xml' : '');
  if (mime) return { kind: 'image', mime };
  if (looksLikeText(bytes)) return { kind: 'text' };
  return { kind: 'binary' };
}

/** "2026-01-02 03:04" in local time from an RFC 3339 string; '' when absent. */
export function fmtTime(rfc3339) {
  if (!rfc3339) return '';
  const d = new Date(rfc3339);
  if (isNaN(d)) return String(rfc3339);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
