// drive_acp.mjs - drive one real ACP adapter directly over stdio against the fake LLM.
//
//   node tests/agents/drive_acp.mjs <agent> [options]
//     agent: claude | codex | opencode | pi
//     --prefix DIR       npm prefix the adapter was installed into (default /tmp/agents-scratch/<agent>)
//     --timeout S        overall budget for the prompt turn (default 120)
//     --fs               advertise fs.readTextFile/writeTextFile and serve fs/* requests
//     --terminal         advertise terminal and serve terminal/* requests
//     --reject           answer session/request_permission with the reject option
//     --mode ID          call session/set_mode ID before prompting
//     --tool NAME        use the recipe's alternative write tool NAME (e.g. codex: apply_patch)
//     --text-only        script the LLM to answer with text only (no tool call)
//     --eof-wait S       after the turn, close stdin and wait up to S s for exit (default 5)
//     --base DIR         parent dir of the per-run temp root (default os.tmpdir())
//     --env K=V          extra env var for the adapter (repeatable)
//     --direct           codex: spawn the native codex-acp binary instead of the Node wrapper
//     --cancel-after MS  script the LLM to hang, send session/cancel MS after the prompt
//     --llm-error STATUS every model call fails with this HTTP status
//     --max-retries N    claude/codex: bound the agent's retries of failing model calls
//     --config-file      codex: write $CODEX_HOME/config.toml instead of -c args
//     --ps               record the adapter's process group (ps) during the turn
//     --quiet            do not print every message (summary only)
//     --keep             keep the temp dirs (printed at the end)
//
// The per-agent recipe (env vars, config files, args, the write-file tool call the fake LLM
// should emit) lives in agent_recipes.mjs. Prints every JSON-RPC line with a timestamp
// (">>" client->agent, "<<" agent->client), then a JSON summary line starting with
// "SUMMARY " and a line "RESULT <agent> ok|FAILED". Exit code 0 when the scenario succeeded:
// default: hello.txt holds "hi from <agent>" and the turn ended with end_turn; --reject: the
// file was not written; --cancel-after: stopReason "cancelled"; --text-only: end_turn.

import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { startFakeLlm } from "./fake_llm.mjs";
import { RECIPES, writeFileScript } from "./agent_recipes.mjs";

const argv = process.argv.slice(2);
const agent = argv[0];
if (!RECIPES[agent]) {
  console.error(`usage: node drive_acp.mjs <${Object.keys(RECIPES).join("|")}> [options]`);
  process.exit(2);
}
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i > 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const flag = (name) => argv.includes(name);
const recipe = RECIPES[agent];
const prefix = opt("--prefix", `/tmp/agents-scratch/${agent}`);
const timeoutS = Number(opt("--timeout", 120));
const eofWait = Number(opt("--eof-wait", 5));
const quiet = flag("--quiet");

const t0 = Date.now();
const ts = () => ((Date.now() - t0) / 1000).toFixed(2).padStart(7);
const log = (...a) => {
  if (!quiet) console.log(ts(), ...a);
};

const root = fs.mkdtempSync(path.join(opt("--base", os.tmpdir()), `acp-${agent}-`));
const cwd = path.join(root, "work");
const home = path.join(root, "home");
fs.mkdirSync(cwd, { recursive: true });
fs.mkdirSync(home, { recursive: true });
const target = path.join(cwd, "hello.txt");
const expected = `hi from ${agent}`;

function altRecipe(tool) {
  if (!tool) return recipe;
  const make = recipe.altTools?.[tool];
  if (!make) throw new Error(`${agent} has no alternative tool ${tool} (have: ${Object.keys(recipe.altTools ?? {}).join(", ")})`);
  return { writeToolName: make({ cwd, file: "hello.txt", content: expected }).name, writeTool: make };
}

const llm = await startFakeLlm({
  script: opt("--llm-error")
    ? () => ({ error: { status: Number(opt("--llm-error")), message: "fake llm failure" } })
    : opt("--cancel-after")
    ? (req) => (req.hasToolResult ? { text: "done" } : { hang: true })
    : flag("--text-only")
    ? () => ({ text: "Just text, no tools." })
    : writeFileScript(altRecipe(opt("--tool")), { cwd, file: "hello.txt", content: expected }),
  log: (l) => log(l),
});

const launch = recipe.launch({ prefix, home, llmUrl: llm.url, cwd, direct: flag("--direct"), maxRetries: opt("--max-retries") === undefined ? undefined : Number(opt("--max-retries")), configFile: flag("--config-file") });
const extraEnv = Object.fromEntries(argv.flatMap((a, i) => (a === "--env" ? [argv[i + 1].split(/=(.*)/s).slice(0, 2)] : [])));
const env = { ...process.env, ...launch.env, ...extraEnv };
log(`spawn ${launch.command} ${launch.args.join(" ")}`);
log(`env overrides: ${JSON.stringify({ ...launch.env, ...extraEnv })}`);
const child = spawn(launch.command, launch.args, { env, cwd: launch.cwd ?? root, stdio: ["pipe", "pipe", "pipe"], detached: true });
let exited = null;
const exitPromise = new Promise((resolve) =>
  child.on("exit", (code, signal) => {
    exited = { code, signal, at: Date.now() };
    log(`adapter exited code=${code} signal=${signal}`);
    resolve(exited);
  }),
);
const stderrLines = [];
readline.createInterface({ input: child.stderr }).on("line", (l) => {
  stderrLines.push(l);
  log(`[stderr] ${l.length > 400 ? l.slice(0, 400) + "..." : l}`);
});

