// fake_llm.mjs - a scriptable fake LLM HTTP server for driving real coding agents offline.
//
//   import { startFakeLlm } from "./fake_llm.mjs";
//   const llm = await startFakeLlm({ script: (req) => ({ text: "hello" }) });
//   llm.url        // "http://127.0.0.1:<port>"   (no /v1 suffix)
//   llm.requests   // every request received: {method, path, query, headers, body, api, index, ...}
//   llm.setScript(fn); await llm.close();
//
// Node 20 standard library only. Listens on 127.0.0.1, random free port (or opts.port).
//
// Wire formats served (the reply of the script is rendered in whichever one was called):
//   POST /v1/messages                 Anthropic Messages (stream:true -> SSE, else JSON)
//   POST /v1/messages/count_tokens    Anthropic token counting -> {input_tokens}
//   POST /v1/responses                OpenAI Responses (stream:true -> SSE, else JSON)
//   POST /v1/chat/completions         OpenAI Chat Completions (stream:true -> SSE chunks + [DONE])
//   GET  /v1/models[/<id>]            model listing, in a shape both OpenAI and Anthropic clients accept
//   HEAD|GET /                        200 (Claude Code probes the base URL)
//   anything else                     404 JSON (still recorded)
// A "/v1" prefix is optional everywhere (a base URL with or without /v1 both work), and the
// query string is ignored for routing (Claude Code sends /v1/messages?beta=true).
//
// Script: (req) => reply | Promise<reply>. req = {
//   api: "anthropic" | "responses" | "chat",  path, query, method, headers, body,
//   index     (0-based count of scripted requests before this one, over all APIs),
//   tools     (names of the tools offered in the request),
//   hasToolResult (the conversation already contains a tool result),
//   toolResults   ([{id, name?, output}] found in the conversation, oldest first),
//   lastUserText  (text of the last user message, "" if none),
//   stream    (the client asked for streaming) }
// reply (API-neutral; a bare string means {text: string}):
//   { text }                                    assistant text
//   { toolCall: { name, arguments, id? } }      one tool call (arguments: object, or a string
//                                               that is passed verbatim, e.g. for custom tools)
//   { toolCalls: [ {name, arguments, id?}, ...] }
//   { text, toolCall(s) }                       text first, then the tool call(s)
//   { thinking }                                reasoning/thinking text emitted before the rest
//   { error: { status?=500, message?, type? } } an HTTP error in the API's error shape
//   { hang: true }                              start the stream (headers + first event), never finish
//   { delayMs }                                 wait before answering; { chunkDelayMs } between chunks
//   { stopReason }                              override the stop/finish reason
//   { usage: { input, output } }                override token counts
// The default script answers "done" when the conversation already holds a tool result, else
// "Hello from the fake LLM." Auxiliary calls (title generation, quota probes, ...) go through
// the script as well; use req.tools / req.stream / req.body to tell them apart.

import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";
import zlib from "node:zlib";

export const DEFAULT_TEXT = "Hello from the fake LLM.";

export function defaultScript(req) {
  if (req.hasToolResult) return { text: "done" };
  return { text: DEFAULT_TEXT };
}

// ----------------------------------------------------------------------------- helpers

function normalizeReply(reply) {
  if (reply == null) reply = { text: "" };
  if (typeof reply === "string") reply = { text: reply };
  const r = { ...reply };
  const calls = [];
  if (r.toolCall) calls.push(r.toolCall);
  if (Array.isArray(r.toolCalls)) calls.push(...r.toolCalls);
  r.calls = calls;
  return r;
}

function splitChunks(text, maxLen = 12) {
  // Split text into small pieces (on word boundaries where possible) so streaming is exercised.
  if (!text) return [];
  const out = [];
  let cur = "";
  for (const piece of text.split(/(\s+)/)) {
    if (cur.length + piece.length > maxLen && cur) {
      out.push(cur);
      cur = "";
    }
    cur += piece;
    while (cur.length > maxLen * 2) {
      out.push(cur.slice(0, maxLen));
      cur = cur.slice(maxLen);
    }
  }
  if (cur) out.push(cur);
  return out;
}

function argsString(a) {
  if (a === undefined) return "{}";
  return typeof a === "string" ? a : JSON.stringify(a);
}

