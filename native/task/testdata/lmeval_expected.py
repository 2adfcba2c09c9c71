#!/usr/bin/python3
"""Writes lmeval_expected.json: lm-eval's filters and exact_match applied to
the cases below, by lm-eval's own logic transcribed from
EleutherAI/lm-evaluation-harness (commit 4e7e0d47):

  lm_eval/filters/extraction.py      RegexFilter.apply, WhitespaceFilter.apply
  lm_eval/filters/selection.py       TakeFirstFilter.apply
  lm_eval/filters/transformation.py  LowercaseFilter.apply, UppercaseFilter.apply
  lm_eval/api/metrics.py             exact_match_hf_evaluate
  lm_eval/api/task.py                process_results (generate_until, several targets)

Each filter works on one sample's list of responses (one greedy response
here), as in lm-eval. exact_match_hf_evaluate is transcribed without numpy:
np.char.lower and np.char.translate apply str.lower and str.translate to
each element, and == compares elementwise.

Run with Debian's python3:
    /usr/bin/python3 native/task/testdata/lmeval_expected.py
"""
import json
import os
import re
import string

HERE = os.path.dirname(os.path.abspath(__file__))


# --- lm_eval/filters/extraction.py: RegexFilter ---
def regex_filter(resps, regex_pattern=r"#### (\-?[0-9\.\,]+)", group_select=0, fallback="[invalid]"):
    regex = re.compile(regex_pattern)

    def filter_set(inst):
        filtered = []
        for resp in inst:
            if not isinstance(resp, str):
                resp = ""
            match = regex.findall(resp)
            if match:
                match = match[group_select]
                if isinstance(match, tuple):
                    match = [m for m in match if m]
                    if match:
                        match = match[0]
                    else:
                        match = fallback
                match = match.strip()
            else:
                match = fallback
            filtered.append(match)
        return filtered

    return [filter_set(x) for x in resps]


# --- WhitespaceFilter (remove_whitespace), TakeFirstFilter, Lowercase, Uppercase ---
def strip_filter(resps):
    return [[resp.strip() for resp in inst] for inst in resps]


def take_first(resps):
    return list(map(lambda r: r[0], resps))


def lowercase(resps):
    return [[resp.lower() for resp in inst] for inst in resps]


def uppercase(resps):
    return [[resp.upper() for resp in inst] for inst in resps]


FILTERS = {"regex": regex_filter, "strip": strip_filter, "remove_whitespace": strip_filter,
           "take_first": take_first, "lowercase": lowercase, "uppercase": uppercase}


# --- lm_eval/api/metrics.py: exact_match_hf_evaluate (numpy-free) ---
def exact_match_hf_evaluate(predictions, references, regexes_to_ignore=None, ignore_case=False,
                            ignore_punctuation=False, ignore_numbers=False):
    if regexes_to_ignore is not None:
        for s in regexes_to_ignore:
            predictions = [re.sub(s, "", x) for x in predictions]
            references = [re.sub(s, "", x) for x in references]
    if ignore_case:
        predictions = [x.lower() for x in predictions]
        references = [x.lower() for x in references]
    if ignore_punctuation:
        repl_table = string.punctuation.maketrans("", "", string.punctuation)
        predictions = [x.translate(repl_table) for x in predictions]
        references = [x.translate(repl_table) for x in references]
    if ignore_numbers:
        repl_table = string.digits.maketrans("", "", string.digits)
        predictions = [x.translate(repl_table) for x in predictions]
        references = [x.translate(repl_table) for x in references]
    score_list = [p == r for p, r in zip(predictions, references)]
    return {"exact_match": sum(score_list) / len(score_list)}


# --- lm_eval/api/task.py: process_results for generate_until, multiple targets ---
def score(result, gold, options):
    result = [result for _ in range(len(gold))]
    scores = exact_match_hf_evaluate(references=gold, predictions=result, **options)["exact_match"]
    return 1.0 if scores > 0.0 else 0.0


GSM_STRICT = [{"function": "regex", "regex_pattern": "#### (\\-?[0-9\\.\\,]+)"}, {"function": "take_first"}]
GSM_FLEX = [{"function": "regex", "group_select": -1, "regex_pattern": "(-?[$0-9.,]{2,})|(-?[0-9]+)"},
            {"function": "take_first"}]
GSM_MATCH = {"ignore_case": True, "ignore_punctuation": False,
             "regexes_to_ignore": [",", "\\$", "(?s).*#### ", "\\.$"]}
