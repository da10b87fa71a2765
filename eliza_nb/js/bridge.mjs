// The Node side of eliza_nb's bridge to elizaOS TypeScript plugins (see eliza_nb/node_bridge.py).
//
// Wire: JSON lines. Python writes requests to our stdin and reads replies from our stdout;
// both sides put an id on every request, so many calls are in flight at once. Calls that
// elizaOS makes synchronously (getSetting, getConversationLength) go over a second pair of
// pipes whose file descriptors Python passes as --sync-out / --sync-in, answered by a Python
// thread while our event loop waits.
//
//   Python -> Node  {"id": n, "op": "load" | "action" | "validate" | "provider" | "evaluator"
//                    | "evaluator_validate" | "model" | "test" | "init", ...}
//                   {"reply": k, "ok": true, "result": ...}   (answers our runtime calls)
//                   {"op": "parts", ...} / {"op": "cancel", "id": n}   (no answer)
//   Node -> Python  {"id": n, "ok": true, "result": ...} | {"id": n, "ok": false, "error": {...}}
//                   {"call": k, "ctx": n, "method": "useModel", "args": [...]}
//
// Our own stdout is the wire, so console output and stray writes go to stderr, which Python
// reads into the eliza_nb.bridge logger.
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

const wireWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
for (const level of ["log", "info", "debug", "trace"]) console[level] = console.error;

const args = process.argv.slice(2);
const syncOut = Number(args[args.indexOf("--sync-out") + 1]);
const syncIn = Number(args[args.indexOf("--sync-in") + 1]);

const plugins = new Map(); // key -> the plugin object the package exports
const pending = new Map(); // our call id -> {resolve, reject}
const cancelled = new Set(); // ids of Python requests whose caller gave up (a timeout)
let nextCall = 0;
let context = { agentId: "agent", character: { name: "agent" } };
let listing = { actions: [], providers: [], evaluators: [] };

function send(obj) {
  wireWrite(JSON.stringify(obj, jsonSafe) + "\n");
}

function jsonSafe(_key, value) {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "function") return undefined;
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

// -- calls into the Python runtime ------------------------------------------------------
function callPython(ctx, method, callArgs) {
  const call = ++nextCall;
  return new Promise((resolve, reject) => {
    pending.set(call, { resolve, reject, method });
    send({ call, ctx, method, args: callArgs });
  });
}

let syncBuffer = Buffer.alloc(0);
function callPythonSync(ctx, method, callArgs) {
  fs.writeSync(syncOut, JSON.stringify({ ctx, method, args: callArgs }, jsonSafe) + "\n");
  const chunk = Buffer.alloc(65536);
  let end;
  while ((end = syncBuffer.indexOf(10)) < 0) {
    const n = fs.readSync(syncIn, chunk, 0, chunk.length, null);
    if (n === 0) throw new Error("eliza_nb bridge: the Python side closed the settings pipe");
    syncBuffer = Buffer.concat([syncBuffer, chunk.subarray(0, n)]);
  }
  const line = syncBuffer.subarray(0, end).toString("utf8");
  syncBuffer = syncBuffer.subarray(end + 1);
  const answer = JSON.parse(line);
  if (!answer.ok) throw pythonError(method, answer.error);
  return answer.result;
}

function pythonError(method, error) {
  const err = new Error(`runtime.${method}: ${error?.message ?? "failed in Python"}`);
  err.code = error?.code;
  return err;
}

// -- the runtime object a TS plugin sees ------------------------------------------------
const ASYNC_METHODS = [
  "useModel", "composeState", "createMemory", "getMemories", "searchMemories",
  "getMemoriesByRoomIds", "deleteMemory", "countMemories", "emitEvent", "getRoom",
  "getEntityById", "getEntitiesForRoom", "getRoomsForParticipants", "getParticipantsForRoom",
];
const SYNC_METHODS = ["getSetting", "hasService", "getModelTypes"];

