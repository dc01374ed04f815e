// proc_logic.js - the DOM-free parts of the Processes and Run once panels: argument
// splitting, env lines, base64 log data, the SSE reader of a log follow, ANSI stripping
// and the one-line summaries of a process. Unit-tested by ui_logic_proc.test.mjs in node.

/**
 * Splits an argument line the way a POSIX shell splits words, without expansions:
 * whitespace separates, '...' is literal, "..." keeps spaces and honours \" \\ \$ \`,
 * a backslash outside quotes escapes the next character. Throws on an unclosed quote,
 * so the form can say so instead of sending a wrong argv.
 */
export function splitArgs(line) {
  const out = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const s = String(line ?? '');
  while (i < s.length) {
    const c = s[i];
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new Error('unclosed single quote');
      cur += s.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new Error('unclosed double quote');
        const d = s[i];
        if (d === '"') { i++; break; }
        if (d === '\\' && i + 1 < s.length && '"\\$`\n'.includes(s[i + 1])) { cur += s[i + 1]; i += 2; continue; }
        cur += d;
        i++;
      }
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 < s.length) cur += s[i + 1];
      inWord = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** KEY=VALUE lines to an env map; blank lines and # comments are skipped. Throws on a line without '='. */
export function parseEnv(text) {
  const env = {};
  const lines = String(text ?? '').split(/\r?\n/);
  lines.forEach((raw, n) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`env line ${n + 1}: expected KEY=VALUE`);
    env[line.slice(0, eq).trim()] = raw.slice(raw.indexOf('=') + 1);
  });
  return env;
}

/** Standard base64 to bytes. */
export function b64Bytes(b64) {
  const bin = atob(b64 || '');
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A log entry's bytes: base64 is what the server sends; other encodings are taken as text. */
export function entryBytes(entry) {
  if (!entry || entry.data == null) return new Uint8Array(0);
  if (entry.encoding === 'base64') return b64Bytes(entry.data);
  return new TextEncoder().encode(String(entry.data));
}

/**
 * Incremental reader of a text/event-stream body. feed(text) returns the complete events
 * seen so far as {event, id, data}; a partial event waits for the next chunk. Comments
 * (the server's ":" keep-alives) are dropped.
 */
export function sseReader() {
  let buf = '';
  let ev = { event: 'message', id: null, data: [] };
  return {
    feed(text) {
      buf += text;
      const done = [];
      let nl;
      while ((nl = buf.search(/\r?\n|\r/)) >= 0) {
        const len = buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + len);
        if (line === '') {
          if (ev.data.length) done.push({ event: ev.event, id: ev.id, data: ev.data.join('\n') });
          ev = { event: 'message', id: null, data: [] };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') ev.event = value;
        else if (field === 'id') ev.id = value;
        else if (field === 'data') ev.data.push(value);
      }
      return done;
    },
  };
}

/**
 * Removes terminal control sequences (CSI, OSC, charset selections, lone ESC pairs) and
 * turns CR LF into LF, so a pty log reads as text. Bare CRs are kept out: a redraw line
 * shows its last state.
 */
export function stripAnsi(text) {
  return String(text)
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, '')
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b[()][0-9A-Za-z]/g, '')
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b[@-Z\\-_=>]/g, '')
    .replace(/\r+\n/g, '\n')
    .replace(/[^\n]*\r(?!\n)/g, '')
    // eslint-disable-next-line no-control-regex
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
}

/** A shell-readable command line of a process (for lists and titles). */
export function commandLine(command, args) {
  const q = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : "'" + a.replace(/'/g, "'\\''") + "'");
  return [command, ...(args || [])].map((a) => q(String(a))).join(' ');
}

/** Short status words of a ProcessInfo: "running", "exited 0", "killed" (exit without a code). */
export function statusText(p) {
  if (p.status === 'running') return 'running';
  if (p.exitCode != null) return `exited ${p.exitCode}`;
  return 'killed (signal)';
}

/** The owner query of the list: "all" sends none. */
export function listPath(owner) {
  return owner && owner !== 'all' ? `/v1/processes?owner=${encodeURIComponent(owner)}` : '/v1/processes';
}

/**
 * The body of POST /v1/processes or /v1/processes/run from form values; only filled
 * fields are sent (the server takes an explicit null for args or env as an error).
 * Throws with a message for the form on bad input.
 */
export function buildBody(f, kind) {
  const command = String(f.command || '').trim();
  if (!command) throw new Error('command is required');
  const body = { command };
  const args = splitArgs(f.args || '');
  if (args.length) body.args = args;
  if (f.cwd && f.cwd.trim()) body.cwd = f.cwd.trim();
  const env = parseEnv(f.env || '');
  if (Object.keys(env).length) body.env = env;
  if (kind === 'create') {
    body.tty = !!f.tty;
    body.interactive = !!f.interactive;
  } else {
    for (const [k, label] of [['timeoutMs', 'timeout'], ['maxOutputBytes', 'output cap']]) {
      const v = String(f[k] ?? '').trim();
      if (!v) continue;
      if (!/^\d+$/.test(v)) throw new Error(`${label} must be a whole number`);
      body[k] = Number(v);
    }
  }
  return body;
}
