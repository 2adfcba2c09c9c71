// Greedy continuations in llama.cpp (node-llama-cpp's prebuilt binaries):
// input a JSON file [{path, prompts, n}] (prompts: token id lists, BOS
// included), output on stdout [[ids...] per prompt] per file: the n
// tokens llama.cpp's greedy sampler (temperature 0) picks after each
// prompt, end-of-sequence tokens included. The Go test in
// native/ggufexport compares them with gptailor's generate on the same
// weights.
import {readFileSync} from "node:fs";
import {getLlama} from "node-llama-cpp";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const out = [];
for (const c of cases) {
    const model = await llama.loadModel({modelPath: c.path});
    const conts = [];
    const size = Math.max(...c.prompts.map((p) => p.length)) + c.n + 8;
    // F32 KV cache and no flash attention, as gptailor computes; one
    // context per file, its sequence cleared between prompts.
    const ctx = await model.createContext({contextSize: size, batchSize: size, threads: 2,
        flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32"});
    const sq = ctx.getSequence();
    for (const prompt of c.prompts) {
        await sq.clearHistory();
        const ids = [];
        for await (const t of sq.evaluate(prompt, {temperature: 0, yieldEogToken: true})) {
            ids.push(t);
            if (ids.length >= c.n) break;
        }
        conts.push(ids);
    }
    await ctx.dispose();
    out.push(conts);
    await model.dispose();
}
process.stdout.write(JSON.stringify(out));
