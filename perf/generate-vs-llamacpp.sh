#!/usr/bin/env bash
# Generation speed of `gptailor generate` vs llama-bench's tg (decode) and pp (prefill) on the SAME
# weights (the random SmolLM-135M-shaped model of ../shared/perf/vs-llamacpp.sh, F32 and BF16), the
# same threads, medians of RUNS alternating rounds; plus the machine's copy bandwidth and the
# fraction of it each tool's decode reaches (weights + KV bytes read per token × tokens/s).
#
#   LLAMA_SRC=DIR bash perf/generate-vs-llamacpp.sh     # from the repo root; DIR: the fetch tool's
#                                                       # mirror of github:ggerganov/llama.cpp
#   RUNS=5 THREADS=2 SHARED_PERF=../shared/perf bash perf/generate-vs-llamacpp.sh
#   THREADS=1 GO_BENCH=0 ...   # on a machine others load: ggml's 2 threads spin at every barrier and
#                              # collapse when a core is taken (tg32 0.6 tokens/s at load 10), 1 does not
#
# Setup (llama.cpp built locally, never committed; the model; its F32/BF16 GGUFs) is the shared
# script's, run with SETUP_ONLY=1. Nothing is written into the repo: results go to $PERF/gen-results.
set -euo pipefail

MAIN=${MAIN:-$(pwd)}
SHARED_PERF=${SHARED_PERF:-$MAIN/../shared/perf}
PERF=${PERF:-${TMPDIR:-/tmp}/gptailor-perf}
THREADS=${THREADS:-2}
RUNS=${RUNS:-3}
TG=${TG:-32}          # tokens decoded (llama-bench -n)
PP=${PP:-512}         # prompt tokens (llama-bench -p)
BATCH=${BATCH:-8}     # sequences of the batched decode
LOAD_MAX=${LOAD_MAX:-0.7}
LOAD_WAIT=${LOAD_WAIT:-300}
PY=${PY:-/usr/bin/python3}
export PERF GOMAXPROCS=$THREADS

say() { printf '== %s\n' "$*" >&2; }
mkdir -p "$PERF"
# One gptailor binary for the setup and the measurements (the shared script would build its own).
GPTAILOR=${GPTAILOR:-$MAIN/bin/gptailor}
if [ "${GPTAILOR_BUILD:-0}" = 1 ] || [ ! -x "$GPTAILOR" ]; then
  say "building gptailor into $PERF/gptailor-gen"
  (cd "$MAIN" && CGO_ENABLED=0 go build -o "$PERF/gptailor-gen" ./native/cmd/gptailor)
  GPTAILOR=$PERF/gptailor-gen
fi
export GPTAILOR
GPTAILOR_BUILD=0 SETUP_ONLY=1 BF16=1 bash "$SHARED_PERF/vs-llamacpp.sh"
BIN=$PERF/llama.cpp/build/bin
MODEL=$PERF/smol/base
MODEL16=$PERF/smol/base-bf16
# The GGUFs llama.cpp runs: by default written by gptailor's own export (`build --format gguf`) from
# the same safetensors; GGUF_FROM=mkgguf takes the shared script's gguf-py conversions instead.
if [ "${GGUF_FROM:-gptailor}" = mkgguf ]; then
  F32=$PERF/smol-f32.gguf
  BF=$PERF/smol-bf16.gguf
else
  F32=$PERF/smol-gpt-f32.gguf
  BF=$PERF/smol-gpt-bf16.gguf
fi
# The same weights as BF16 safetensors (gptailor build of the dense model, rounded as the BF16 GGUF).
L=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["num_hidden_layers"])' "$MODEL/config.json")
$PY - "$MODEL" "$L" >"$PERF/dense.json" <<'PYEOF'
import json, sys
m, n = sys.argv[1], int(sys.argv[2])
print(json.dumps({"models": {"base": m}, "slots": [{"take": ["base", i]} for i in range(n)]}))
PYEOF
if [ ! -f "$MODEL16/config.json" ]; then
  "$GPTAILOR" build "$PERF/dense.json" -o "$MODEL16" --dtype bf16 --force >/dev/null
fi
if [ "${GGUF_FROM:-gptailor}" != mkgguf ]; then
  for w in f32 bf16; do
    g=$PERF/smol-gpt-$w.gguf
    [ -f "$g" ] || "$GPTAILOR" build "$PERF/dense.json" -o "$g" --format gguf --type $w --force >/dev/null 2>&1
  done
