// A small elizaOS 1.7 plugin for the tests of eliza_nb's Node bridge: plain ES modules, no
// build step and no dependencies. Each action exercises one part of the bridge.

const echo = {
  name: "TS_ECHO",
  similes: ["TS_REPEAT"],
  description: "Says the message back through the callback, then returns a 1.7 ActionResult",
  examples: [[
    { name: "{{user}}", content: { text: "echo hello" } },
    { name: "{{agent}}", content: { text: "hello", actions: ["TS_ECHO"] } },
  ]],
  validate: async (_runtime, message) => !message.content.text.includes("refuse"),
  handler: async (runtime, message, state, options, callback) => {
    await callback({ text: `echo: ${message.content.text}`, thought: "repeating" });
    return {
      success: true,
      text: `echoed ${message.content.text.length} characters`,
      values: { echoed: message.content.text, agent: runtime.agentId },
      data: { actionName: "TS_ECHO", options, hasState: state !== null },
    };
  },
};

const noop = {
  name: "TS_NOOP",
  description: "Does nothing: the round trip of the bridge",
  validate: async () => true,
  handler: async () => ({ success: true }),
};

const setting = {
  name: "TS_SETTING",
  description: "Reads a setting through getSetting and reports what the process env holds",
  handler: async (runtime, _message, _state, options) => {
    const key = options?.key ?? "TS_PLUGIN_KEY";
    const value = runtime.getSetting(key);
    return {
      success: true,
      text: `setting ${key} is ${value}`,
      values: { value, fromEnv: process.env[key] ?? null, envKeys: Object.keys(process.env) },
    };
  },
};

const ask = {
  name: "TS_ASK",
  description: "Asks the Python-side model and replies with its answer",
  handler: async (runtime, message, _state, _options, callback) => {
    const answer = await runtime.useModel("TEXT_SMALL", { prompt: `Answer: ${message.content.text}` });
    await callback({ text: answer });
    return { success: true, text: answer };
  },
};

const remember = {
  name: "TS_REMEMBER",
  description: "Stores a memory, reads the room back and composes the state",
  handler: async (runtime, message) => {
    await runtime.createMemory({
      entityId: runtime.agentId, agentId: runtime.agentId, roomId: message.roomId,
      content: { text: `noted: ${message.content.text}` },
    }, "messages");
    const memories = await runtime.getMemories({ tableName: "messages", roomId: message.roomId, count: 10 });
    const state = await runtime.composeState(message, ["TS_FACT"], true);
    return { success: true, values: { texts: memories.map((m) => m.content.text), state: state.text } };
  },
};

const fail = {
  name: "TS_FAIL",
  description: "Throws an error",
  handler: async () => { throw new TypeError("the TS handler broke"); },
};

const hang = {
  name: "TS_HANG",
  description: "Never resolves",
  handler: () => new Promise(() => {}),
};

const crash = {
  name: "TS_CRASH",
  description: "Kills the Node process mid-call",
  handler: async () => { setTimeout(() => process.exit(3), 5); return new Promise(() => {}); },
};

const unsupported = {
  name: "TS_UNSUPPORTED",
  description: "Calls a runtime method the bridge does not provide",
  handler: async (runtime) => { await runtime.getTasks({}); return { success: true }; },
};

const fact = {
  name: "TS_FACT",
  description: "A fact about the room",
  dynamic: true,
  position: 5,
  get: async (runtime, message) => ({
    text: `Room ${message.roomId} belongs to ${runtime.character.name}.`,
    values: { room: message.roomId },
    data: { checked: true },
  }),
};

const brokenProvider = {
  name: "TS_BROKEN",
  description: "A provider that throws",
  private: true,
  get: async () => { throw new Error("provider exploded"); },
};

const counter = {
  name: "TS_COUNTER",
  description: "Counts the messages it saw",
  alwaysRun: true,
  validate: async () => true,
  handler: async (runtime, message) => {
    await runtime.emitEvent("TS_COUNTED", { roomId: message.roomId });
  },
};

export const testPlugin = {
  name: "ts-test",
  description: "eliza_nb's test plugin for the Node bridge",
  actions: [echo, noop, setting, ask, remember, fail, hang, crash, unsupported],
  providers: [fact, brokenProvider],
  evaluators: [counter],
  models: {
    TEXT_EMBEDDING: async (_runtime, params) => [params.text.length, 1, 0],
  },
  tests: [{
    name: "ts-basics",
    tests: [
      { name: "agent id is set", fn: async (runtime) => { if (!runtime.agentId) throw new Error("no agentId"); } },
      { name: "fails on purpose", fn: async () => { throw new Error("expected failure"); } },
    ],
  }],
};

export default testPlugin;