function makeRuntime(ctx, pluginName) {
  const cache = runtimeCache;
  const base = {
    agentId: context.agentId,
    character: context.character,
    logger: pluginLogger(pluginName),
    get actions() { return partsFor("actions", ctx); },
    get providers() { return partsFor("providers", ctx); },
    get evaluators() { return partsFor("evaluators", ctx); },
    plugins: [...plugins.values()],
    routes: [],
    getConversationLength: () => Number(callPythonSync(ctx, "getConversationLength", [])),
    getService: (name) => serviceProxy(ctx, name),
    getAllServices: () => new Map(),
    getModel: (type) => (callPythonSync(ctx, "getModelTypes", []).includes(type)
      ? (_rt, params) => callPython(ctx, "useModel", [type, params]) : undefined),
    getCache: async (key) => cache.get(key),
    setCache: async (key, value) => { cache.set(key, value); return true; },
    deleteCache: async (key) => cache.delete(key),
    log: async () => {},
  };
  for (const method of ASYNC_METHODS) base[method] = (...a) => callPython(ctx, method, a);
  for (const method of SYNC_METHODS) base[method] = (...a) => callPythonSync(ctx, method, a);
  return new Proxy(base, {
    get(target, prop) {
      if (prop in target || typeof prop === "symbol" || prop === "then") return target[prop];
      return () => {
        throw new Error(
          `runtime.${prop} is not provided by the eliza_nb bridge (plugin ${pluginName}); ` +
          "see the README's table of the supported runtime surface");
      };
    },
  });
}
const runtimeCache = new Map();

function serviceProxy(ctx, name) {
  if (!callPythonSync(ctx, "hasService", [name])) return null;
  return new Proxy({}, {
    get(_target, method) {
      if (typeof method === "symbol" || method === "then") return undefined;
      return (...a) => callPython(ctx, "serviceCall", [name, method, a]);
    },
  });
}

function pluginLogger(name) {
  const write = (level) => (...parts) => {
    const text = parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p, jsonSafe)));
    process.stderr.write(`[${level}] ${name}: ${text.join(" ")}\n`);
  };
  const logger = {};
  for (const level of ["trace", "debug", "info", "warn", "error", "fatal", "success", "log"]) {
    logger[level] = write(level);
  }
  return logger;
}

// The parts of every plugin registered in Python: our own objects where we hold them, stand-ins
// whose validate asks Python for the others (the ACTIONS provider validates every action).
function partsFor(kind, ctx) {
  return listing[kind].map((part) => {
    const own = part.key && plugins.get(part.key)?.[kind]?.find((p) => p.name === part.name);
    if (own) return own;
    const standIn = { ...part };
    if (kind !== "providers") {
      standIn.validate = async (_rt, message, state) =>
        Boolean(await callPython(ctx, "validatePart", [kind, part.name, message, state]));
    }
    return standIn;
  });
}

// -- loading a package -------------------------------------------------------------------
function entryOf(folder) {
  const pkg = JSON.parse(fs.readFileSync(path.join(folder, "package.json"), "utf8"));
  let target = pkg.exports?.["."] ?? pkg.exports;
  for (let i = 0; i < 4 && target && typeof target === "object"; i++) {
    target = target.import ?? target.node ?? target.default ?? target.require;
  }
  const file = typeof target === "string" ? target : pkg.module ?? pkg.main ?? "index.js";
  return path.resolve(folder, file);
}

function isPlugin(value) {
  return value && typeof value === "object" && typeof value.name === "string" &&
    ["actions", "providers", "evaluators", "services", "models", "init"].some((k) => k in value);
}

async function load({ key, folder }) {
  const entry = entryOf(folder);
  const mod = await import(pathToFileURL(entry).href);
  const plugin = [mod.default, ...Object.values(mod)].find(isPlugin);
  if (!plugin) {
    const names = Object.keys(mod).join(", ") || "nothing";
    throw Object.assign(new Error(`${entry} exports no elizaOS plugin (it exports ${names})`),
      { code: "NO_PLUGIN" });
  }
  plugins.set(key, plugin);
  return manifest(plugin);
}

function manifest(plugin) {
  const describe = (part) => ({
    name: part.name, description: part.description ?? "", similes: part.similes ?? [],
    examples: part.examples ?? [], hasValidate: typeof part.validate === "function",
  });
  return {
    name: plugin.name,
    description: plugin.description ?? "",
    actions: (plugin.actions ?? []).map(describe),
    evaluators: (plugin.evaluators ?? []).map((e) => ({ ...describe(e), alwaysRun: !!e.alwaysRun })),
    providers: (plugin.providers ?? []).map((p) => ({
      name: p.name, description: p.description ?? "", position: p.position ?? 0,
      dynamic: !!p.dynamic, private: !!p.private,
    })),
    models: Object.keys(plugin.models ?? {}),
    services: (plugin.services ?? []).map((s) => s.serviceType ?? s.name ?? "service"),
    events: Object.keys(plugin.events ?? {}),
    tests: (plugin.tests ?? []).map((s) => ({ name: s.name, tests: s.tests.map((t) => t.name) })),
    config: plugin.config ?? {},
    hasInit: typeof plugin.init === "function",
  };
}