function argsObject(a) {
  if (a === undefined) return {};
  if (typeof a !== "string") return a;
  try {
    return JSON.parse(a);
  } catch {
    return { input: a };
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function textOfContent(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((c) => (typeof c === "string" ? c : c && typeof c.text === "string" ? c.text : ""))
    .filter(Boolean)
    .join("\n");
}

// Analyse a request body: tools offered, tool results present, last user text.
function analyse(api, body) {
  const tools = [];
  const toolResults = [];
  let lastUserText = "";
  const b = body && typeof body === "object" ? body : {};
  if (Array.isArray(b.tools)) {
    for (const t of b.tools) {
      if (!t || typeof t !== "object") continue;
      const name = t.name ?? t.function?.name;
      if (name) tools.push(name);
    }
  }
  if (api === "anthropic") {
    const names = new Map();
    for (const m of Array.isArray(b.messages) ? b.messages : []) {
      if (!Array.isArray(m.content)) {
        if (m.role === "user" && typeof m.content === "string") lastUserText = m.content;
        continue;
      }
      let userText = null;
      for (const c of m.content) {
        if (c?.type === "tool_use") names.set(c.id, c.name);
        if (c?.type === "tool_result")
          toolResults.push({ id: c.tool_use_id, name: names.get(c.tool_use_id), output: textOfContent(c.content), isError: !!c.is_error });
        if (m.role === "user" && c?.type === "text") userText = (userText ? userText + "\n" : "") + c.text;
      }
      if (userText !== null) lastUserText = userText;
    }
  } else if (api === "responses") {
    const names = new Map();
    const input = typeof b.input === "string" ? [{ role: "user", content: b.input }] : Array.isArray(b.input) ? b.input : [];
    for (const it of input) {
      if (!it || typeof it !== "object") continue;
      if (it.type === "function_call" || it.type === "custom_tool_call" || it.type === "local_shell_call") names.set(it.call_id, it.name);
      if (typeof it.type === "string" && it.type.endsWith("_call_output")) {
        const out = typeof it.output === "string" ? it.output : it.output?.content ?? textOfContent(it.output) ?? JSON.stringify(it.output);
        toolResults.push({ id: it.call_id, name: names.get(it.call_id), output: typeof out === "string" ? out : JSON.stringify(out) });
      }
      if (it.role === "user" && (it.type === undefined || it.type === "message")) {
        const t = textOfContent(it.content);
        if (t) lastUserText = t;
      }
    }
  } else if (api === "chat") {
    const names = new Map();
    for (const m of Array.isArray(b.messages) ? b.messages : []) {
      if (m?.role === "assistant" && Array.isArray(m.tool_calls)) for (const tc of m.tool_calls) names.set(tc.id, tc.function?.name);
      if (m?.role === "tool") toolResults.push({ id: m.tool_call_id, name: names.get(m.tool_call_id), output: textOfContent(m.content) });
      if (m?.role === "user") {
        const t = textOfContent(m.content);
        if (t) lastUserText = t;
      }
    }
  }
  return { tools, toolResults, hasToolResult: toolResults.length > 0, lastUserText };
}

function estimateTokens(x) {
  const s = typeof x === "string" ? x : JSON.stringify(x ?? "");
  return Math.max(1, Math.ceil(s.length / 4));
}

let idCounter = 0;
const newId = (prefix) => `${prefix}${Date.now().toString(36)}${(++idCounter).toString(36).padStart(4, "0")}`;

// ----------------------------------------------------------------------------- SSE writer

class Sse {
  constructor(res, { openai = false } = {}) {
    this.res = res;
    this.openai = openai;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-request-id": newId("req_"),
    });
    if (res.flushHeaders) res.flushHeaders();
  }
  event(name, data) {
    if (this.res.destroyed || this.res.writableEnded) return;
    this.res.write((name ? `event: ${name}\n` : "") + `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
  }
  end() {
    if (!this.res.writableEnded) this.res.end();
  }
}

function sendJson(res, status, obj, extraHeaders = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...extraHeaders });
  res.end(body);
}

// ----------------------------------------------------------------------------- Anthropic

function anthropicError(res, e) {
  const status = e.status ?? 500;
  const type = e.type ?? (status === 400 ? "invalid_request_error" : status === 401 ? "authentication_error" : status === 429 ? "rate_limit_error" : status === 529 ? "overloaded_error" : "api_error");
  sendJson(res, status, { type: "error", error: { type, message: e.message ?? "fake llm error" } });
}

function anthropicBlocks(r) {
  const blocks = [];
  if (r.thinking) blocks.push({ type: "thinking", thinking: r.thinking, signature: "fake-signature" });
  if (r.text) blocks.push({ type: "text", text: r.text });
  for (const c of r.calls) blocks.push({ type: "tool_use", id: c.id ?? newId("toolu_"), name: c.name, input: argsObject(c.arguments) });
  if (blocks.length === 0) blocks.push({ type: "text", text: "" });
  return blocks;
}

async function renderAnthropic(req, res, r, body, ctx) {
  const model = body?.model ?? "claude-fake";
  const blocks = anthropicBlocks(r);
  const stop = r.stopReason ?? (r.calls.length ? "tool_use" : "end_turn");
  const usage = {
    input_tokens: r.usage?.input ?? estimateTokens(body?.messages),
    output_tokens: r.usage?.output ?? estimateTokens(blocks),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
  };
  const id = newId("msg_");
  if (!body?.stream) {
    return sendJson(res, 200, { id, type: "message", role: "assistant", model, content: blocks, stop_reason: stop, stop_sequence: null, usage });
  }
  const sse = new Sse(res);
  sse.event("message_start", {
    type: "message_start",
    message: { id, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } },
  });
  if (r.hang) return ctx.hang(sse);
  sse.event("ping", { type: "ping" });
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    if (b.type === "text") {
      sse.event("content_block_start", { type: "content_block_start", index: i, content_block: { type: "text", text: "" } });
      for (const piece of splitChunks(b.text)) {
        await ctx.chunkDelay();
        sse.event("content_block_delta", { type: "content_block_delta", index: i, delta: { type: "text_delta", text: piece } });
      }
    } else if (b.type === "thinking") {
      sse.event("content_block_start", { type: "content_block_start", index: i, content_block: { type: "thinking", thinking: "", signature: "" } });
      for (const piece of splitChunks(b.thinking)) {
        await ctx.chunkDelay();
        sse.event("content_block_delta", { type: "content_block_delta", index: i, delta: { type: "thinking_delta", thinking: piece } });
      }
      sse.event("content_block_delta", { type: "content_block_delta", index: i, delta: { type: "signature_delta", signature: b.signature } });
    } else if (b.type === "tool_use") {
      sse.event("content_block_start", { type: "content_block_start", index: i, content_block: { type: "tool_use", id: b.id, name: b.name, input: {} } });
      for (const piece of splitChunks(JSON.stringify(b.input), 24)) {
        await ctx.chunkDelay();
        sse.event("content_block_delta", { type: "content_block_delta", index: i, delta: { type: "input_json_delta", partial_json: piece } });
      }
    }
    sse.event("content_block_stop", { type: "content_block_stop", index: i });
  }
  sse.event("message_delta", { type: "message_delta", delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
  sse.event("message_stop", { type: "message_stop" });
  sse.end();
}

// ----------------------------------------------------------------------------- OpenAI Responses

function openaiError(res, e) {
  const status = e.status ?? 500;
  sendJson(res, status, { error: { message: e.message ?? "fake llm error", type: e.type ?? (status >= 500 ? "server_error" : "invalid_request_error"), param: null, code: e.code ?? null } });
}

async function renderResponses(req, res, r, body, ctx) {
  const model = body?.model ?? "gpt-fake";
  const respId = newId("resp_");
  const created = Math.floor(Date.now() / 1000);
  const customTools = new Set((Array.isArray(body?.tools) ? body.tools : []).filter((t) => t?.type === "custom").map((t) => t.name));
  const items = [];
  if (r.thinking) items.push({ id: newId("rs_"), type: "reasoning", summary: [{ type: "summary_text", text: r.thinking }] });
  if (r.text || (!r.calls.length && !r.thinking))
    items.push({ id: newId("msg_"), type: "message", status: "completed", role: "assistant", content: [{ type: "output_text", text: r.text ?? "", annotations: [] }] });
  for (const c of r.calls) {
    const callId = c.id ?? newId("call_");
    if (customTools.has(c.name)) items.push({ id: newId("ctc_"), type: "custom_tool_call", status: "completed", call_id: callId, name: c.name, input: typeof c.arguments === "string" ? c.arguments : argsString(c.arguments) });
    else items.push({ id: newId("fc_"), type: "function_call", status: "completed", call_id: callId, name: c.name, arguments: argsString(c.arguments) });
  }
  const inTok = r.usage?.input ?? estimateTokens(body?.input);
  const outTok = r.usage?.output ?? estimateTokens(items);
  const usage = { input_tokens: inTok, input_tokens_details: { cached_tokens: 0 }, output_tokens: outTok, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: inTok + outTok };
  const baseResp = { id: respId, object: "response", created_at: created, model, status: "in_progress", output: [], parallel_tool_calls: true, tool_choice: body?.tool_choice ?? "auto", tools: [], usage: null, error: null, incomplete_details: null };
  const finalResp = { ...baseResp, status: r.stopReason === "max_tokens" ? "incomplete" : "completed", output: items, usage };
  if (r.stopReason === "max_tokens") finalResp.incomplete_details = { reason: "max_output_tokens" };
  if (!body?.stream) return sendJson(res, 200, finalResp);

  const sse = new Sse(res);
  let seq = 0;
  const ev = (type, data) => sse.event(type, { type, sequence_number: seq++, ...data });
  ev("response.created", { response: baseResp });
  if (r.hang) return ctx.hang(sse);
  ev("response.in_progress", { response: baseResp });
  for (let oi = 0; oi < items.length; oi++) {
    const it = items[oi];
    if (it.type === "message") {
      const text = it.content[0].text;
      ev("response.output_item.added", { output_index: oi, item: { ...it, status: "in_progress", content: [] } });
      ev("response.content_part.added", { item_id: it.id, output_index: oi, content_index: 0, part: { type: "output_text", text: "", annotations: [] } });
      for (const piece of splitChunks(text)) {
        await ctx.chunkDelay();
        ev("response.output_text.delta", { item_id: it.id, output_index: oi, content_index: 0, delta: piece, logprobs: [] });
      }
      ev("response.output_text.done", { item_id: it.id, output_index: oi, content_index: 0, text, logprobs: [] });
      ev("response.content_part.done", { item_id: it.id, output_index: oi, content_index: 0, part: { type: "output_text", text, annotations: [] } });
    } else if (it.type === "reasoning") {
      const text = it.summary[0].text;
      ev("response.output_item.added", { output_index: oi, item: { ...it, summary: [] } });
      ev("response.reasoning_summary_part.added", { item_id: it.id, output_index: oi, summary_index: 0, part: { type: "summary_text", text: "" } });
      for (const piece of splitChunks(text)) {
        await ctx.chunkDelay();
        ev("response.reasoning_summary_text.delta", { item_id: it.id, output_index: oi, summary_index: 0, delta: piece });
      }
      ev("response.reasoning_summary_text.done", { item_id: it.id, output_index: oi, summary_index: 0, text });
      ev("response.reasoning_summary_part.done", { item_id: it.id, output_index: oi, summary_index: 0, part: { type: "summary_text", text } });
    } else if (it.type === "function_call") {
      ev("response.output_item.added", { output_index: oi, item: { ...it, status: "in_progress", arguments: "" } });
      for (const piece of splitChunks(it.arguments, 24)) {
        await ctx.chunkDelay();
        ev("response.function_call_arguments.delta", { item_id: it.id, output_index: oi, delta: piece });
      }
      ev("response.function_call_arguments.done", { item_id: it.id, output_index: oi, name: it.name, arguments: it.arguments });
    } else if (it.type === "custom_tool_call") {
      ev("response.output_item.added", { output_index: oi, item: { ...it, status: "in_progress", input: "" } });
      for (const piece of splitChunks(it.input, 24)) {
        await ctx.chunkDelay();
        ev("response.custom_tool_call_input.delta", { item_id: it.id, output_index: oi, delta: piece });
      }
      ev("response.custom_tool_call_input.done", { item_id: it.id, output_index: oi, input: it.input });
    }
    ev("response.output_item.done", { output_index: oi, item: it });
  }
  ev(finalResp.status === "incomplete" ? "response.incomplete" : "response.completed", { response: finalResp });
  sse.end();
}

// ----------------------------------------------------------------------------- OpenAI Chat Completions

async function renderChat(req, res, r, body, ctx) {
  const model = body?.model ?? "gpt-fake";
  const id = newId("chatcmpl-");
  const created = Math.floor(Date.now() / 1000);
  const calls = r.calls.map((c) => ({ id: c.id ?? newId("call_"), type: "function", function: { name: c.name, arguments: argsString(c.arguments) } }));
  const finish = r.stopReason === "max_tokens" ? "length" : r.stopReason ?? (calls.length ? "tool_calls" : "stop");
  const inTok = r.usage?.input ?? estimateTokens(body?.messages);
  const outTok = r.usage?.output ?? estimateTokens([r.text, calls]);
  const usage = { prompt_tokens: inTok, completion_tokens: outTok, total_tokens: inTok + outTok };
  if (!body?.stream) {
    const message = { role: "assistant", content: r.text ?? (calls.length ? null : "") };
    if (r.thinking) message.reasoning_content = r.thinking;
    if (calls.length) message.tool_calls = calls;
    return sendJson(res, 200, { id, object: "chat.completion", created, model, choices: [{ index: 0, message, finish_reason: finish, logprobs: null }], usage });
  }
  const sse = new Sse(res, { openai: true });
  const chunk = (delta, finish_reason = null, extra = {}) =>
    sse.event(null, { id, object: "chat.completion.chunk", created, model, system_fingerprint: null, choices: [{ index: 0, delta, finish_reason, logprobs: null }], ...extra });
  chunk({ role: "assistant", content: "" });
  if (r.hang) return ctx.hang(sse);
  if (r.thinking)
    for (const piece of splitChunks(r.thinking)) {
      await ctx.chunkDelay();
      chunk({ reasoning_content: piece });
    }
  for (const piece of splitChunks(r.text ?? "")) {
    await ctx.chunkDelay();
    chunk({ content: piece });
  }
  calls.forEach((c, i) => {
    chunk({ tool_calls: [{ index: i, id: c.id, type: "function", function: { name: c.function.name, arguments: "" } }] });
  });
  for (let i = 0; i < calls.length; i++) {
    for (const piece of splitChunks(calls[i].function.arguments, 24)) {
      await ctx.chunkDelay();
      chunk({ tool_calls: [{ index: i, function: { arguments: piece } }] });
    }
  }
  chunk({}, finish, { usage });
  if (body?.stream_options?.include_usage) sse.event(null, { id, object: "chat.completion.chunk", created, model, choices: [], usage });
  sse.event(null, "[DONE]");
  sse.end();
}

// ----------------------------------------------------------------------------- server

const MODELS = ["fake-model", "claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-6", "gpt-5.4", "gpt-5.3-codex"];

function modelEntry(id) {
  // One object readable both as an OpenAI model and as an Anthropic ModelInfo.
  return { id, object: "model", created: 1700000000, owned_by: "fake-llm", type: "model", display_name: id, created_at: "2025-01-01T00:00:00Z" };
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  let buf = Buffer.concat(chunks);
  const enc = (req.headers["content-encoding"] || "").toLowerCase();
  try {
    if (enc === "gzip") buf = zlib.gunzipSync(buf);
    else if (enc === "deflate") buf = zlib.inflateSync(buf);
    else if (enc === "br") buf = zlib.brotliDecompressSync(buf);
    else if (enc === "zstd" && typeof zlib.zstdDecompressSync === "function") buf = zlib.zstdDecompressSync(buf);
  } catch {
    /* keep raw */
  }
  const raw = buf.toString("utf8");
  if (!raw) return { raw, body: null };
  try {
    return { raw, body: JSON.parse(raw) };
  } catch {
    return { raw, body: null };
  }
}

/**
 * Start the fake LLM. Options:
 *   script    (req) => reply (see the header); default: defaultScript
 *   port      port to listen on (default 0 = random free port)
 *   log       function(line) called once per request (e.g. console.error), default none
 */
export async function startFakeLlm({ script = defaultScript, port = 0, log = null } = {}) {
  let current = script;
  let scriptedCount = 0;
  const requests = [];
  const hanging = new Set();
  const sockets = new Set();
  const waiters = [];

  const notify = () => {
    for (const w of [...waiters]) {
      const hit = requests.find(w.pred);
      if (hit) {
        waiters.splice(waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(hit);
      }
    }
  };

  const server = http.createServer(async (req, res) => {
    const u = new URL(req.url, "http://127.0.0.1");
    let path = u.pathname.replace(/\/+$/, "") || "/";
    const route = path.replace(/^\/v1(?=\/|$)/, "") || "/";
    const { raw, body } = await readBody(req);
    const rec = { time: Date.now(), method: req.method, path: u.pathname, query: Object.fromEntries(u.searchParams), headers: { ...req.headers }, body, raw, api: null, index: null };
    requests.push(rec);
    if (log) log(`[fake-llm] ${req.method} ${req.url}`);

    let api = null;
    if (req.method === "POST" && route === "/messages") api = "anthropic";
    else if (req.method === "POST" && route === "/responses") api = "responses";
    else if (req.method === "POST" && route === "/chat/completions") api = "chat";

    try {
      if (!api) {
        notify();
        if ((req.method === "HEAD" || req.method === "GET") && route === "/") {
          res.writeHead(200, { "content-type": "text/plain" });
          return res.end(req.method === "HEAD" ? undefined : "fake-llm ok\n");
        }
        if (req.method === "POST" && route === "/messages/count_tokens")
          return sendJson(res, 200, { input_tokens: estimateTokens(body?.messages ?? raw) });
        if (req.method === "GET" && route === "/models") {
          const data = MODELS.map(modelEntry);
          return sendJson(res, 200, { object: "list", data, has_more: false, first_id: data[0].id, last_id: data[data.length - 1].id });
        }
        if (req.method === "GET" && route.startsWith("/models/")) return sendJson(res, 200, modelEntry(decodeURIComponent(route.slice(8))));
        return sendJson(res, 404, { type: "error", error: { type: "not_found_error", message: `fake-llm: no route for ${req.method} ${u.pathname}` } });
      }

      rec.api = api;
      rec.index = scriptedCount++;
      const info = analyse(api, body);
      const sreq = { api, path: u.pathname, query: rec.query, method: req.method, headers: rec.headers, body, index: rec.index, stream: !!body?.stream, ...info };
      Object.assign(rec, { tools: info.tools, hasToolResult: info.hasToolResult });
      notify();
      let reply;
      try {
        reply = normalizeReply(await current(sreq));
      } catch (e) {
        reply = normalizeReply({ error: { status: 500, message: `fake-llm script threw: ${e?.stack ?? e}` } });
      }
      rec.reply = reply;
      if (reply.delayMs) await sleep(reply.delayMs);
      if (reply.error) return api === "anthropic" ? anthropicError(res, reply.error) : openaiError(res, reply.error);
      const ctx = {
        chunkDelay: () => (reply.chunkDelayMs ? sleep(reply.chunkDelayMs) : Promise.resolve()),
        hang: (sse) => {
          hanging.add(sse);
          res.on("close", () => hanging.delete(sse));
        },
      };
      if (api === "anthropic") await renderAnthropic(req, res, reply, body, ctx);
      else if (api === "responses") await renderResponses(req, res, reply, body, ctx);
      else await renderChat(req, res, reply, body, ctx);
    } catch (e) {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(e?.stack ?? e) } });
      else res.destroy();
    }
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.keepAliveTimeout = 5000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const actualPort = server.address().port;
  const url = `http://127.0.0.1:${actualPort}`;

  return {
    url,
    port: actualPort,
    requests,
    /** Only the model calls (messages / responses / chat completions), in order. */
    modelRequests: () => requests.filter((r) => r.api),
    setScript(fn) {
      current = fn ?? defaultScript;
    },
    clearRequests() {
      requests.length = 0;
    },
    /** Resolve with the first recorded request matching pred (already received or future). */
    waitForRequest(pred = () => true, timeoutMs = 30000) {
      const hit = requests.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`fake-llm: no matching request within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async close() {
      for (const sse of hanging) sse.end();
      hanging.clear();
      for (const w of waiters.splice(0)) clearTimeout(w.timer);
      await new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

// Run standalone: `node fake_llm.mjs [port]` prints the URL and logs requests.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const llm = await startFakeLlm({ port: Number(process.argv[2] ?? 0), log: (l) => console.error(l) });
  console.log(llm.url);
  const stop = async () => {
    await llm.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
