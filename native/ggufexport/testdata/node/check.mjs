// Loads GGUF files with llama.cpp (node-llama-cpp's prebuilt binaries) and
// reports what llama.cpp computes: token ids of texts (special tokens
// parsed) and, for token sequences, the log-probability of candidate next
// tokens at every position. Input: a JSON file [{path, texts, seqs, cands}]
// (cands[s][t] lists token ids after position t of seqs[s]); output on
// stdout: [{ids, logp}] (logp[s][t][k] for cands[s][t][k]). The Go test in
// native/ggufexport compares these with gptailor's own values.
import {readFileSync} from "node:fs";
import {getLlama} from "node-llama-cpp";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const out = [];
for (const c of cases) {
    let model;
    try {
        model = await llama.loadModel({modelPath: c.path});
    } catch (e) {
        throw new Error(`llama.cpp cannot load ${c.path}: ${e.message}`);
    }
    const ids = c.texts.map((t) => Array.from(model.tokenize(t, true)));
    const logp = [];
    for (let s = 0; s < c.seqs.length; s++) {
        const seq = c.seqs[s];
        const size = Math.max(32, seq.length + 8);
        // The KV cache in F32 (llama.cpp defaults to F16, which rounds keys and
        // values; gptailor keeps them in float32) and no flash attention.
        const ctx = await model.createContext({contextSize: size, batchSize: size, threads: 2,
            flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32"});
        const sq = ctx.getSequence();
        const opts = {temperature: 1, topK: 0, topP: 1, minP: 0};
        const res = await sq.controlledEvaluate(seq.map((t) => [t, {generateNext: {probabilities: true, options: opts}}]));
        logp.push(res.map((r, t) => c.cands[s][t].map((id) => Math.log(r.next.probabilities.get(id) ?? 0))));
        await ctx.dispose();
    }
    out.push({ids, logp});
    await model.dispose();
}
process.stdout.write(JSON.stringify(out));
