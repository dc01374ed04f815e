// fake_llm.test.mjs - checks every wire format of fake_llm.mjs with plain fetch.
//   node --test tests/agents/fake_llm.test.mjs
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { startFakeLlm, DEFAULT_TEXT } from "./fake_llm.mjs";

let llm;
before(async () => {
  llm = await startFakeLlm();
});
after(async () => {
  await llm.close();
});

async function post(path, body, headers = {}) {
  return fetch(llm.url + path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

// Parse an SSE body into [{event, data}] (data JSON-parsed unless "[DONE]").
async function sse(res) {
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  const text = await res.text();
  const out = [];
  for (const block of text.split("\n\n")) {
    if (!block.trim()) continue;
    let event = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    const d = data.join("\n");
    out.push({ event, data: d === "[DONE]" ? d : JSON.parse(d) });
  }
  return out;
}

const userMsg = (text) => ({ role: "user", content: text });

describe("anthropic messages", () => {
  test("non-streaming text", async () => {
    llm.setScript(() => ({ text: "hello there" }));
    const res = await post("/v1/messages", { model: "claude-x", max_tokens: 100, messages: [userMsg("hi")] }, { "x-api-key": "k", "anthropic-version": "2023-06-01" });
    assert.equal(res.status, 200);
    const j = await res.json();
    assert.equal(j.type, "message");
    assert.equal(j.role, "assistant");
    assert.equal(j.model, "claude-x");
    assert.deepEqual(j.content, [{ type: "text", text: "hello there" }]);
    assert.equal(j.stop_reason, "end_turn");
    assert.ok(j.usage.input_tokens > 0 && j.usage.output_tokens > 0);
  });

  test("streaming text: event sequence and reassembled text", async () => {
    const long = "The quick brown fox jumps over the lazy dog, several times in a row.";
    llm.setScript(() => ({ text: long }));
    const ev = await sse(await post("/v1/messages?beta=true", { model: "m", max_tokens: 10, stream: true, messages: [userMsg("hi")] }));
    const names = ev.map((e) => e.event);
    assert.equal(names[0], "message_start");
    assert.deepEqual(names.slice(-2), ["message_delta", "message_stop"]);
    for (const e of ev) assert.equal(e.data.type, e.event, "data.type mirrors the event name");
    assert.equal(ev[0].data.message.role, "assistant");
    const start = ev.find((e) => e.event === "content_block_start");
    assert.deepEqual(start.data.content_block, { type: "text", text: "" });
    const deltas = ev.filter((e) => e.event === "content_block_delta");
    assert.ok(deltas.length > 1, "text is split into several deltas");
    assert.equal(deltas.map((d) => d.data.delta.text).join(""), long);
    assert.ok(names.includes("content_block_stop"));
    assert.equal(ev.find((e) => e.event === "message_delta").data.delta.stop_reason, "end_turn");
  });

  test("streaming tool_use with input_json_delta", async () => {
    const args = { file_path: "/tmp/x/hello.txt", content: "hi from claude, with a long enough body" };
    llm.setScript(() => ({ text: "Writing.", toolCall: { name: "Write", arguments: args, id: "toolu_1" } }));
    const ev = await sse(await post("/v1/messages", { model: "m", max_tokens: 10, stream: true, messages: [userMsg("go")], tools: [{ name: "Write", input_schema: {} }] }));
    const starts = ev.filter((e) => e.event === "content_block_start");
    assert.equal(starts.length, 2);
    assert.equal(starts[0].data.content_block.type, "text");
    assert.deepEqual(starts[1].data.content_block, { type: "tool_use", id: "toolu_1", name: "Write", input: {} });
    assert.equal(starts[1].data.index, 1);
    const json = ev
      .filter((e) => e.event === "content_block_delta" && e.data.index === 1)
      .map((e) => {
        assert.equal(e.data.delta.type, "input_json_delta");
        return e.data.delta.partial_json;
      })
      .join("");
    assert.deepEqual(JSON.parse(json), args);
    assert.equal(ev.find((e) => e.event === "message_delta").data.delta.stop_reason, "tool_use");
  });

  test("non-streaming tool_use", async () => {
    llm.setScript(() => ({ toolCall: { name: "Bash", arguments: { command: "ls" } } }));
    const j = await (await post("/v1/messages", { model: "m", max_tokens: 10, messages: [userMsg("go")] })).json();
    assert.equal(j.stop_reason, "tool_use");
    assert.equal(j.content.length, 1);
    assert.equal(j.content[0].type, "tool_use");
    assert.equal(j.content[0].name, "Bash");
    assert.deepEqual(j.content[0].input, { command: "ls" });
    assert.match(j.content[0].id, /^toolu_/);
  });

  test("thinking block is streamed before the text", async () => {
    llm.setScript(() => ({ thinking: "let me think", text: "ok" }));
    const ev = await sse(await post("/v1/messages", { model: "m", max_tokens: 10, stream: true, messages: [userMsg("go")] }));
    const starts = ev.filter((e) => e.event === "content_block_start").map((e) => e.data.content_block.type);
    assert.deepEqual(starts, ["thinking", "text"]);
    const th = ev.filter((e) => e.data.delta?.type === "thinking_delta").map((e) => e.data.delta.thinking).join("");
    assert.equal(th, "let me think");
    assert.ok(ev.some((e) => e.data.delta?.type === "signature_delta"));
  });

  test("default script: text, then 'done' once a tool_result is in the conversation", async () => {
    llm.setScript(null);
    let j = await (await post("/v1/messages", { model: "m", max_tokens: 10, messages: [userMsg("hi")] })).json();
    assert.equal(j.content[0].text, DEFAULT_TEXT);
    const messages = [
      userMsg("hi"),
      { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "Write", input: {} }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "ok" }] },
    ];
    j = await (await post("/v1/messages", { model: "m", max_tokens: 10, messages })).json();
    assert.equal(j.content[0].text, "done");
  });

  test("auxiliary endpoints: count_tokens, models, HEAD /", async () => {
    const ct = await post("/v1/messages/count_tokens", { model: "m", messages: [userMsg("hello world")] });
    assert.equal(ct.status, 200);
    assert.ok((await ct.json()).input_tokens > 0);
    const models = await (await fetch(llm.url + "/v1/models")).json();
    assert.equal(models.object, "list");
    assert.ok(models.data.length > 0);
    for (const m of models.data) {
      assert.equal(typeof m.id, "string");
      assert.equal(m.object, "model"); // OpenAI shape
      assert.equal(m.type, "model"); // Anthropic shape
      assert.equal(typeof m.display_name, "string");
    }
    assert.equal(models.has_more, false);
    const one = await (await fetch(llm.url + "/v1/models/claude-sonnet-4-6")).json();
    assert.equal(one.id, "claude-sonnet-4-6");
    const head = await fetch(llm.url + "/", { method: "HEAD" });
    assert.equal(head.status, 200);
    const nf = await fetch(llm.url + "/v1/nope");
    assert.equal(nf.status, 404);
  });

  test("error reply uses the Anthropic error shape", async () => {
    llm.setScript(() => ({ error: { status: 529, message: "overloaded!" } }));
    const res = await post("/v1/messages", { model: "m", max_tokens: 10, stream: true, messages: [userMsg("hi")] });
    assert.equal(res.status, 529);
    assert.deepEqual(await res.json(), { type: "error", error: { type: "overloaded_error", message: "overloaded!" } });
  });
});

