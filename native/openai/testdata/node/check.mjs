// Drives gptailor's OpenAI-compatible API with the official OpenAI Node
// client: argv[2] is the base URL (http://HOST:PORT/v1), argv[3] the
// token, argv[4] a trial id. Prints one JSON object of what it saw.
import OpenAI from "openai";

const [baseURL, apiKey, trial] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const out = {};

out.models = (await client.models.list()).data.map((m) => ({ id: m.id, owned_by: m.owned_by }));

const c = await client.completions.create({ model: "base", prompt: "Once upon a time", max_tokens: 24, temperature: 0 });
out.completion = { text: c.choices[0].text, finish_reason: c.choices[0].finish_reason, usage: c.usage };

const e = await client.completions.create({ model: "code", prompt: "Once upon a time", max_tokens: 0, echo: true, logprobs: 3 });
out.echo = e.choices[0].logprobs;

let streamed = "";
let chunks = 0;
let lp = [];
let finish = null;
const stream = await client.chat.completions.create({
  model: "base",
  messages: [{ role: "user", content: "Tell me a story." }],
  max_tokens: 20,
  temperature: 0,
  stream: true,
  logprobs: true,
  top_logprobs: 2,
});
for await (const chunk of stream) {
  chunks++;
  const ch = chunk.choices[0];
  if (!ch) continue;
  streamed += ch.delta?.content ?? "";
  if (ch.logprobs?.content) lp = lp.concat(ch.logprobs.content);
  if (ch.finish_reason) finish = ch.finish_reason;
}
out.chat_stream = { text: streamed, chunks, logprobs: lp, finish_reason: finish };

const chat = await client.chat.completions.create({
  model: "base",
  messages: [{ role: "user", content: "Tell me a story." }],
  max_tokens: 20,
  temperature: 0,
});
out.chat = { text: chat.choices[0].message.content, role: chat.choices[0].message.role };

const t0 = performance.now();
const tc = await client.completions.create({ model: trial, prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
out.trial = { text: tc.choices[0].text, ms: performance.now() - t0 };

out.errors = [];
for (const [what, req] of [
  ["unknown model", { model: "nope", prompt: "x" }],
  ["n", { model: "base", prompt: "x", n: 2 }],
  ["logprobs", { model: "base", prompt: "x", logprobs: 99 }],
]) {
  try {
    await client.completions.create(req);
    out.errors.push({ what, status: 0 });
  } catch (err) {
    out.errors.push({ what, status: err.status, class: err.constructor.name, message: err.error?.message ?? err.message, param: err.param ?? null });
  }
}
const bad = new OpenAI({ baseURL, apiKey: "wrong", maxRetries: 0 });
try {
  await bad.models.list();
  out.errors.push({ what: "token", status: 0 });
} catch (err) {
  out.errors.push({ what: "token", status: err.status, class: err.constructor.name, message: err.error?.message ?? err.message, param: null });
}
console.log(JSON.stringify(out));