// ---------------------------------------------------------------- JSON-RPC plumbing
let nextId = 0;
const pending = new Map();
const updates = [];
const permissionRequests = [];
const clientRequests = [];
const terminals = new Map();
const send = (msg) => {
  const line = JSON.stringify({ jsonrpc: "2.0", ...msg });
  log(">>", line.length > 2000 ? line.slice(0, 2000) + "..." : line);
  child.stdin.write(line + "\n");
};
const request = (method, params, timeoutMs = timeoutS * 1000) => {
  const id = nextId++;
  const started = Date.now();
  send({ id, method, params });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    pending.set(id, { method, started, resolve: (m) => (clearTimeout(timer), resolve(m)) });
  });
};

async function handleClientRequest(msg) {
  const { id, method, params } = msg;
  clientRequests.push(method);
  const reply = (result) => send({ id, result });
  const fail = (code, message) => send({ id, error: { code, message } });
  try {
    if (method === "session/request_permission") {
      permissionRequests.push(params.options);
      // ACP: after session/cancel every pending permission request is answered "cancelled".
      if (summary.cancelSentAt !== undefined) return reply({ outcome: { outcome: "cancelled" } });
      const kinds = flag("--reject") ? ["reject_once", "reject_always"] : ["allow_once", "allow_always"];
      const o = kinds.map((k) => params.options.find((x) => x.kind === k)).find(Boolean) ?? params.options[0];
      return reply({ outcome: { outcome: "selected", optionId: o.optionId } });
    }
    if (method === "fs/read_text_file") {
      let text = fs.readFileSync(params.path, "utf8");
      if (params.line || params.limit) {
        const lines = text.split("\n");
        const start = Math.max(0, (params.line ?? 1) - 1);
        text = lines.slice(start, params.limit ? start + params.limit : undefined).join("\n");
      }
      return reply({ content: text });
    }
    if (method === "fs/write_text_file") {
      fs.mkdirSync(path.dirname(params.path), { recursive: true });
      fs.writeFileSync(params.path, params.content);
      return reply(null);
    }
    if (method === "terminal/create") {
      const tid = `term-${terminals.size}`;
      const p = spawn(params.command, params.args ?? [], {
        cwd: params.cwd ?? cwd,
        env: { ...process.env, ...Object.fromEntries((params.env ?? []).map((e) => [e.name, e.value])) },
        shell: !(params.args && params.args.length),
      });
      const t = { out: "", exit: null };
      t.done = new Promise((r) => p.on("exit", (code, signal) => r((t.exit = { exitCode: code, signal }))));
      p.stdout.on("data", (d) => (t.out += d));
      p.stderr.on("data", (d) => (t.out += d));
      t.proc = p;
      terminals.set(tid, t);
      return reply({ terminalId: tid });
    }
    if (method === "terminal/output") {
      const t = terminals.get(params.terminalId);
      return reply({ output: t.out, truncated: false, ...(t.exit ? { exitStatus: t.exit } : {}) });
    }
    if (method === "terminal/wait_for_exit") return reply(await terminals.get(params.terminalId).done);
    if (method === "terminal/kill" || method === "terminal/release") {
      terminals.get(params.terminalId)?.proc.kill("SIGKILL");
      return reply({});
    }
    return fail(-32601, `method not found: ${method}`);
  } catch (e) {
    return fail(-32603, String(e));
  }
}

readline.createInterface({ input: child.stdout }).on("line", (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    log("<< (not JSON)", line);
    return;
  }
  log("<<", line.length > 2000 ? line.slice(0, 2000) + "..." : line);
  if (msg.method && msg.id !== undefined) handleClientRequest(msg);
  else if (msg.method === "session/update") updates.push(msg.params.update);
  else if (msg.id !== undefined && pending.has(msg.id)) {
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    p.resolve({ ...msg, ms: Date.now() - p.started });
  }
});

// ---------------------------------------------------------------- the session
const summary = { agent, prefix, root, cwd, timings: {}, errors: [] };
const killGroup = (sig) => {
  try {
    process.kill(-child.pid, sig);
  } catch {}
};
const overall = setTimeout(() => {
  summary.errors.push("overall timeout");
  finish(3);
}, (timeoutS + 60) * 1000);

