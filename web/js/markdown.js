// markdown.js - a small, safe markdown renderer for agent text in the transcript.
//
// Safety first: every piece of source text is HTML-escaped before any markup is added, and
// the only markup produced is the fixed set below; raw HTML in the source stays visible text.
// Links keep only http(s) targets (anything else, javascript: included, renders as its text).
// Covers what agents write: headings, emphasis, inline code, fenced code blocks, lists,
// block quotes, rules, links and paragraphs. Pure: no DOM.

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

const SAFE_URL = /^https?:\/\/[^\s]+$/i;

/** Inline markup of one line or paragraph (already split from its block). */
export function inline(src) {
  // Code spans first: their content is shown as is, so it is cut out before emphasis runs.
  const parts = [];
  const re = /(`+)([\s\S]*?[^`])\1(?!`)/g;
  let last = 0, m;
  while ((m = re.exec(src))) {
    parts.push(spans(src.slice(last, m.index)));
    parts.push('<code>' + escapeHtml(m[2].replace(/^ (.*) $/s, '$1')) + '</code>');
    last = re.lastIndex;
  }
  parts.push(spans(src.slice(last)));
  return parts.join('');
}

function spans(raw) {
  // Links are found on the raw text (so the URL is checked as written), the rest escaped.
  const out = [];
  const re = /\[([^\]\n]+)\]\(([^()\s]+)\)/g;
  let last = 0, m;
  while ((m = re.exec(raw))) {
    out.push(emphasis(escapeHtml(raw.slice(last, m.index))));
    const label = emphasis(escapeHtml(m[1]));
    out.push(SAFE_URL.test(m[2]) ? `<a href="${escapeHtml(m[2])}" target="_blank" rel="noopener noreferrer">${label}</a>` : label);
    last = re.lastIndex;
  }
  out.push(emphasis(escapeHtml(raw.slice(last))));
  return out.join('');
}

// Runs on escaped text: the markers (* _ ~) are not touched by escaping.
function emphasis(s) {
  return s
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^\w])__(?=\S)([\s\S]*?\S)__(?!\w)/g, '$1<strong>$2</strong>')
    .replace(/\*(?=[^\s*])([^*]*?[^\s*])?\*/g, (all, x) => (x === undefined ? all : `<em>${x}</em>`))
    .replace(/(^|[^\w])_(?=[^\s_])([^_]*?[^\s_])?_(?!\w)/g, (all, pre, x) => (x === undefined ? all : `${pre}<em>${x}</em>`))
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, '<del>$1</del>');
}

const FENCE = /^\s{0,3}(```+|~~~+)\s*([\w+#.-]*)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;

/** Renders markdown source to an HTML string (safe to assign to innerHTML). */
export function renderMarkdown(src) {
  const lines = String(src ?? '').replace(/\r\n?/g, '\n').split('\n');
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) { i++; continue; }
    if ((m = FENCE.exec(line))) {
      const fence = m[1], lang = m[2], body = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence)) body.push(lines[i++]);
      i++; // the closing fence (or the end: an unclosed block runs to the end)
      out.push(`<pre class="md-code"${lang ? ` data-lang="${escapeHtml(lang)}"` : ''}><code>${escapeHtml(body.join('\n'))}</code></pre>`);
      continue;
    }
    if ((m = HEADING.exec(line))) {
      out.push(`<h${m[1].length}>${inline(m[2])}</h${m[1].length}>`);
      i++;
      continue;
    }
    if (RULE.test(line)) { out.push('<hr>'); i++; continue; }
    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) { body.push(m[1]); i++; }
      out.push(`<blockquote>${renderMarkdown(body.join('\n'))}</blockquote>`);
      continue;
    }
    if (ITEM.test(line)) {
      const [html, next] = list(lines, i);
      out.push(html);
      i = next;
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !HEADING.test(lines[i]) && !ITEM.test(lines[i]) && !QUOTE.test(lines[i]) && !RULE.test(lines[i])) {
      para.push(lines[i++].trim());
    }
    out.push(`<p>${para.map(inline).join('<br>')}</p>`);
  }
  return out.join('\n');
}

// A list starting at lines[i]; deeper-indented items nest. Returns [html, next line index].
function list(lines, i) {
  const first = ITEM.exec(lines[i]);
  const indent = first[1].length, ordered = /\d/.test(first[2]);
  const start = ordered ? parseInt(first[2], 10) : 1;
  const items = [];
  while (i < lines.length) {
    const m = ITEM.exec(lines[i]);
    if (m && m[1].length < indent) break;
    if (m && m[1].length > indent && items.length) {
      const [html, next] = list(lines, i);
      items[items.length - 1] += html;
      i = next;
      continue;
    }
    if (m) { items.push(inline(m[3])); i++; continue; }
    // A continuation line (indented text under an item); a blank line or other block ends the list.
    if (lines[i].trim() && /^\s+/.test(lines[i]) && items.length) { items[items.length - 1] += '<br>' + inline(lines[i].trim()); i++; continue; }
    break;
  }
  const tag = ordered ? 'ol' : 'ul';
  return [`<${tag}${ordered && start !== 1 ? ` start="${start}"` : ''}>${items.map((x) => `<li>${x}</li>`).join('')}</${tag}>`, i];
}