fi
# Prompts: a PP-token prompt from the stories text (prefill), a short one (decode), BATCH short ones.
TXT=$PERF/stories-30k.txt
$PY - "$TXT" "$PERF" "$BATCH" <<'PYEOF'
import json, sys
txt, out, b = open(sys.argv[1]).read(), sys.argv[2], int(sys.argv[3])
open(out + "/gen-long.txt", "w").write(txt[:2600])     # ~600 tokens: cut to PP below by --max-tokens headroom
open(out + "/gen-short.txt", "w").write(txt[:60])
with open(out + "/gen-batch.jsonl", "w") as f:
    for i in range(b):
        f.write(json.dumps({"prompt": txt[i*97:i*97+60]}) + "\n")
PYEOF

OUTD=$PERF/gen-results/$(date -u +%Y%m%d-%H%M%S); mkdir -p "$OUTD"
waited=0
while awk -v m="$LOAD_MAX" '{exit !($1 >= m)}' /proc/loadavg && [ $waited -lt "$LOAD_WAIT" ]; do
  [ $waited = 0 ] && say "waiting for loadavg < $LOAD_MAX (now $(cut -d' ' -f1-3 /proc/loadavg))"
  sleep 10; waited=$((waited+10))
done
echo "start $(date -u +%FT%TZ) loadavg $(cat /proc/loadavg)" >"$OUTD/load.txt"
R() { local n=$1; shift; echo "$(date -u +%T) $(cut -d' ' -f1 /proc/loadavg) $n" >>"$OUTD/load.txt"; "$@" >"$OUTD/$n.out" 2>"$OUTD/$n.log" || say "FAILED $n"; }
# the longest prefix of the text that is at most PP tokens with BOS (bisection over gptailor tokenize)
PPTEXT=$($PY - "$PERF/gen-long.txt" "$GPTAILOR" "$MODEL" "$PP" <<'PYEOF'
import json, subprocess, sys
txt, g, m, pp = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3], int(sys.argv[4])
n = lambda k: len(json.loads(subprocess.run([g, "tokenize", "--tokenizer", m], input=json.dumps({"text": txt[:k]}),
                                            capture_output=True, text=True, check=True).stdout)) + 1
lo, hi = 1, len(txt)
while lo < hi:
    mid = (lo + hi + 1) // 2
    lo, hi = (mid, hi) if n(mid) <= pp else (lo, mid - 1)
sys.stdout.write(txt[:lo])
PYEOF
)
for r in $(seq 1 "$RUNS"); do
  say "round $r/$RUNS"
  for w in f32 bf16; do
    g=$F32; m=$MODEL; [ $w = bf16 ] && g=$BF && m=$MODEL16
    R "llama-tg-$w.$r" "$BIN/llama-bench" -m "$g" -t "$THREADS" -p 0 -n "$TG" -r 3 -o json
    R "llama-pp-$w.$r" "$BIN/llama-bench" -m "$g" -t "$THREADS" -p "$PP" -n 0 -r 3 -o json
    R "gpt-tg-$w.$r" "$GPTAILOR" generate --model "$m" --prompt "$(cat "$PERF/gen-short.txt")" --max-tokens "$TG" --ignore-eos --json
    # prefill: a prompt of PP tokens (BOS included), its first token generated from the prefill's logits
    R "gpt-pp-$w.$r" "$GPTAILOR" generate --model "$m" --prompt "$PPTEXT" --max-tokens 1 --json --ignore-eos
    R "gpt-b$BATCH-$w.$r" "$GPTAILOR" generate --model "$m" --prompts "$PERF/gen-batch.jsonl" --batch "$BATCH" --max-tokens "$TG" --ignore-eos --json
    if grep -q avx512_bf16 /proc/cpuinfo; then
      R "gpt-tg-$w-cbf16.$r" "$GPTAILOR" generate --model "$m" --prompt "$(cat "$PERF/gen-short.txt")" --max-tokens "$TG" --ignore-eos --json --compute bf16
    fi
  done
