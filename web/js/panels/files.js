// panels/files.js - the Files panel: browse the server's file system (/v1/fs/*), view text
// and images, upload one file or several (as a tar built in the browser), download, make
// directories, move/rename and delete. Path logic lives in fspath.js, the tar writer in
// tar.js; this module is only the DOM around them.
//
// State (owned by this module, one panel per page): the directory shown, its entries and
// the file open in the viewer, whose blob URL is revoked when another file replaces it.

import { loadCss } from '../dom.js';
import * as fsp from '../fspath.js';
import { buildTar } from '../tar.js';

/** Text beyond this is not put in the viewer (a huge <pre> freezes the page). */
const TEXT_CAP = 256 * 1024;

let ctx, api, h, fmtBytes;
let el;           // the panel's <section>
let cwd = '';     // directory shown
let viewUrl = ''; // blob URL of the image in the viewer
let loadSeq = 0;  // drops answers to listings that a newer one replaced
const q = (p) => encodeURIComponent(p);

function css() {
  loadCss(new URL('../../css/files.css', import.meta.url));
}

function setErr(msg) {
  const e = el.querySelector('.fs-err');
  ctx.dom.errLine(e, msg);
}

/** Runs an action; its failure goes to the panel's error line, not to the console. */
async function act(fn) {
  setErr('');
  try {
    return await fn();
  } catch (e) {
    setErr(e.message || String(e));
    return undefined;
  }
}

async function call(method, path, opts) {
  const r = await api.request(method, path, opts);
  if (!r.ok) throw new api.HttpError(r);
  return r;
}

/* ---- listing -------------------------------------------------------------------------------- */

async function go(dir) {
  const seq = ++loadSeq;
  const want = fsp.cleanPath(dir);
  const r = await call('GET', `/v1/fs/entries?path=${q(want)}`);
  if (seq !== loadSeq) return;
  cwd = want;
  el.querySelector('#fs-path').value = cwd;
  renderCrumbs();
  renderList(fsp.sortEntries(r.json || []));
}

function renderCrumbs() {
  const nav = el.querySelector('.fs-crumbs');
  nav.replaceChildren();
  const crumbs = fsp.breadcrumbs(cwd);
  crumbs.forEach((c, i) => {
    if (i > 1) nav.append(h('span', { class: 'fs-sep', 'aria-hidden': 'true' }, '/'));
    const last = i === crumbs.length - 1;
    nav.append(h('button', { type: 'button', class: 'linkish', 'aria-current': last ? 'location' : null, onclick: () => act(() => go(c.path)) }, c.name));
  });
  el.querySelector('#fs-up').disabled = cwd === '/';
}

function renderList(entries) {
  const body = el.querySelector('#fs-list tbody');
  body.replaceChildren();
  if (!entries.length) body.append(h('tr', {}, h('td', { colspan: 4, class: 'dim' }, 'empty directory')));
  for (const e of entries) {
    const dir = e.entryType === 'directory';
    const open = () => act(() => (dir ? go(e.path) : view(e)));
    body.append(h('tr', { 'data-name': e.name, 'data-type': e.entryType },
      h('td', { class: 'fs-name' },
        h('button', { type: 'button', class: 'linkish', title: dir ? 'open directory' : 'view file', onclick: open }, e.name + (dir ? '/' : ''))),
      h('td', { class: 'num' }, dir ? '' : fmtBytes(e.size)),
      h('td', { class: 'dim' }, fsp.fmtTime(e.modified)),
      h('td', { class: 'fs-acts' },
        dir ? null : h('button', { type: 'button', class: 'sm', 'data-act': 'download', onclick: () => act(() => download(e.path)) }, 'Download'),
        h('button', { type: 'button', class: 'sm', 'data-act': 'move', onclick: () => moveForm(e) }, 'Move'),
        h('button', { type: 'button', class: 'sm danger', 'data-act': 'delete', onclick: () => act(() => remove(e)) }, 'Delete'))));
  }
}

/* ---- viewer and download ------------------------------------------------------------------ */

async function fetchBytes(path) {
  const r = await call('GET', `/v1/fs/file?path=${q(path)}`, { accept: 'blob' });
  return r.blob;
}

