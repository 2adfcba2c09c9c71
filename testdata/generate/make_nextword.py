#!/usr/bin/python3
"""Writes nextword.jsonl, the demo family's generative task: the next word
of held-out text (../heldout/*.jsonl), 40 items per domain, in document
order, so that each stories260K model finds some — mostly those of its own
domain.

- stories, docs, math (prose): the text of a document up to every third
  space in its first 600 characters, when the word after that space is one
  of the domain's 30 most frequent words; the target is that word.
- code: the last 9 lines of a document up to every line break in its first
  3,000 characters that is followed by an indented line; the target is the
  first word of that line (the model writes the indentation itself).

Words are [A-Za-z0-9_]+. Run with Debian's python3:
    /usr/bin/python3 testdata/generate/make_nextword.py
"""
import collections
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
WORD = re.compile(r"[A-Za-z0-9_]+")
LEADING_WORD = re.compile(r"^\s*([A-Za-z0-9_]+)")
PER_DOMAIN = 40


def docs(domain):
    with open(os.path.join(HERE, "..", "heldout", domain + ".jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def prose_items(domain):
    texts = docs(domain)
    freq = collections.Counter(w for t in texts for w in WORD.findall(t))
    top = {w for w, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:30]}
    items = []
    for t in texts:
        spaces = 0
        for i, c in enumerate(t):
            if c != " " or i <= 20 or i >= 600:
                continue
            spaces += 1
            if spaces % 3:
                continue
            m = LEADING_WORD.match(t[i:])
            if m and m.group(1) in top:
                items.append({"prompt": t[:i], "target": m.group(1)})
                if len(items) == PER_DOMAIN:
                    return items
    return items


def code_items():
    items = []
    for t in docs("code"):
        for i, c in enumerate(t):
            if c != "\n" or i <= 20 or i >= 3000:
                continue
            j = i + 1
            while j < len(t) and t[j] == "\t":
                j += 1
            m = LEADING_WORD.match(t[j:])
            if j == i + 1 or not m:
                continue
            lines = t[: i + 1].splitlines(keepends=True)
            items.append({"prompt": "".join(lines[-9:]), "target": m.group(1)})
            if len(items) == PER_DOMAIN:
                return items
    return items


def main():
    with open(os.path.join(HERE, "nextword.jsonl"), "w", encoding="utf-8") as f:
        for domain in ("stories", "code", "docs", "math"):
            items = code_items() if domain == "code" else prose_items(domain)
            for it in items:
                f.write(json.dumps(it, ensure_ascii=False) + "\n")
            print(domain, len(items))


if __name__ == "__main__":
    main()
