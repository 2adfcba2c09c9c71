#!/usr/bin/python3
"""Writes expected.json: every template x conversation (and every snippet),
rendered as Hugging Face transformers' apply_chat_template renders a chat
template (src/transformers/utils/chat_template_utils.py, _compile_jinja_template
and render_jinja_template): an ImmutableSandboxedEnvironment with trim_blocks,
lstrip_blocks and the loopcontrols extension; a tojson filter that is
json.dumps(ensure_ascii=False, indent, separators, sort_keys); raise_exception
raising TemplateError; strftime_now formatting "now" (fixed here so that the
output is reproducible); tools and documents passed as None when absent; the
special tokens passed as variables.

Run with Debian's python3 and python3-jinja2:
    /usr/bin/python3 native/chattemplate/testdata/render_expected.py
It rewrites native/chattemplate/testdata/expected.json (CI checks it is current).
"""
import datetime
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
# The moment strftime_now sees (the Go test passes the same one).
NOW = datetime.datetime(2026, 3, 7, 14, 5, 9)
BOS, EOS = "<s>", "</s>"


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return NOW.strftime(format)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, source, conversation, add_generation_prompt):
    """One case's expectation: the text, the raised message, or the error type."""
    if isinstance(conversation, list):
        messages, extra = conversation, {}
    else:
        extra = dict(conversation)
        messages = extra.pop("messages")
    kwargs = {"bos_token": BOS, "eos_token": EOS}
    kwargs.update(extra)
    tools = kwargs.pop("tools", None)
    documents = kwargs.pop("documents", None)
    try:
        text = env.from_string(source).render(
            messages=messages, tools=tools, documents=documents,
            add_generation_prompt=add_generation_prompt, **kwargs)
    except jinja2.exceptions.TemplateError as e:
        if type(e) is jinja2.exceptions.TemplateError:
            return {"raise": e.message}
        return {"error": type(e).__name__ + ": " + str(e)}
    except Exception as e:
        return {"error": type(e).__name__ + ": " + str(e)}
    return {"output": text}


def main():
    env = environment()
    cases = []
    tdir = os.path.join(HERE, "templates")
    cdir = os.path.join(HERE, "conversations")
    conversations = sorted(f for f in os.listdir(cdir) if f.endswith(".json"))
    for t in sorted(f for f in os.listdir(tdir) if f.endswith(".jinja")):
        with open(os.path.join(tdir, t), encoding="utf-8") as f:
            source = f.read()
        for c in conversations:
            with open(os.path.join(cdir, c), encoding="utf-8") as f:
                conversation = json.load(f)
            for agp in (True, False):
                case = {"template": "templates/" + t, "conversation": "conversations/" + c,
                        "add_generation_prompt": agp}
                case.update(render(env, source, conversation, agp))
                cases.append(case)
    with open(os.path.join(HERE, "snippets.json"), encoding="utf-8") as f:
        snippets = json.load(f)
    with open(os.path.join(cdir, "system_turns.json"), encoding="utf-8") as f:
        conversation = json.load(f)
    for s in snippets:
        case = {"snippet": s["name"], "conversation": "conversations/system_turns.json",
                "add_generation_prompt": True}
        case.update(render(env, s["source"], conversation, True))
        cases.append(case)
    out = {
        "generator": "render_expected.py, Python %s, Jinja2 %s" % (sys.version.split()[0], jinja2.__version__),
        "now": NOW.isoformat(),
        "bos_token": BOS,
        "eos_token": EOS,
        "cases": cases,
    }
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