done
(cd "$MAIN" && go test ./native/engine -run xxx -bench 'CopyBandwidth' -benchtime 10x -count "$RUNS") >"$OUTD/copy.log" 2>&1 || true
if [ "${GO_BENCH:-1}" = 1 ]; then
  (cd "$MAIN" && go test ./native/engine -run xxx -bench 'DecodeSmolLM|PrefillSmolLM' -benchtime 3x -count "$RUNS") >"$OUTD/go-bench.log" 2>&1 || true
fi
echo "end $(date -u +%FT%TZ) loadavg $(cat /proc/loadavg)" >>"$OUTD/load.txt"

$PY - "$OUTD" "$MODEL/config.json" "$TG" "$PP" "$BATCH" <<'PYEOF' | tee "$OUTD/summary.md"
import glob, json, re, statistics as st, sys
d, cfgp, tg, pp, B = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
c = json.load(open(cfgp))
D, I, L, H, KV, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["num_attention_heads"], c["num_key_value_heads"], c["vocab_size"]
hd = c.get("head_dim", D // H)
params = L * (D * (H + 2 * KV) * hd + H * hd * D + 3 * D * I + 2 * D) + V * D + D
def med(xs): return st.median(xs) if xs else float("nan")
def llama(pat, key):
    v = []
    for f in glob.glob(f"{d}/{pat}.*.out"):
        try: v += [x["avg_ts"] for x in json.load(open(f)) if x[key] > 0]
        except Exception: pass
    return med(v)
def gpt(pat, field, total=False):
    v = []
    for f in glob.glob(f"{d}/{pat}.*.out"):
        rows = [json.loads(l) for l in open(f) if l.strip()]
        if rows: v.append(sum(r[field] for r in rows) if total else rows[0][field])
    return med(v)
copy = med([float(m) for m in re.findall(r"([0-9.]+) GB/s", open(f"{d}/copy.log").read())]) if glob.glob(f"{d}/copy.log") else float("nan")
kv_per_tok = lambda ctx, b: 2 * L * KV * hd * ctx * b          # bytes of keys+values read at context ctx
loads = [float(l.split()[1]) for l in open(f"{d}/load.txt") if l[:1].isdigit() and len(l.split()) == 3]
print(f"copy bandwidth (STREAM-style, read+write): {copy:.1f} GB/s; {params/1e6:.1f}M parameters; tg{tg}, pp{pp}, batch {B}")
print(f"1-min load average at the runs' starts: median {med(loads):.1f}, range {min(loads, default=float('nan')):.1f}-{max(loads, default=float('nan')):.1f} (2 cores)\n")
print("| weights | llama.cpp tg | gptailor decode | ratio | llama.cpp pp | gptailor prefill | ratio | gptailor batch-B decode | batch/1 |")
print("|---|---|---|---|---|---|---|---|---|")
for w, by in (("f32", 4), ("bf16", 2)):
    lt, lp = llama(f"llama-tg-{w}", "n_gen"), llama(f"llama-pp-{w}", "n_prompt")
    gt, gp = gpt(f"gpt-tg-{w}", "tokens_per_second"), gpt(f"gpt-pp-{w}", "prompt_tokens_per_second")
    gb = gpt(f"gpt-b{B}-{w}", "tokens_per_second", total=True)
    print(f"| {w} | {lt:.1f} | {gt:.1f} | {gt/lt:.2f} | {lp:.1f} | {gp:.1f} | {gp/lp:.2f} | {gb:.1f} | {gb/gt:.2f} |")
print("\nfraction of the copy bandwidth reached by decode (bytes read per token = weights + KV at ~tg/2 positions):")
for w, by in (("f32", 4), ("bf16", 2)):
    per = params * by + kv_per_tok(tg // 2 + 16, 4)
    for name, r in (("llama.cpp", llama(f"llama-tg-{w}", "n_gen")), ("gptailor", gpt(f"gpt-tg-{w}", "tokens_per_second"))):
        print(f"- {w} {name}: {per*r/1e9:.1f} GB/s = {per*r/1e9/copy:.0%} of {copy:.1f}")
for w in ("f32", "bf16"):
    cb = gpt(f"gpt-tg-{w}-cbf16", "tokens_per_second")
    if cb == cb: print(f"- gptailor --compute bf16 (VDPBF16PS, as llama.cpp's BF16 path on avx512_bf16) on the {w.upper()} weights: {cb:.1f} tokens/s")
PYEOF
echo "(logs: $OUTD)"
