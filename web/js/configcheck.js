// configcheck.js - checks an MCP server or skills config entry in the browser before it is
// saved, mirroring what the server accepts (src/config/config_schema.c, http-api.md §8.2,
// §8.3) with the server's wording, so the editor can refuse a bad entry without a request.
// Pure: no DOM; node:test runs it directly.
//
// JSON.parse is not enough: it gives no line/column in every engine, accepts duplicate
// member names (the server refuses them) and cannot tell `5.0` from `5` (the server
// refuses a real where it wants an integer). So parseJson is a small parser of our own that
// keeps real-literal numbers as Real values and reports "<why> at line L column C".

/** A number written with a fraction or exponent: the server sees a real, not an integer. */
export class Real {
  constructor(value, text) { this.value = value; this.text = text; }
}

const INT64_MAX = 9223372036854775807n, INT64_MIN = -9223372036854775808n;

/**
 * Parses JSON text. Returns {ok: true, value} or {ok: false, error, line, column}
 * (1-based). Duplicate names inside one object are errors, as on the server.
 */
export function parseJson(text) {
  let i = 0;
  const fail = (msg, at = i) => {
    const before = text.slice(0, at);
    const line = before.split('\n').length;
    const column = at - (before.lastIndexOf('\n') + 1) + 1;
    const err = new Error(`${msg} at line ${line} column ${column}`);
    Object.assign(err, { line, column, json: true });
    throw err;
  };
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const near = () => (i >= text.length ? 'end of input' : `'${text[i]}'`);

  function value() {
    ws();
    const c = text[i];
    if (c === '{') return object();
    if (c === '[') return array();
    if (c === '"') return string();
    if (c === '-' || (c >= '0' && c <= '9')) return number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, i)) { i += word.length; return v; }
    }
    return fail(i >= text.length ? 'unexpected end of input, expected a value' : `unexpected ${near()}, expected a value`);
  }
  function object() {
    const start = i;
    i++;
    const out = {};
    const seen = new Set();
    ws();
    if (text[i] === '}') { i++; return out; }
    for (;;) {
      ws();
      if (text[i] !== '"') return fail(`expected a member name in double quotes, found ${near()}`);
      const at = i;
      const key = string();
      if (seen.has(key)) return fail(`duplicate member name "${key}"`, at);
      seen.add(key);
      ws();
      if (text[i] !== ':') return fail(`expected ':' after the member name, found ${near()}`);
      i++;
      Object.defineProperty(out, key, { value: value(), enumerable: true, writable: true, configurable: true });
      ws();
      if (text[i] === ',') { i++; continue; }
      if (text[i] === '}') { i++; return out; }
      if (i >= text.length) return fail(`unterminated object (opened at line ${text.slice(0, start).split('\n').length})`);
      return fail(`expected ',' or '}' after a member, found ${near()}`);
    }
  }
  function array() {
    i++;
    const out = [];
    ws();
    if (text[i] === ']') { i++; return out; }
    for (;;) {
      out.push(value());
      ws();
      if (text[i] === ',') { i++; continue; }
      if (text[i] === ']') { i++; return out; }
      return fail(`expected ',' or ']' in an array, found ${near()}`);
    }
  }
  function string() {
    const start = i;
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) return fail('unterminated string', start);
      const c = text[i];
      if (c === '"') { i++; return out; }
      if (c < ' ') return fail('control character in a string (escape it)');
      if (c === '\\') {
        const e = text[i + 1];
        const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e in simple) { out += simple[e]; i += 2; continue; }
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
          continue;
        }
        return fail('invalid escape in a string');
      }
      out += c;
      i++;
    }
  }
  function number() {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i));
    if (!m) return fail('invalid number');
    const lit = m[0];
    const at = i;
    i += lit.length;
    if (m[2] || m[3]) return new Real(Number(lit), lit);
    const big = BigInt(lit);
    if (big > INT64_MAX || big < INT64_MIN) return fail('too big integer', at);
    return Number(lit);
  }

  try {
    const v = value();
    ws();
    if (i < text.length) fail(`unexpected ${near()} after the value`);
    return { ok: true, value: v };
  } catch (e) {
    if (!e.json) throw e;
    return { ok: false, error: e.message, line: e.line, column: e.column };
  }
}

/* ---- schema -------------------------------------------------------------------------------- */

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Real);

/** serde-style description of a value, as in the server's "invalid type" messages. */
function describe(v) {
  if (v === null) return 'null';
  if (v === true || v === false) return `boolean \`${v}\``;
  if (v instanceof Real) return `floating point \`${Number.isInteger(v.value) ? v.value.toFixed(1) : v.value}\``;
  if (typeof v === 'number') return `integer \`${v}\``;
  if (typeof v === 'string') return `string "${v.slice(0, 79)}"`;
  if (Array.isArray(v)) return 'sequence';
  return 'map';
}

class SchemaError extends Error {}
const bad = (path, msg) => { throw new SchemaError(path ? `${path}: ${msg}` : msg); };
const badType = (path, v, expected) => bad(path, `invalid type: ${describe(v)}, expected ${expected}`);
const sub = (path, key) => (path ? `${path}.${key}` : key);

