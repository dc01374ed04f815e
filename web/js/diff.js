// diff.js - a line diff for the transcript's edit tool calls (ACP tool_call content of type
// "diff" carries the whole old and new text; the user wants to see what changed).
//
// Pure: no DOM. lineDiff() trims the common head and tail, then runs a longest-common-
// subsequence table on the middle; a middle too large for the table (the product of its
// line counts above MAX_CELLS) is shown as all removed then all added, which is still a
// correct diff, only a coarse one.

const MAX_CELLS = 4_000_000;

const splitLines = (t) => {
  if (t == null || t === '') return [];
  const lines = String(t).split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop(); // a final newline ends the last line
  return lines;
};

/** The edit script: [{op: ' ' | '-' | '+', text, a, b}] (a, b: 1-based line numbers, 0 when absent). */
export function diffOps(oldText, newText) {
  const A = splitLines(oldText), B = splitLines(newText);
  let head = 0;
  while (head < A.length && head < B.length && A[head] === B[head]) head++;
  let tail = 0;
  while (tail < A.length - head && tail < B.length - head && A[A.length - 1 - tail] === B[B.length - 1 - tail]) tail++;
  const a = A.slice(head, A.length - tail), b = B.slice(head, B.length - tail);
  const ops = [];
  for (let i = 0; i < head; i++) ops.push({ op: ' ', text: A[i] });
  if (a.length * b.length > MAX_CELLS) {
    for (const t of a) ops.push({ op: '-', text: t });
    for (const t of b) ops.push({ op: '+', text: t });
  } else {
    ops.push(...lcsOps(a, b));
  }
  for (let i = A.length - tail; i < A.length; i++) ops.push({ op: ' ', text: A[i] });
  let na = 0, nb = 0;
  for (const o of ops) {
    o.a = o.op === '+' ? 0 : ++na;
    o.b = o.op === '-' ? 0 : ++nb;
  }
  return ops;
}

function lcsOps(a, b) {
  const n = a.length, m = b.length, w = m + 1;
  const L = new Uint32Array((n + 1) * w); // L[i][j]: LCS length of a[i..], b[j..]
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      L[i * w + j] = a[i] === b[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
    }
  }
  const ops = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) { ops.push({ op: ' ', text: a[i] }); i++; j++; }
    else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) ops.push({ op: '-', text: a[i++] });
    else ops.push({ op: '+', text: b[j++] });
  }
  while (i < n) ops.push({ op: '-', text: a[i++] });
  while (j < m) ops.push({ op: '+', text: b[j++] });
  return ops;
}

/**
 * Unified-diff hunks with `context` unchanged lines around each change:
 * [{oldStart, oldLines, newStart, newLines, lines: [{op, text, a, b}]}]. Equal texts: [].
 */
export function lineDiff(oldText, newText, context = 3) {
  const ops = diffOps(oldText, newText);
  const changed = ops.map((o, i) => (o.op === ' ' ? -1 : i)).filter((i) => i >= 0);
  const hunks = [];
  let k = 0;
  while (k < changed.length) {
    let lo = Math.max(0, changed[k] - context), hi = Math.min(ops.length - 1, changed[k] + context);
    k++;
    while (k < changed.length && changed[k] - context <= hi + 1) { hi = Math.min(ops.length - 1, changed[k] + context); k++; }
    const lines = ops.slice(lo, hi + 1);
    const firstA = lines.find((o) => o.a), firstB = lines.find((o) => o.b);
    const oldLines = lines.filter((o) => o.op !== '+').length, newLines = lines.filter((o) => o.op !== '-').length;
    hunks.push({
      oldStart: firstA ? firstA.a : priorLine(ops, lo, 'a'), oldLines,
      newStart: firstB ? firstB.b : priorLine(ops, lo, 'b'), newLines, lines,
    });
  }
  return hunks;
}

// A hunk with no line on one side starts (as unified diff writes it) after the last line before it.
function priorLine(ops, lo, side) {
  for (let i = lo - 1; i >= 0; i--) if (ops[i][side]) return ops[i][side];
  return 0;
}

/** Counts of added and removed lines. */
export function diffStats(hunks) {
  let add = 0, del = 0;
  for (const h of hunks) for (const l of h.lines) { if (l.op === '+') add++; else if (l.op === '-') del++; }
  return { add, del };
}