let finished = false;
async function finish(code) {
  if (finished) return;
  finished = true;
  clearTimeout(overall);
  // EOF behaviour: close stdin, wait, then kill the whole process group.
  if (!exited) {
    const eofAt = Date.now();
    child.stdin.end();
    await Promise.race([exitPromise, new Promise((r) => setTimeout(r, eofWait * 1000))]);
    summary.eof = exited ? { exitedAfterMs: exited.at - eofAt, code: exited.code, signal: exited.signal } : { exitedAfterMs: null, note: `still running ${eofWait}s after stdin EOF` };
  }
  killGroup("SIGTERM");
  await Promise.race([exitPromise, new Promise((r) => setTimeout(r, 2000))]);
  killGroup("SIGKILL");
  for (const t of terminals.values()) t.proc.kill("SIGKILL");
  summary.fileWritten = fs.existsSync(target);
  summary.fileContent = summary.fileWritten ? fs.readFileSync(target, "utf8") : null;
  summary.llmRequests = llm.requests.map((r) => `${r.method} ${r.path}${Object.keys(r.query).length ? "?" + new URLSearchParams(r.query) : ""}${r.api ? ` [${r.api}${r.body?.stream ? " stream" : ""} tools=${r.tools.length} model=${r.body?.model}]` : ""}`);
  summary.llmHeaders = llm.requests.filter((r) => r.api).slice(0, 1).map((r) => r.headers);
  summary.toolsOffered = [...new Set(llm.requests.filter((r) => r.api).flatMap((r) => r.tools))];
  summary.permissionOptions = permissionRequests;
  summary.clientRequests = clientRequests;
  summary.updateKinds = [...new Set(updates.map((u) => u.sessionUpdate))];
  summary.stderrTail = stderrLines.slice(-15);
  fs.writeFileSync(path.join(root, "llm-requests.json"), JSON.stringify(llm.requests, null, 1));
  await llm.close();
  // Success criterion depends on the scenario.
  const stop = summary.promptResult?.stopReason;
  summary.ok = opt("--cancel-after")
    ? stop === "cancelled"
    : flag("--text-only")
      ? stop === "end_turn"
      : flag("--reject")
        ? !summary.fileWritten && !!stop
        : summary.fileContent?.trimEnd() === expected && stop === "end_turn";
  console.log("SUMMARY " + JSON.stringify(summary, null, 2));
  if (!flag("--keep")) fs.rmSync(root, { recursive: true, force: true });
  console.log(`RESULT ${agent} ${summary.ok ? "ok" : "FAILED"}`);
  process.exit(code ?? (summary.ok ? 0 : 1));
}

try {
  const caps = { fs: { readTextFile: flag("--fs"), writeTextFile: flag("--fs") }, terminal: flag("--terminal") };
  const init = await request("initialize", { protocolVersion: 1, clientCapabilities: caps, clientInfo: { name: "drive_acp", version: "0.0.1" } }, 60000);
  summary.timings.initializeMs = init.ms;
  if (init.error) throw new Error(`initialize failed: ${JSON.stringify(init.error)}`);
  summary.initialize = init.result;
  if (launch.authenticate) {
    const a = await request("authenticate", { methodId: launch.authenticate }, 30000);
    summary.authenticate = a.error ?? a.result;
  }
  const sn = await request("session/new", { cwd, mcpServers: [], ...(launch.sessionNewExtra ?? {}) }, 90000);
  summary.timings.sessionNewMs = sn.ms;
  if (sn.error) throw new Error(`session/new failed: ${JSON.stringify(sn.error)}`);
  const sessionId = sn.result.sessionId;
  summary.sessionNew = { sessionId, modes: sn.result.modes, models: sn.result.models && { currentModelId: sn.result.models.currentModelId, n: sn.result.models.availableModels?.length }, configOptions: sn.result.configOptions?.map((o) => ({ id: o.id, category: o.category, currentValue: o.currentValue })) };
  const mode = opt("--mode", launch.mode);
  if (mode) {
    const sm = await request("session/set_mode", { sessionId, modeId: mode }, 30000);
    summary.setMode = sm.error ?? sm.result;
  }
  const prompt = flag("--text-only") ? "Say something." : `Create a file named hello.txt in the current directory containing exactly: ${expected}`;
  const prP = request("session/prompt", { sessionId, prompt: [{ type: "text", text: prompt }] });
  if (opt("--cancel-after")) {
    await new Promise((r) => setTimeout(r, Number(opt("--cancel-after"))));
    summary.cancelSentAt = Date.now() - t0;
    send({ method: "session/cancel", params: { sessionId } });
  }
  if (flag("--ps")) {
    await new Promise((r) => setTimeout(r, 500));
    summary.processTree = execFileSync("ps", ["-o", "pid,ppid,pgid,rss,cmd", "-g", String(child.pid)], { encoding: "utf8" }).split("\n").filter(Boolean).map((l) => l.slice(0, 200));
  }
  const pr = await prP;
  summary.timings.promptMs = pr.ms;
  summary.promptResult = pr.error ? { error: pr.error } : pr.result;
  await new Promise((r) => setTimeout(r, 300)); // trailing notifications
  await finish();
} catch (e) {
  summary.errors.push(String(e?.message ?? e));
  await finish(1);
}
