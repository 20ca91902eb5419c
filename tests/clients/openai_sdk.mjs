// The official `openai` Node SDK against the proxy: one case per run, its results as one JSON
// line on stdout (tests/integration/test_node_client.py asserts on them).
//
//   node openai_sdk.mjs CASE    with OPENAI_NODE_DIR (where `make clients` installed the SDK),
//                               PROXY_BASE_URL (…/v1) and PROXY_TOKEN in the environment.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.OPENAI_NODE_DIR, "package.json"));
const OpenAI = require("openai");

const WEATHER = {
  name: "get_weather",
  description: "Current weather in a city",
  parameters: {
    type: "object",
    properties: { location: { type: "string" }, unit: { type: "string" } },
    required: ["location"],
  },
};

function client(apiKey = process.env.PROXY_TOKEN) {
  return new OpenAI({
    baseURL: process.env.PROXY_BASE_URL,
    apiKey,
    maxRetries: 0,
    timeout: 60_000,
  });
}

const cases = {
  async chat() {
    const completion = await client().chat.completions.create({
      model: "sonnet",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hello from node" },
      ],
    });
    const [choice] = completion.choices;
    return {
      object: completion.object,
      content: choice.message.content,
      role: choice.message.role,
      finish_reason: choice.finish_reason,
      usage: completion.usage,
    };
  },

  async chat_stream() {
    const stream = await client().chat.completions.create({
      model: "sonnet",
      messages: [{ role: "user", content: "stream from node" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas = [];
    const finishes = [];
    let usage = null;
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        if (choice.delta.content) deltas.push(choice.delta.content);
        if (choice.finish_reason) finishes.push(choice.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    return { deltas, finishes, usage };
  },

  async chat_tools() {
    const sdk = client();
    const tools = [{ type: "function", function: WEATHER }];
    const question = { role: "user", content: "SCN:fn_call:get_weather" };
    const first = await sdk.chat.completions.create({
      model: "sonnet",
      messages: [question],
      tools,
    });
    const message = first.choices[0].message;
    const results = message.tool_calls.map((call) => ({
      role: "tool",
      tool_call_id: call.id,
      content: "18C",
    }));
    const second = await sdk.chat.completions.create({
      model: "sonnet",
      messages: [question, message, ...results],
      tools,
    });
    return {
      first: {
        finish_reason: first.choices[0].finish_reason,
        content: message.content,
        calls: message.tool_calls.map((c) => ({
          id: c.id,
          type: c.type,
          name: c.function.name,
          arguments: JSON.parse(c.function.arguments),
        })),
      },
      second: {
        finish_reason: second.choices[0].finish_reason,
        content: second.choices[0].message.content,
      },
    };
  },

  async responses() {
    const response = await client().responses.create({
      model: "sonnet",
      instructions: "Be brief.",
      input: "responses from node",
    });
    return {
      object: response.object,
      status: response.status,
      output_text: response.output_text,
      output: response.output.map((item) => item.type),
      usage: response.usage,
    };
  },

  async responses_stream() {
    const sdk = client();
    const text = sdk.responses.stream({ model: "sonnet", input: "streamed responses from node" });
    const kinds = [];
    for await (const event of text) kinds.push(event.type);
    const final = await text.finalResponse();
    const tool = sdk.responses.stream({
      model: "sonnet",
      input: "SCN:fn_call:get_weather",
      tools: [{ type: "function", strict: false, ...WEATHER }],
    });
    const argumentDeltas = [];
    for await (const event of tool) {
      if (event.type === "response.function_call_arguments.delta") argumentDeltas.push(event.delta);
    }
    const called = await tool.finalResponse();
    const call = called.output.find((item) => item.type === "function_call");
    return {
      kinds,
      output_text: final.output_text,
      status: final.status,
      tool: {
        output: called.output.map((item) => item.type),
        name: call.name,
        arguments: JSON.parse(call.arguments),
        streamed_arguments: argumentDeltas.join(""),
      },
    };
  },

  async wrong_key() {
    try {
      await client("not-the-token").chat.completions.create({
        model: "sonnet",
        messages: [{ role: "user", content: "hi" }],
      });
      return { raised: null };
    } catch (error) {
      return {
        raised: error.constructor.name,
        authentication_error: error instanceof OpenAI.AuthenticationError,
        status: error.status,
        message: error.message,
      };
    }
  },
};

const name = process.argv[2];
if (!(name in cases)) {
  console.error(`unknown case ${name}; one of ${Object.keys(cases).join(", ")}`);
  process.exit(2);
}
console.log(JSON.stringify(await cases[name]()));
