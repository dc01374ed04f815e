// desktop_input.js - the desktop panel's pure logic, apart from the DOM so node:test can run
// it: which desktop key a browser keydown stands for, where a click on the scaled live view
// lands on the desktop, the scale that fits a pane, the launch field's argument splitting,
// and the input queue that keeps key and click requests in order while batching typed
// characters into one keyboard/type request.

/** Browser KeyboardEvent.key -> X keysym name (as the server's keyboard/press takes them). */
const SPECIAL = {
  Enter: 'Return', Backspace: 'BackSpace', Tab: 'Tab', Escape: 'Escape',
  ArrowUp: 'Up', ArrowDown: 'Down', ArrowLeft: 'Left', ArrowRight: 'Right',
  Delete: 'Delete', Insert: 'Insert', Home: 'Home', End: 'End',
  PageUp: 'Page_Up', PageDown: 'Page_Down', ' ': 'space',
};
for (let i = 1; i <= 12; i++) SPECIAL['F' + i] = 'F' + i;

/** Keys that only modify others: never sent alone (the modifiers travel with the key). */
const MODIFIER_KEYS = new Set(['Shift', 'Control', 'Alt', 'Meta', 'AltGraph', 'CapsLock', 'NumLock', 'OS', 'Super', 'Hyper', 'Fn']);

/**
 * What a keydown means for the desktop. ev: {key, ctrlKey, altKey, shiftKey, metaKey,
 * altGraph}. Returns null (nothing to send, let it be), {release: true} (Ctrl+]: give the
 * keyboard back to the page), {text} (a printable character) or {press, modifiers}.
 */
export function keyAction(ev) {
  const { key } = ev;
  if (!key || MODIFIER_KEYS.has(key) || key === 'Unidentified' || key === 'Dead') return null;
  if (ev.ctrlKey && !ev.altKey && key === ']') return { release: true };
  // AltGr arrives as Ctrl+Alt on some systems; the character it made is what counts.
  const chord = (ev.ctrlKey || ev.altKey || ev.metaKey) && !ev.altGraph;
  const printable = [...key].length === 1;
  if (printable && !chord) return { text: key };
  let name = SPECIAL[key];
  if (!name && printable) name = key.toLowerCase();
  if (!name) return null; // media keys, IME composition and the like
  const modifiers = {};
  if (ev.ctrlKey && !ev.altGraph) modifiers.ctrl = true;
  if (ev.altKey && !ev.altGraph) modifiers.alt = true;
  // Shift is already in a printable character; it matters for named keys (shift+Tab).
  if (ev.shiftKey && (!printable || chord)) modifiers.shift = true;
  if (ev.metaKey) modifiers.cmd = true;
  return Object.keys(modifiers).length ? { press: name, modifiers } : { press: name };
}

/** A point on the shown view (CSS pixels) -> desktop pixels, clamped to the screen. */
export function viewToDesktop(vx, vy, shownW, shownH, deskW, deskH) {
  if (!(shownW > 0 && shownH > 0 && deskW > 0 && deskH > 0)) throw new Error('view or desktop size unknown');
  const clamp = (v, max) => Math.min(max - 1, Math.max(0, Math.floor(v)));
  return { x: clamp((vx * deskW) / shownW, deskW), y: clamp((vy * deskH) / shownH, deskH) };
}

/** The screenshot scale for a pane paneW CSS pixels wide (times the device pixel ratio):
 *  within the server's 0.1-1.0, in steps of 0.01 so a tiny resize does not change it. */
export function fitScale(paneW, deskW, dpr = 1) {
  if (!(paneW > 0 && deskW > 0)) return 1;
  const s = Math.floor(((paneW * (dpr || 1)) / deskW) * 100) / 100;
  return Math.min(1, Math.max(0.1, s));
}

/**
 * The launch field's arguments: a JSON array of strings, or words split as a shell does for
 * plain quoting ('single', "double" with \" and \\, and backslash outside quotes). Throws
 * with a readable message on an unterminated quote or a bad JSON array.
 */
export function splitArgs(text) {
  const t = (text || '').trim();
  if (!t) return [];
  if (t.startsWith('[')) {
    let a;
    try { a = JSON.parse(t); } catch (e) { throw new Error('args: not a JSON array: ' + e.message); }
    if (!Array.isArray(a) || !a.every((x) => typeof x === 'string')) throw new Error('args: a JSON array must hold only strings');
    return a;
  }
  const out = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else if (c === "'") {
      const end = t.indexOf("'", i + 1);
      if (end < 0) throw new Error('args: unterminated single quote');
      cur += t.slice(i + 1, end);
      has = true;
      i = end;
    } else if (c === '"') {
      has = true;
      for (i++; ; i++) {
        if (i >= t.length) throw new Error('args: unterminated double quote');
        if (t[i] === '"') break;
        if (t[i] === '\\' && (t[i + 1] === '"' || t[i + 1] === '\\')) i++;
        cur += t[i];
      }
    } else if (c === '\\' && i + 1 < t.length) {
      cur += t[++i];
      has = true;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

/**
 * Sends input in the order it happened, one request at a time. Typed characters wait
 * `batchMs` for more and go as one keyboard/type request; any other action first flushes
 * them. send(kind, body) does the request ('type' | 'press' | 'click') and returns a
 * promise; a failed send is reported to onError and the queue goes on. Who owns it: the
 * desktop panel (one per panel), nothing to free.
 */
export class InputQueue {
  constructor(send, { batchMs = 60, onError = () => {} } = {}) {
    this.send = send;
    this.batchMs = batchMs;
    this.onError = onError;
    this.pending = '';
    this.timer = null;
    this.chain = Promise.resolve();
  }

  text(s) {
    this.pending += s;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), this.batchMs);
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.pending) return this.chain;
    const text = this.pending;
    this.pending = '';
    return this.enqueue('type', { text });
  }

  action(kind, body) {
    this.flush();
    return this.enqueue(kind, body);
  }

  enqueue(kind, body) {
    this.chain = this.chain.then(() => this.send(kind, body)).catch((e) => this.onError(e));
    return this.chain;
  }

  /** Resolves once everything queued so far (typed text included) was sent. */
  idle() { return this.flush(); }
}