async function view(entry) {
  const box = el.querySelector('.fs-view');
  const blob = await fetchBytes(entry.path);
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const kind = fsp.classify(entry.name, bytes);
  if (viewUrl) URL.revokeObjectURL(viewUrl);
  viewUrl = '';
  const head = h('div', { class: 'fs-view-head' },
    h('strong', { class: 'fs-view-name' }, entry.path),
    h('span', { class: 'dim' }, ` ${fmtBytes(bytes.length)} · ${kind.kind === 'image' ? kind.mime : kind.kind}`),
    h('button', { type: 'button', class: 'sm', onclick: () => act(() => download(entry.path)) }, 'Download'),
    h('button', { type: 'button', class: 'sm', 'aria-label': 'close viewer', onclick: closeView }, 'Close'));
  let content;
  if (kind.kind === 'image') {
    viewUrl = URL.createObjectURL(new Blob([bytes], { type: kind.mime }));
    content = h('img', { class: 'fs-img', src: viewUrl, alt: entry.name });
  } else if (kind.kind === 'text') {
    const cut = bytes.length > TEXT_CAP;
    const text = new TextDecoder().decode(cut ? bytes.subarray(0, TEXT_CAP) : bytes);
    content = h('div', {},
      cut ? h('p', { class: 'note' }, `Showing the first ${fmtBytes(TEXT_CAP)} of ${fmtBytes(bytes.length)}; download the file for the rest.`) : null,
      h('pre', { class: 'fs-text' }, text));
  } else {
    content = h('p', { class: 'note' }, `Binary file (${fmtBytes(bytes.length)}): not shown. Use Download.`);
  }
  box.replaceChildren(head, content);
  box.hidden = false;
}

function closeView() {
  const box = el.querySelector('.fs-view');
  box.replaceChildren();
  box.hidden = true;
  if (viewUrl) URL.revokeObjectURL(viewUrl);
  viewUrl = '';
}