GSM_TARGET = ["Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"]

CASES = [
    # GSM8K strict and flexible, as lm-eval's gsm8k.yaml
    (GSM_STRICT, GSM_MATCH, "She sold 24 in May, so 48 + 24 = 72.\n#### 72", GSM_TARGET),
    (GSM_FLEX, GSM_MATCH, "She sold 24 in May, so 48 + 24 = 72.\n#### 72", GSM_TARGET),
    (GSM_STRICT, GSM_MATCH, "48 + 24 = 72 clips.", GSM_TARGET),
    (GSM_FLEX, GSM_MATCH, "48 + 24 = 72 clips.", GSM_TARGET),
    (GSM_FLEX, GSM_MATCH, "The answer is $1,272.00.", ["#### 1272"]),
    (GSM_STRICT, GSM_MATCH, "#### -3.5, then #### 7", ["#### -3.5"]),
    (GSM_FLEX, GSM_MATCH, "no numbers here", GSM_TARGET),
    (GSM_FLEX, GSM_MATCH, "It was 7", ["#### 7"]),
    (GSM_STRICT, GSM_MATCH, "#### 72.", GSM_TARGET),
    # regex: no group, one group, several groups, negative and positive group_select, fallback
    ([{"function": "regex", "regex_pattern": "[A-D]"}], {}, "I think B, not C", ["B"]),
    ([{"function": "regex", "regex_pattern": "[A-D]", "group_select": 1}], {}, "I think B, not C", ["C"]),
    ([{"function": "regex", "regex_pattern": "answer is (\\w+)"}], {}, "The answer is   Paris ", ["Paris"]),
    ([{"function": "regex", "regex_pattern": "(x)|(y)|(z)", "group_select": -1}], {}, "a y b z", ["z"]),
    ([{"function": "regex", "regex_pattern": "(a)(b)?"}], {}, "ab a", ["a"]),
    ([{"function": "regex", "regex_pattern": "\\((.*?)\\)", "fallback": "none"}], {}, "no parentheses", ["none"]),
    ([{"function": "regex", "regex_pattern": "=\\s*(.*)"}], {}, "x = \t 42 \n", ["42"]),
    ([{"function": "regex", "regex_pattern": "(\\d+)", "group_select": -2}], {}, "1 22 333", ["22"]),
    # strip, lowercase, uppercase, take_first
    ([{"function": "strip"}], {}, "  Lily \n", ["Lily"]),
    ([{"function": "remove_whitespace"}, {"function": "lowercase"}], {}, "\tTHE Dog ", ["the dog"]),
    ([{"function": "uppercase"}, {"function": "take_first"}], {}, "Ça va", ["ÇA VA"]),
    ([{"function": "lowercase"}], {}, "Ünïcödé ΣΑΣ", ["ünïcödé σασ"]),
    ([], {}, " Lily", ["Lily"]),
    # exact_match options
    ([], {"ignore_case": True}, "PARIS", ["paris", "Lyon"]),
    ([], {"ignore_case": False}, "PARIS", ["paris", "Lyon"]),
    ([], {"ignore_punctuation": True}, "it's 3:00, ok?!", ["its 300 ok"]),
    ([], {"ignore_punctuation": True}, "«Bonjour» — dit-il", ["«Bonjour» — ditil"]),
    ([], {"ignore_numbers": True}, "room 101", ["room "]),
    ([], {"regexes_to_ignore": ["\\bthe\\b", " +$"]}, "the cat  ", ["cat", "dog"]),
    ([], {"regexes_to_ignore": ["^\\s+", "\\s+$"], "ignore_case": True, "ignore_punctuation": True},
     "  Once upon a time. ", ["once upon a time"]),
    ([], {}, "Lily", ["Lily", "Lily"]),
    ([], {}, "Lily.", ["Lily"]),
]


def main():
    out = []
    for steps, options, response, targets in CASES:
        resps = [[response]]
        for st in steps:
            kwargs = {k: v for k, v in st.items() if k != "function"}
            resps = FILTERS[st["function"]](resps, **kwargs)
        answer = resps[0]
        if isinstance(answer, list):  # no take_first: one response per sample
            answer = answer[0]
        out.append({"filter": steps, "exact_match": options, "response": response, "targets": targets,
                    "answer": answer, "score": score(answer, targets, options)})
    with open(os.path.join(HERE, "lmeval_expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