const T = {
  string: (p, v) => (typeof v === 'string' ? v : badType(p, v, 'a string')),
  bool: (p, v) => (typeof v === 'boolean' ? v : badType(p, v, 'a boolean')),
  u64: (p, v) => {
    if (typeof v === 'number' && v < 0) bad(p, `invalid value: integer \`${v}\`, expected u64`);
    return typeof v === 'number' ? v : badType(p, v, 'u64');
  },
  strings: (p, v) => {
    if (!Array.isArray(v)) badType(p, v, 'a sequence');
    v.forEach((e, i) => { if (typeof e !== 'string') badType(`${p}[${i}]`, e, 'a string'); });
    return v;
  },
  map: (p, v) => {
    if (!isObj(v)) badType(p, v, 'a map');
    for (const [k, e] of Object.entries(v)) if (typeof e !== 'string') badType(sub(p, k), e, 'a string');
    return v;
  },
  command: (p, v) => {
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && v.every((e) => typeof e === 'string')) return v;
    return bad(p, 'data did not match any variant of untagged enum McpCommand');
  },
  oauth: (p, v) => {
    if (typeof v === 'boolean') return v;
    if (isObj(v)) {
      try { return struct('', v, OAUTH, []); } catch (e) { if (!(e instanceof SchemaError)) throw e; }
    }
    return bad(p, 'data did not match any variant of untagged enum McpOAuthConfigOrDisabled');
  },
  transport: (p, v) => {
    if (v === 'http' || v === 'sse') return v;
    if (typeof v !== 'string') badType(p, v, '`http` or `sse`');
    return bad(p, `unknown variant \`${v}\`, expected \`http\` or \`sse\``);
  },
  sources: (p, v, warn) => {
    if (!Array.isArray(v)) badType(p, v, 'a sequence');
    return v.map((e, i) => {
      const ep = `${p}[${i}]`;
      if (!isObj(e)) badType(ep, e, 'struct SkillSource');
      return struct(ep, e, SOURCE, warn);
    });
  },
};

// [name, type, presence] in the server's output order. presence: 'opt' (absent or null:
// omitted), 'req' (absent: missing field; null: invalid type), 'empty' (absent: []).
const LOCAL = [['command', 'command', 'req'], ['args', 'strings', 'empty'], ['env', 'map', 'opt'],
  ['enabled', 'bool', 'opt'], ['timeoutMs', 'u64', 'opt'], ['cwd', 'string', 'opt']];
const REMOTE = [['url', 'string', 'req'], ['headers', 'map', 'opt'], ['bearerTokenEnvVar', 'string', 'opt'],
  ['envHeaders', 'map', 'opt'], ['oauth', 'oauth', 'opt'], ['enabled', 'bool', 'opt'],
  ['timeoutMs', 'u64', 'opt'], ['transport', 'transport', 'opt']];
const OAUTH = [['clientId', 'string', 'opt'], ['clientSecret', 'string', 'opt'], ['scope', 'string', 'opt']];
const SOURCE = [['type', 'string', 'req'], ['source', 'string', 'req'], ['skills', 'strings', 'opt'],
  ['ref', 'string', 'opt'], ['subpath', 'string', 'opt']];
const SKILLS = [['sources', 'sources', 'req']];

/** Checks the members of obj against fields; notes unknown members in warn (the server drops them). */
function struct(path, obj, fields, warn, out = {}, extra = []) {
  for (const [key, type, presence] of fields) {
    const has = Object.prototype.hasOwnProperty.call(obj, key);
    const v = obj[key];
    if (!has || (v === null && presence === 'opt')) {
      if (presence === 'req' && !has) bad(path, `missing field \`${key}\``);
      if (presence === 'empty' && !has) out[key] = [];
      continue;
    }
    out[key] = T[type](sub(path, key), v, warn);
  }
  const known = new Set([...fields.map((f) => f[0]), ...extra]);
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) warn.push(`${sub(path, key)}: unknown member, the server will drop it`);
  }
  return out;
}

function mcpEntry(v, warn) {
  if (!isObj(v)) badType('', v, 'internally tagged enum McpServerConfig');
  if (!Object.prototype.hasOwnProperty.call(v, 'type')) bad('', 'missing field `type`');
  const t = v.type;
  const local = t === 'local' || t === 'stdio', remote = t === 'remote' || t === 'http';
  if (!local && !remote) {
    if (typeof t !== 'string') badType('type', t, 'variant identifier');
    bad('type', `unknown variant \`${t}\`, expected one of \`local\`, \`stdio\`, \`http\`, \`remote\``);
  }
  return struct('', v, local ? LOCAL : REMOTE, warn, { type: local ? 'local' : 'remote' }, ['type']);
}

function skillsEntry(v, warn) {
  if (!isObj(v)) badType('', v, 'struct SkillsConfig');
  return struct('', v, SKILLS, warn);
}

/**
 * Checks editor text for kind 'mcp' or 'skills'. Returns {ok: true, value, warnings} or
 * {ok: false, error, line?, column?, warnings}. The error text matches the server's.
 */
export function checkConfig(kind, text) {
  const parsed = parseJson(text);
  if (!parsed.ok) return { ok: false, error: parsed.error, line: parsed.line, column: parsed.column, warnings: [] };
  const warnings = [];
  try {
    const value = kind === 'mcp' ? mcpEntry(parsed.value, warnings) : skillsEntry(parsed.value, warnings);
    return { ok: true, value, warnings };
  } catch (e) {
    if (!(e instanceof SchemaError)) throw e;
    return { ok: false, error: e.message, warnings };
  }
}

/** A valid name for an entry: the server takes any non-empty string; we refuse blanks. */
export function checkName(name) {
  if (!name || !name.trim()) return 'a name is required';
  if (name !== name.trim()) return 'the name has leading or trailing spaces';
  return '';
}

/** Starting points for a new entry in the editor. */
export const TEMPLATES = {
  mcp: { type: 'local', command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything'], env: {} },
  mcpRemote: { type: 'remote', url: 'https://example.com/mcp', headers: {}, transport: 'http' },
  skills: { sources: [{ type: 'github', source: 'rivet-dev/skills', skills: ['sandbox-agent'] }] },
};