describe("openai responses", () => {
  test("streaming text", async () => {
    const long = "Responses API streaming text that is long enough to be chunked.";
    llm.setScript(() => ({ text: long }));
    const ev = await sse(await post("/v1/responses", { model: "gpt-5.4", stream: true, input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }] }, { authorization: "Bearer k" }));
    const types = ev.map((e) => e.data.type);
    for (const e of ev) assert.equal(e.event, e.data.type);
    assert.deepEqual(ev.map((e) => e.data.sequence_number), ev.map((_, i) => i), "sequence numbers count up from 0");
    assert.equal(types[0], "response.created");
    assert.equal(types.at(-1), "response.completed");
    for (const t of ["response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.done", "response.output_item.done"]) assert.ok(types.includes(t), t);
    const deltas = ev.filter((e) => e.data.type === "response.output_text.delta");
    assert.ok(deltas.length > 1);
    assert.equal(deltas.map((e) => e.data.delta).join(""), long);
    const done = ev.find((e) => e.data.type === "response.output_item.done").data.item;
    assert.equal(done.type, "message");
    assert.equal(done.content[0].text, long);
    const completed = ev.at(-1).data.response;
    assert.equal(completed.status, "completed");
    assert.equal(completed.id, ev[0].data.response.id);
    assert.ok(completed.usage.input_tokens > 0);
    assert.equal(completed.usage.total_tokens, completed.usage.input_tokens + completed.usage.output_tokens);
    assert.equal(completed.usage.input_tokens_details.cached_tokens, 0);
    assert.equal(completed.usage.output_tokens_details.reasoning_tokens, 0);
  });

  test("streaming function_call with argument deltas", async () => {
    const args = { cmd: "printf 'hi from codex' > hello.txt", workdir: "/tmp/somewhere/deep" };
    llm.setScript(() => ({ toolCall: { name: "exec_command", arguments: args, id: "call_7" } }));
    const ev = await sse(await post("/v1/responses", { model: "m", stream: true, input: "go", tools: [{ type: "function", name: "exec_command", parameters: {} }] }));
    const added = ev.find((e) => e.data.type === "response.output_item.added").data.item;
    assert.equal(added.type, "function_call");
    assert.equal(added.name, "exec_command");
    assert.equal(added.call_id, "call_7");
    const deltas = ev.filter((e) => e.data.type === "response.function_call_arguments.delta");
    assert.ok(deltas.length > 1);
    assert.deepEqual(JSON.parse(deltas.map((e) => e.data.delta).join("")), args);
    assert.deepEqual(JSON.parse(ev.find((e) => e.data.type === "response.function_call_arguments.done").data.arguments), args);
    const item = ev.find((e) => e.data.type === "response.output_item.done").data.item;
    assert.equal(item.type, "function_call");
    assert.equal(item.status, "completed");
    assert.deepEqual(JSON.parse(item.arguments), args);
    assert.equal(ev.at(-1).data.response.output[0].call_id, "call_7");
  });

  test("custom (freeform) tools are rendered as custom_tool_call", async () => {
    const patch = "*** Begin Patch\n*** Add File: a.txt\n+x\n*** End Patch\n";
    llm.setScript(() => ({ toolCall: { name: "apply_patch", arguments: patch } }));
    const ev = await sse(await post("/v1/responses", { model: "m", stream: true, input: "go", tools: [{ type: "custom", name: "apply_patch" }] }));
    const item = ev.find((e) => e.data.type === "response.output_item.done").data.item;
    assert.equal(item.type, "custom_tool_call");
    assert.equal(item.input, patch);
    assert.equal(ev.filter((e) => e.data.type === "response.custom_tool_call_input.delta").map((e) => e.data.delta).join(""), patch);
  });

  test("non-streaming", async () => {
    llm.setScript(() => ({ text: "a", toolCall: { name: "f", arguments: { x: 1 } } }));
    const j = await (await post("/v1/responses", { model: "m", input: "go" })).json();
    assert.equal(j.object, "response");
    assert.equal(j.status, "completed");
    assert.deepEqual(j.output.map((o) => o.type), ["message", "function_call"]);
    assert.deepEqual(JSON.parse(j.output[1].arguments), { x: 1 });
  });

  test("reasoning summary", async () => {
    llm.setScript(() => ({ thinking: "pondering", text: "ok" }));
    const ev = await sse(await post("/v1/responses", { model: "m", stream: true, input: "go" }));
    assert.equal(ev.filter((e) => e.data.type === "response.reasoning_summary_text.delta").map((e) => e.data.delta).join(""), "pondering");
    assert.deepEqual(ev.at(-1).data.response.output.map((o) => o.type), ["reasoning", "message"]);
  });

  test("default script sees function_call_output", async () => {
    llm.setScript(null);
    const input = [
      { type: "message", role: "user", content: [{ type: "input_text", text: "go" }] },
      { type: "function_call", name: "exec_command", arguments: "{}", call_id: "c1" },
      { type: "function_call_output", call_id: "c1", output: "ok" },
    ];
    const j = await (await post("/v1/responses", { model: "m", input })).json();
    assert.equal(j.output[0].content[0].text, "done");
  });

  test("error reply uses the OpenAI error shape", async () => {
    llm.setScript(() => ({ error: { status: 400, message: "bad" } }));
    const res = await post("/v1/responses", { model: "m", stream: true, input: "go" });
    assert.equal(res.status, 400);
    const j = await res.json();
    assert.equal(j.error.message, "bad");
    assert.equal(j.error.type, "invalid_request_error");
  });
});