// -- running parts -----------------------------------------------------------------------
function part(req, kind) {
  const plugin = plugins.get(req.key);
  const found = plugin?.[kind]?.find((p) => p.name === req.name);
  if (!found) throw new Error(`plugin ${req.key} has no ${kind.slice(0, -1)} ${req.name}`);
  return [plugin, found];
}

function withContext(options) {
  const opts = { ...(options ?? {}) };
  const context = opts.actionContext;
  if (context) {
    context.getPreviousResult = (name) =>
      [...context.previousResults].reverse().find((r) => r.data?.actionName === name ||
        r.actionName === name);
  }
  return opts;
}

const OPS = {
  init: async (req) => { context = { agentId: req.agentId, character: req.character }; },
  load,
  action: async (req) => {
    const [plugin, action] = part(req, "actions");
    const runtime = makeRuntime(req.id, plugin.name);
    const callback = async (content, files) => {
      if (!cancelled.has(req.id)) await callPython(req.id, "callback", [content, files ?? null]);
      return [];
    };
    return action.handler(runtime, req.message, req.state, withContext(req.options), callback,
      req.responses ?? []);
  },
  validate: async (req) => {
    const [plugin, action] = part(req, "actions");
    return Boolean(await action.validate(makeRuntime(req.id, plugin.name), req.message, req.state));
  },
  evaluator: async (req) => {
    const [plugin, ev] = part(req, "evaluators");
    const runtime = makeRuntime(req.id, plugin.name);
    const callback = async (content) => { await callPython(req.id, "callback", [content, null]); return []; };
    return ev.handler(runtime, req.message, req.state, {}, callback, req.responses ?? []);
  },
  evaluator_validate: async (req) => {
    const [plugin, ev] = part(req, "evaluators");
    return Boolean(await ev.validate(makeRuntime(req.id, plugin.name), req.message, req.state));
  },
  provider: async (req) => {
    const [plugin, provider] = part(req, "providers");
    return provider.get(makeRuntime(req.id, plugin.name), req.message, req.state ?? emptyState());
  },
  model: async (req) => {
    const plugin = plugins.get(req.key);
    return plugin.models[req.name](makeRuntime(req.id, plugin.name), req.params);
  },
  plugin_init: async (req) => {
    const plugin = plugins.get(req.key);
    return plugin.init(req.config ?? {}, makeRuntime(req.id, plugin.name));
  },
  test: async (req) => {
    const plugin = plugins.get(req.key);
    const suite = plugin.tests[req.suite];
    await suite.tests[req.test].fn(makeRuntime(req.id, plugin.name));
  },
};

function emptyState() {
  return { values: {}, data: {}, text: "" };
}

async function handle(req) {
  try {
    const result = await OPS[req.op](req);
    if (!cancelled.delete(req.id)) send({ id: req.id, ok: true, result: result ?? null });
  } catch (error) {
    if (cancelled.delete(req.id)) return;
    const err = error instanceof Error ? error : new Error(String(error));
    send({ id: req.id, ok: false, error: {
      name: err.name, message: err.message, stack: err.stack ?? "", code: err.code ?? null,
    } });
  }
}

function receive(line) {
  if (!line) return;
  const msg = JSON.parse(line);
  if (msg.reply !== undefined) {
    const waiter = pending.get(msg.reply);
    pending.delete(msg.reply);
    if (waiter) msg.ok ? waiter.resolve(msg.result) : waiter.reject(pythonError(waiter.method, msg.error));
  } else if (msg.op === "parts") {
    listing = { actions: msg.actions, providers: msg.providers, evaluators: msg.evaluators };
    if (msg.id !== undefined) send({ id: msg.id, ok: true, result: null });
  } else if (msg.op === "unload") {
    plugins.delete(msg.key);
  } else if (msg.op === "cancel") {
    cancelled.add(msg.id);
  } else if (!OPS[msg.op]) {
    send({ id: msg.id, ok: false, error: { name: "Error", message: `unknown op ${msg.op}` } });
  } else {
    handle(msg);
  }
}

process.on("unhandledRejection", (reason) => {
  process.stderr.write(`[error] unhandled rejection: ${reason?.stack ?? reason}\n`);
});
readline.createInterface({ input: process.stdin }).on("line", receive).on("close", () => process.exit(0));
send({ ready: true, node: process.version });