async function download(path) {
  const blob = await fetchBytes(path);
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: fsp.baseName(path), hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  // The download has taken its copy once click() returned; a minute is generous.
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/* ---- changes ------------------------------------------------------------------------------- */

async function remove(e) {
  const dir = e.entryType === 'directory';
  if (!confirm(dir ? `Delete the directory ${e.path} and everything in it?` : `Delete ${e.path}?`)) return;
  await call('DELETE', `/v1/fs/entry?path=${q(e.path)}${dir ? '&recursive=true' : ''}`);
  ctx.toast(`deleted ${e.name}`, 'ok');
  await go(cwd);
}

/** An inline row under the entry: destination path, Move, Cancel. */
function moveForm(e) {
  el.querySelector('.fs-move-row')?.remove();
  const row = el.querySelector(`#fs-list tr[data-name="${CSS.escape(e.name)}"]`);
  const input = h('input', { id: 'fs-move-to', type: 'text', value: e.path, 'aria-label': `new path for ${e.name}`, spellcheck: 'false' });
  const over = h('input', { id: 'fs-move-over', type: 'checkbox' });
  const submit = async (ev) => {
    ev.preventDefault();
    const to = input.value.trim();
    if (!to || to === e.path) return;
    await act(async () => {
      const dest = to.startsWith('/') ? to : fsp.joinPath(cwd, to);
      await call('POST', '/v1/fs/move', { body: { from: e.path, to: dest, overwrite: over.checked } });
      ctx.toast(`moved to ${dest}`, 'ok');
      await go(cwd);
    });
  };
  const cancel = () => tr.remove();
  const tr = h('tr', { class: 'fs-move-row' }, h('td', { colspan: 4 },
    h('form', { class: 'row', onsubmit: submit, onkeydown: (k) => { if (k.key === 'Escape') cancel(); } },
      h('label', { for: 'fs-move-to' }, 'Move to'), input,
      h('label', { class: 'inline' }, over, ' overwrite'),
      h('button', { type: 'submit', class: 'primary sm' }, 'Move'),
      h('button', { type: 'button', class: 'sm', onclick: cancel }, 'Cancel'))));
  row.after(tr);
  input.focus();
  const slash = e.path.lastIndexOf('/');
  input.setSelectionRange(slash + 1, e.path.length);
}

async function mkdir(ev) {
  ev.preventDefault();
  const input = el.querySelector('#fs-mkdir-name');
  const name = input.value.trim();
  if (!name) return setErr('type a name for the new directory');
  await act(async () => {
    await call('POST', `/v1/fs/mkdir?path=${q(fsp.joinPath(cwd, name))}`);
    input.value = '';
    await go(cwd);
  });
}

async function uploadOne(file) {
  const dest = fsp.joinPath(cwd, file.name);
  const r = await call('PUT', `/v1/fs/file?path=${q(dest)}`, { raw: file, headers: { 'Content-Type': 'application/octet-stream' } });
  ctx.toast(`uploaded ${file.name} (${fmtBytes(r.json?.bytesWritten ?? file.size)})`, 'ok');
}

async function uploadBatch(files) {
  const entries = [];
  for (const f of files) entries.push({ name: f.name, data: new Uint8Array(await f.arrayBuffer()), mtime: Math.floor(f.lastModified / 1000) });
  const tar = buildTar(entries);
  const r = await call('POST', `/v1/fs/upload-batch?path=${q(cwd)}`, { raw: new Blob([tar]), headers: { 'Content-Type': 'application/x-tar' } });
  const n = r.json?.paths?.length ?? files.length;
  ctx.toast(`uploaded ${n} file${n === 1 ? '' : 's'} as one tar (${fmtBytes(tar.length)})`, 'ok');
}

async function onPick(ev) {
  const input = ev.target;
  const files = Array.from(input.files || []);
  if (!files.length) return;
  await act(async () => {
    try {
      if (input.id === 'fs-upload' && files.length === 1) await uploadOne(files[0]);
      else await uploadBatch(files);
    } finally {
      input.value = '';
    }
    await go(cwd);
  });
}

/* ---- mount ---------------------------------------------------------------------------------- */

function build() {
  const pathForm = h('form', { class: 'row fs-pathbar', onsubmit: (ev) => { ev.preventDefault(); act(() => go(el.querySelector('#fs-path').value.trim() || '/')); } },
    h('button', { id: 'fs-up', type: 'button', title: 'parent directory', onclick: () => act(() => go(fsp.parentPath(cwd))) }, '↑ Up'),
    h('label', { for: 'fs-path', class: 'sr-only' }, 'Path'),
    h('input', { id: 'fs-path', type: 'text', spellcheck: 'false', autocomplete: 'off', placeholder: '/absolute/path' }),
    h('button', { type: 'submit' }, 'Go'),
    h('button', { type: 'button', onclick: () => act(() => go(cwd)) }, 'Refresh'));
  const tools = h('div', { class: 'row fs-tools' },
    h('form', { class: 'row', onsubmit: mkdir },
      h('label', { for: 'fs-mkdir-name', class: 'sr-only' }, 'New directory name'),
      h('input', { id: 'fs-mkdir-name', type: 'text', placeholder: 'new directory name', spellcheck: 'false' }),
      h('button', { type: 'submit', id: 'fs-mkdir' }, 'New folder')),
    h('label', { class: 'btnlike', for: 'fs-upload' }, 'Upload file'),
    h('input', { id: 'fs-upload', type: 'file', class: 'sr-only', onchange: onPick }),
    h('label', { class: 'btnlike', for: 'fs-upload-batch', title: 'several files, sent as one tar archive' }, 'Upload several (tar)'),
    h('input', { id: 'fs-upload-batch', type: 'file', multiple: true, class: 'sr-only', onchange: onPick }));
  const table = h('table', { id: 'fs-list', class: 'fs-table' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', { class: 'num' }, 'Size'), h('th', {}, 'Modified'), h('th', {}, h('span', { class: 'sr-only' }, 'Actions')))),
    h('tbody', {}));
  el.replaceChildren(h('div', { class: 'card' },
    h('h2', {}, 'Files'),
    pathForm,
    h('nav', { class: 'fs-crumbs', 'aria-label': 'path' }),
    tools,
    h('div', { class: 'err fs-err hidden', role: 'alert' }),
    h('div', { class: 'fs-body' }, h('div', { class: 'fs-listwrap' }, table), h('div', { class: 'fs-view', hidden: true, 'aria-live': 'polite' }))));
}

export default {
  id: 'files',
  title: 'Files',
  order: 50,
  mount(section, c) {
    ctx = c;
    api = c.api;
    h = c.dom.h;
    fmtBytes = c.dom.fmtBytes;
    el = section;
    try {
      css();
      build();
      // The server's home: a relative (here empty) path resolves against $HOME (§7.1).
      act(async () => {
        const r = await call('GET', '/v1/fs/stat?path=');
        await go(r.json?.path || '/');
      });
    } catch (e) {
      section.append(h('p', { class: 'err' }, 'Files panel failed: ' + (e.message || e)));
    }
  },
  show() {
    if (cwd) act(() => go(cwd));
  },
};