describe("openai chat completions", () => {
  test("streaming text ends with finish_reason stop, usage and [DONE]", async () => {
    const long = "Chat completions streaming text that is long enough to be chunked.";
    llm.setScript(() => ({ text: long }));
    const ev = await sse(await post("/v1/chat/completions", { model: "fake-model", stream: true, messages: [userMsg("hi")] }));
    assert.equal(ev.at(-1).data, "[DONE]");
    const chunks = ev.slice(0, -1).map((e) => e.data);
    for (const c of chunks) {
      assert.equal(c.object, "chat.completion.chunk");
      assert.equal(c.id, chunks[0].id);
    }
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), long);
    const last = chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, "stop");
    assert.ok(last.usage.prompt_tokens > 0);
    assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
  });

  test("streaming tool_calls", async () => {
    const a1 = { filePath: "/tmp/a/hello.txt", content: "hi from opencode" };
    llm.setScript(() => ({ text: "ok", toolCalls: [{ name: "write", arguments: a1, id: "call_a" }, { name: "bash", arguments: { command: "ls" } }] }));
    const ev = await sse(await post("/v1/chat/completions", { model: "m", stream: true, stream_options: { include_usage: true }, messages: [userMsg("hi")], tools: [{ type: "function", function: { name: "write" } }] }));
    assert.equal(ev.at(-1).data, "[DONE]");
    const chunks = ev.slice(0, -1).map((e) => e.data);
    const calls = [];
    for (const c of chunks)
      for (const tc of c.choices[0]?.delta?.tool_calls ?? []) {
        calls[tc.index] ??= { id: null, name: null, args: "" };
        if (tc.id) calls[tc.index].id = tc.id;
        if (tc.function?.name) calls[tc.index].name = tc.function.name;
        if (tc.function?.arguments) calls[tc.index].args += tc.function.arguments;
        if (tc.id) assert.equal(tc.type, "function");
      }
    assert.equal(calls.length, 2);
    assert.equal(calls[0].id, "call_a");
    assert.equal(calls[0].name, "write");
    assert.deepEqual(JSON.parse(calls[0].args), a1);
    assert.equal(calls[1].name, "bash");
    assert.match(calls[1].id, /^call_/);
    assert.deepEqual(JSON.parse(calls[1].args), { command: "ls" });
    const fin = chunks.find((c) => c.choices[0]?.finish_reason);
    assert.equal(fin.choices[0].finish_reason, "tool_calls");
    // include_usage: a final chunk with empty choices and usage
    assert.deepEqual(chunks.at(-1).choices, []);
    assert.ok(chunks.at(-1).usage.total_tokens > 0);
  });

  test("non-streaming text and tool call", async () => {
    llm.setScript(() => ({ toolCall: { name: "write", arguments: { a: 1 } } }));
    const j = await (await post("/v1/chat/completions", { model: "m", messages: [userMsg("hi")] })).json();
    assert.equal(j.object, "chat.completion");
    assert.equal(j.choices[0].finish_reason, "tool_calls");
    assert.equal(j.choices[0].message.role, "assistant");
    assert.equal(j.choices[0].message.tool_calls[0].function.name, "write");
    assert.deepEqual(JSON.parse(j.choices[0].message.tool_calls[0].function.arguments), { a: 1 });
    llm.setScript(() => "plain string reply");
    const k = await (await post("/chat/completions", { model: "m", messages: [userMsg("hi")] })).json();
    assert.equal(k.choices[0].message.content, "plain string reply", "the /v1 prefix is optional; a bare string is text");
    assert.equal(k.choices[0].finish_reason, "stop");
  });

  test("default script sees role:tool messages", async () => {
    llm.setScript(null);
    const messages = [userMsg("hi"), { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "write", arguments: "{}" } }] }, { role: "tool", tool_call_id: "c1", content: "ok" }];
    const j = await (await post("/v1/chat/completions", { model: "m", messages })).json();
    assert.equal(j.choices[0].message.content, "done");
  });

  test("GET /v1/models (OpenAI list)", async () => {
    const res = await fetch(llm.url + "/v1/models", { headers: { authorization: "Bearer x" } });
    assert.equal(res.status, 200);
    const j = await res.json();
    assert.equal(j.object, "list");
    assert.ok(j.data.some((m) => m.id === "fake-model"));
  });
});

describe("scripting and recording", () => {
  test("the script gets api, index, tools, tool results and last user text; requests are recorded", async () => {
    llm.clearRequests();
    const seen = [];
    llm.setScript((req) => {
      seen.push(req);
      return { text: `#${req.index} ${req.api}` };
    });
    await post("/v1/messages?beta=true", { model: "m", max_tokens: 5, messages: [userMsg("first")], tools: [{ name: "Write" }, { name: "Bash" }] }, { "x-api-key": "secret" });
    await post("/v1/responses", { model: "m", input: [{ role: "user", content: [{ type: "input_text", text: "second" }] }], tools: [{ type: "function", name: "exec_command" }, { type: "web_search" }] });
    await post("/v1/chat/completions", {
      model: "m",
      messages: [userMsg("third"), { role: "assistant", tool_calls: [{ id: "x", type: "function", function: { name: "write", arguments: "{}" } }] }, { role: "tool", tool_call_id: "x", content: "written" }],
      tools: [{ type: "function", function: { name: "write" } }],
    });
    assert.deepEqual(seen.map((s) => s.api), ["anthropic", "responses", "chat"]);
    const base = seen[0].index;
    assert.deepEqual(seen.map((s) => s.index - base), [0, 1, 2]);
    assert.deepEqual(seen[0].tools, ["Write", "Bash"]);
    assert.deepEqual(seen[1].tools, ["exec_command"]);
    assert.equal(seen[0].lastUserText, "first");
    assert.equal(seen[1].lastUserText, "second");
    assert.equal(seen[2].lastUserText, "third");
    assert.equal(seen[2].hasToolResult, true);
    assert.deepEqual(seen[2].toolResults, [{ id: "x", name: "write", output: "written" }]);
    assert.equal(seen[0].path, "/v1/messages");
    assert.deepEqual(seen[0].query, { beta: "true" });
    assert.equal(seen[0].headers["x-api-key"], "secret");

    assert.equal(llm.requests.length, 3);
    const r = llm.requests[0];
    assert.equal(r.method, "POST");
    assert.equal(r.path, "/v1/messages");
    assert.equal(r.api, "anthropic");
    assert.equal(r.headers["x-api-key"], "secret");
    assert.equal(r.body.messages[0].content, "first");
    assert.equal(r.reply.text, `#${base} anthropic`);
    assert.equal(llm.modelRequests().length, 3);
  });

  test("async scripts, delayMs, gzip request bodies, waitForRequest", async () => {
    llm.setScript(async (req) => {
      await new Promise((r) => setTimeout(r, 10));
      return { text: "later", delayMs: 20 };
    });
    const waiting = llm.waitForRequest((r) => r.body?.marker === "gz", 5000);
    const body = zlib.gzipSync(Buffer.from(JSON.stringify({ model: "m", marker: "gz", messages: [userMsg("zip")] })));
    const res = await fetch(llm.url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", "content-encoding": "gzip" }, body });
    assert.equal((await res.json()).choices[0].message.content, "later");
    const rec = await waiting;
    assert.equal(rec.body.messages[0].content, "zip");
    await assert.rejects(llm.waitForRequest((r) => r.body?.marker === "never", 50), /no matching request/);
  });

  test("a throwing script becomes a 500", async () => {
    llm.setScript(() => {
      throw new Error("boom");
    });
    const res = await post("/v1/chat/completions", { model: "m", messages: [userMsg("x")] });
    assert.equal(res.status, 500);
    assert.match((await res.json()).error.message, /boom/);
  });

  test("hang: the stream starts and never finishes; close() still returns", async () => {
    const own = await startFakeLlm({ script: () => ({ hang: true }) });
    const res = await fetch(own.url + "/v1/messages", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "m", stream: true, max_tokens: 1, messages: [userMsg("x")] }) });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /message_start/);
    const pending = reader.read();
    const raced = await Promise.race([pending.then(() => "data"), new Promise((r) => setTimeout(() => r("timeout"), 200))]);
    assert.equal(raced, "timeout", "no more data while hanging");
    await own.close();
    await pending.catch(() => {}); // the stream ends (or errors) once the server closes
  });

  test("chunkDelayMs slows the stream", async () => {
    llm.setScript(() => ({ text: "a b c d e f g h i j k l m n o p", chunkDelayMs: 30 }));
    const t0 = Date.now();
    const ev = await sse(await post("/v1/chat/completions", { model: "m", stream: true, messages: [userMsg("x")] }));
    assert.ok(Date.now() - t0 >= 30);
    assert.equal(ev.at(-1).data, "[DONE]");
  });
});
