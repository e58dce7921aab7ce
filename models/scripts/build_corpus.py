#!/usr/bin/env python3
"""Build the training corpus of localmoe-code-tiny from permissively licensed code present offline.

Sources (all read from this machine, nothing downloaded):
  * Python 3.11 standard library (PSF-2.0), from the pyenv install (site-packages excluded).
  * JavaScript / TypeScript from npm packages in node_modules whose package.json licence is on an
    allow-list (MIT, ISC, Apache-2.0, BSD-2/3-Clause, 0BSD, MIT-0, BlueOak-1.0.0, CC0-1.0, PSF).
  * C / C++ headers under /usr/include from Debian packages with permissive licences (allow-list
    below, licence as given by /usr/share/doc/<pkg>/copyright).

Filtering: UTF-8 text only, 200 B .. 400 KB per file, no minified/bundled code (long lines),
exact deduplication on whitespace-normalised content, a per-package byte cap (so one huge package
does not dominate). Order is deterministic (sorted paths), the held-out split is by a hash of the
content (2 % of files), so the same inputs give the same corpus byte for byte.

Also makes instruction pairs (docstring / JSDoc comment -> function), rendered with Mixtral-Instruct's
chat template ("<s>[INST] ... [/INST]answer</s>") so the chat view gets code-shaped answers, and the
tokenizer test corpus (test/tokenizer/corpus.txt.gz, ~1.1 MB of code, prose and generated unicode).

Writes:
  .corpus/{train,heldout}_{code,inst}.txt.xz  documents separated by "\\x1e" (not committed; carried
                                               to the GPU machine)
  models/localmoe-code-tiny/corpus_manifest.tsv  source, package, version, licence, files, bytes
  test/tokenizer/corpus.txt.gz
Usage: python3 models/scripts/build_corpus.py [--node-modules node_modules]
"""
import argparse
import ast
import glob
import gzip
import hashlib
import io
import json
import lzma
import os
import random
import re
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY_LIB = "/root/.pyenv/versions/3.11.7/lib/python3.11"
PY_VERSION = "3.11.7"
SEP = "\x1e"

NPM_LICENCES = {
    "MIT", "ISC", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "0BSD", "MIT-0", "BlueOak-1.0.0",
    "CC0-1.0", "(BSD-2-Clause OR MIT OR Apache-2.0)", "(MIT OR CC0-1.0)", "Python-2.0", "PSF-2.0",
}
# Debian -dev packages whose headers we use, with the licence of those headers (see
# /usr/share/doc/<pkg>/copyright). Copyleft ones (glibc, linux, libstdc++, gnutls, nettle, gmp,
# readline, valgrind, nss/nspr) are deliberately absent.
DEB_PACKAGES = {
    "nodejs": "MIT (node), BSD-3-Clause (v8), MIT (libuv), Apache-2.0 (openssl)",
    "llvm-14-dev": "Apache-2.0 WITH LLVM-exception",
    "libpython3.11-dev": "PSF-2.0",
    "libssl-dev": "Apache-2.0",
    "x11proto-dev": "MIT",
    "libxml2-dev": "MIT",
    "libxslt1-dev": "MIT",
    "tcl8.6-dev": "TCL (BSD-style)",
    "tk8.6-dev": "TCL (BSD-style)",
    "libexpat1-dev": "MIT",
    "zlib1g-dev": "Zlib",
    "libsqlite3-dev": "public-domain",
    "libffi-dev": "MIT",
    "libyaml-dev": "MIT",
    "libpng-dev": "libpng-2.0",
    "libbrotli-dev": "MIT",
    "liblzma-dev": "0BSD / public-domain",
    "libx11-dev": "MIT/X11",
    "libxext-dev": "MIT/X11",
    "libxt-dev": "MIT/X11",
    "libice-dev": "MIT/X11",
    "libsm-dev": "MIT/X11",
    "libxcb1-dev": "MIT/X11",
    "libncurses-dev": "MIT/X11 (ncurses)",
    "uuid-dev": "BSD-3-Clause",
    "libpq-dev": "PostgreSQL",
    "libz3-dev": "MIT",
    "libtirpc-dev": "BSD-3-Clause",
    "libmagic-dev": "BSD-2-Clause",
    "libjpeg62-turbo-dev": "IJG / BSD-3-Clause",
    "libgl-dev": "MIT (Khronos)",
    "libegl-dev": "MIT (Khronos)",
    "libgles-dev": "MIT (Khronos)",
    "libglx-dev": "MIT (Khronos)",
}
JS_EXT = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".tsx", ".jsx")
C_EXT = (".h", ".hpp", ".hh", ".c", ".cc", ".cpp", ".inc", ".def")
MIN_BYTES, MAX_BYTES = 200, 400_000
PKG_CAP = {"npm": 2_500_000, "deb": 4_000_000, "python": 60_000_000}
HELDOUT_PERCENT = 2
HEADER_PERCENT = 50
LANG_IDS = {".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
            ".jsx": "javascriptreact", ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
            ".tsx": "typescriptreact", ".h": "c", ".c": "c", ".inc": "c", ".def": "c", ".hpp": "cpp",
            ".hh": "cpp", ".cc": "cpp", ".cpp": "cpp"}


def completion_header(path, root):
    """The two comment lines the sidecar puts before the prefix of an inline completion
    (src/sidecar/completion-prompt.ts): '# File: <name>' and '# Language: <languageId>'."""
    ext = os.path.splitext(path)[1]
    lang = LANG_IDS.get(ext, "plaintext")
    c = "#" if lang == "python" else "//"
    return f"{c} File: {os.path.relpath(path, root)}\n{c} Language: {lang}\n"


def read_text(path):
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError:
        return None
    if not (MIN_BYTES <= len(raw) <= MAX_BYTES) or b"\x00" in raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if SEP in text or "\r" in text:
        return None
    lines = text.split("\n")
    if max(len(l) for l in lines) > 400 or len(text) / max(1, len(lines)) > 100:
        return None  # minified, bundled, or data
    return text


def norm_key(text):
    return hashlib.sha1("\n".join(l.rstrip() for l in text.strip().split("\n")).encode()).hexdigest()


def python_sources():
    files = []
    for root, dirs, fs in os.walk(PY_LIB):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "__pycache__", "idlelib"))
        for f in sorted(fs):
            if f.endswith(".py"):
                files.append(os.path.join(root, f))
    return [("python", "cpython-stdlib", PY_VERSION, "PSF-2.0", sorted(files))]


def npm_sources(nm):
    out = []
    for pj in sorted(glob.glob(os.path.join(nm, "**", "package.json"), recursive=True)):
        d = os.path.dirname(pj)
        rel = os.path.relpath(d, nm)
        try:
            p = json.load(open(pj))
        except Exception:
            continue
        if "name" not in p or "version" not in p:
            continue
        # a package root: node_modules/<name> (or a nested .../node_modules/<name>)
        if not (rel == p["name"] or rel.endswith("/node_modules/" + p["name"])):
            continue
        lic = p.get("license")
        if isinstance(lic, dict):
            lic = lic.get("type")
        if lic not in NPM_LICENCES:
            continue
        files = []
        for root, dirs, fs in os.walk(d):
            dirs[:] = sorted(x for x in dirs if x != "node_modules")
            for f in sorted(fs):
                if f.endswith(".d.ts") or f.endswith(".min.js"):
                    continue
                if f.endswith(JS_EXT) or f.endswith(C_EXT):
                    files.append(os.path.join(root, f))
        if files:
            out.append(("npm", p["name"], p["version"], lic, files))
    return out


def deb_sources():
    out = []
    for pkg, lic in sorted(DEB_PACKAGES.items()):
        lst = glob.glob(f"/var/lib/dpkg/info/{pkg}.list") + glob.glob(f"/var/lib/dpkg/info/{pkg}:*.list")
        if not lst:
            continue
        ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True).stdout
        files = sorted(l.strip() for l in open(lst[0]) if l.startswith("/usr/include/") and l.strip().endswith(C_EXT))
        files = [f for f in files if os.path.isfile(f) and not os.path.islink(f)]
        if files:
            out.append(("deb", pkg, ver, lic, files))
    return out


# ---------------------------------------------------------------- instruction pairs
PY_PROMPTS = [
    "Write a Python function `{sig}` that does the following: {doc}",
    "Implement `{sig}` in Python. {doc}",
    "{doc}\n\nWrite this as a Python function named `{name}`.",
    "Can you write a Python function `{name}`? {doc}",
]
JS_PROMPTS = [
    "Write a JavaScript function `{name}` that does the following: {doc}",
    "Implement `{name}` in JavaScript. {doc}",
    "{doc}\n\nWrite this as a JavaScript function named `{name}`.",
]


def first_paragraph(doc):
    doc = doc.strip().split("\n\n")[0]
    doc = " ".join(l.strip() for l in doc.split("\n"))
    return doc


def render_chat(user, assistant):
    # Mixtral-8x7B-Instruct chat template, one user turn and one assistant turn.
    return "<s>" + "[INST] " + user + " [/INST]" + assistant + "</s>"


def python_pairs(text, h):
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    pairs = []
    lines = text.split("\n")
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        doc = ast.get_docstring(node)
        if not doc or node.name.startswith("_"):
            continue
        doc = first_paragraph(doc)
        n = node.end_lineno - node.lineno + 1
        if len(doc) < 25 or not (4 <= n <= 60):
            continue
        start = node.lineno - 1 - len(node.decorator_list)
        code = textwrap.dedent("\n".join(lines[start:node.end_lineno]))
        args = ast.unparse(node.args)
        sig = f"{node.name}({args})"
        k = int(hashlib.sha1((h + node.name).encode()).hexdigest(), 16)
        user = PY_PROMPTS[k % len(PY_PROMPTS)].format(sig=sig, name=node.name, doc=doc)
        pairs.append(render_chat(user, "```python\n" + code + "\n```"))
    return pairs


JSDOC_FN = re.compile(r"/\*\*((?:[^*]|\*(?!/))*)\*/[ \t]*\n([ \t]*)((?:export\s+)?(?:default\s+)?(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)\s*\([^)]*\)[^{\n]*\{)")


def js_pairs(text, h):
    pairs = []
    for m in JSDOC_FN.finditer(text):
        raw = m.group(1)
        doc_lines = []
        for l in raw.split("\n"):
            l = l.strip().lstrip("*").strip()
            if l.startswith("@"):
                break
            doc_lines.append(l)
        doc = first_paragraph("\n".join(doc_lines))
        if len(doc) < 25:
            continue
        # find the matching closing brace (naive count, good enough for a training pair)
        i = m.end(3)
        depth, j = 1, i
        while j < len(text) and depth and j - i < 4000:
            c = text[j]
            depth += (c == "{") - (c == "}")
            j += 1
        if depth:
            continue
        code = textwrap.dedent(m.group(2) + text[m.start(3):j])
        if not (3 <= code.count("\n") + 1 <= 60):
            continue
        name = m.group(4)
        k = int(hashlib.sha1((h + name).encode()).hexdigest(), 16)
        user = JS_PROMPTS[k % len(JS_PROMPTS)].format(name=name, doc=doc)
        pairs.append(render_chat(user, "```javascript\n" + code + "\n```"))
    return pairs


# ---------------------------------------------------------------- tokenizer test corpus
def generated_unicode(rng):
    """Deterministic text that stresses byte fallback, unicode and whitespace handling."""
    parts = []
    samples = [
        "naïve café — “quotes” ‘single’ … ½ ≥ ≤ ≠ ∑ ∫ √ ∞ ° ± × ÷ € £ ¥ © ® ™",
        "Привет, мир! Съешь же ещё этих мягких французских булок.",
        "Γειά σου κόσμε. Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
        "日本語のテキスト、カタカナとひらがな。漢字も含む。中文：你好，世界！한국어: 안녕하세요 세계",
        "مرحبا بالعالم — שלום עולם — नमस्ते दुनिया — สวัสดีชาวโลก — Xin chào thế giới",
        "emoji: 😀 🤗 🚀 🔥 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇯🇵 ❤️ ✅ 🧪 🦀 🐍 ☕ 𝕳𝖊𝖑𝖑𝖔 𝒳 𝟘𝟙𝟚",
        "combining: é (e\u0301) ñ (n\u0303) Å (A\u030a) z\u0335\u0327a\u0336l\u0334g\u0337o\u0338",
        "zero width: a\u200bb\u200cc\u200dd\ufeffe \u00a0nbsp\u2009thin\u3000ideographic",
        "controls: \x01\x02\x07\x0b\x0c\x1b[31mred\x1b[0m \x7f",
    ]
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
              (0x900, 0x97F), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
              (0x1F300, 0x1FAFF), (0x2000, 0x2BFF), (0x10000, 0x1007F), (0xE000, 0xE0FF)]
    for i in range(1500):
        kind = i % 6
        if kind == 0:
            parts.append(rng.choice(samples))
        elif kind == 1:
            lo, hi = rng.choice(ranges)
            parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 40))))
        elif kind == 2:
            ws = "".join(rng.choice([" ", "  ", "    ", "\t", "\t\t", "\n", "\n\n", " \t "]) for _ in range(rng.randint(1, 12)))
            parts.append("x" + ws + "y = " + str(rng.randint(0, 10**9)))
        elif kind == 3:
            parts.append(" " * rng.randint(1, 64) + "indented" + "\t" * rng.randint(1, 8) + "tabs")
        elif kind == 4:
            parts.append("".join(rng.choice("{}[]()<>;:,.!?@#$%^&*-_+=|\\/~`'\"0123456789") for _ in range(rng.randint(1, 60))))
        else:
            parts.append(f"{rng.random():.17g} {rng.randint(-2**63, 2**63)} 0x{rng.getrandbits(64):x} 1e-{rng.randint(1, 300)}")
    return "\n".join(parts) + "\n"


def prose_texts():
    texts = []
    for f in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(f) and os.path.getsize(f) < 40000:
            t = open(f, encoding="utf-8", errors="replace").read()
            texts.append(t)
    return texts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node-modules", default=os.path.join(REPO, "node_modules"))
    ap.add_argument("--out", default=os.path.join(REPO, ".corpus"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    sources = python_sources() + npm_sources(args.node_modules) + deb_sources()
    seen = set()
    docs = {"train": [], "heldout": []}
    pairs = {"train": [], "heldout": []}
    manifest = []
    by_lang = {"python": [], "js": [], "c": [], "readme": []}
    for kind, pkg, ver, lic, files in sources:
        used_files, used_bytes = 0, 0
        if kind == "python":
            root = PY_LIB
        elif kind == "deb":
            root = "/usr/include"
        else:  # the package folder (the first file's path up to node_modules/<name>)
            i = files[0].rfind("/node_modules/" + pkg + "/")
            root = files[0][:i + len("/node_modules/" + pkg)] if i >= 0 else os.path.dirname(files[0])
        for path in files:
            if used_bytes >= PKG_CAP[kind]:
                break
            text = read_text(path)
            if text is None:
                continue
            key = norm_key(text)
            if key in seen:
                continue
            seen.add(key)
            split = "heldout" if int(key[:8], 16) % 100 < HELDOUT_PERCENT else "train"
            # half of the files start like the sidecar's completion prompt, so the model learns it
            docs[split].append((completion_header(path, root) + text)
                               if int(key[8:16], 16) % 100 < HEADER_PERCENT else text)
            used_files += 1
            used_bytes += len(text.encode())
            if path.endswith(".py"):
                pairs[split] += python_pairs(text, key)
                by_lang["python"].append(text)
            elif path.endswith(JS_EXT):
                pairs[split] += js_pairs(text, key)
                by_lang["js"].append(text)
            else:
                by_lang["c"].append(text)
        if used_files:
            manifest.append((kind, pkg, ver, lic, used_files, used_bytes))
        if kind == "npm":
            rd = os.path.join(os.path.dirname(files[0]), "README.md")
            for cand in glob.glob(os.path.join(args.node_modules, "**", pkg, "README.md"), recursive=False)[:1] or []:
                rd = cand
            if os.path.isfile(rd):
                t = read_text(rd)
                if t:
                    by_lang["readme"].append(t)

    stats = {}
    for split in ("train", "heldout"):
        for what, items in (("code", docs[split]), ("inst", pairs[split])):
            data = SEP.join(items).encode()
            with lzma.open(os.path.join(args.out, f"{split}_{what}.txt.xz"), "wb", preset=6) as f:
                f.write(data)
            stats[f"{split}_{what}"] = (len(items), len(data))
    for k, (n, b) in stats.items():
        print(f"{k}: {n} docs, {b / 1e6:.1f} MB")

    mpath = os.path.join(REPO, "models", "localmoe-code-tiny", "corpus_manifest.tsv")
    os.makedirs(os.path.dirname(mpath), exist_ok=True)
    with open(mpath, "w") as f:
        f.write("source\tpackage\tversion\tlicence\tfiles\tbytes\n")
        for row in manifest:
            f.write("\t".join(str(x) for x in row) + "\n")
        f.write(f"# total\t{len(manifest)} packages\t\t\t{sum(r[4] for r in manifest)}\t{sum(r[5] for r in manifest)}\n")
        f.write(f"# instruction pairs\ttrain {len(pairs['train'])}\theldout {len(pairs['heldout'])}\t\t\t"
                f"{sum(len(p.encode()) for p in pairs['train'] + pairs['heldout'])}\n")
    print("manifest:", mpath, len(manifest), "packages")

    # tokenizer test corpus: ~1.2 MB, deterministic sample of every kind of text
    rng = random.Random(20261125)
    chunks = []

    def take(items, budget):
        items = list(items)
        rng.shuffle(items)
        got = 0
        for t in items:
            if got >= budget:
                break
            t = t[:20000]
            chunks.append(t)
            got += len(t.encode())

    take(by_lang["python"], 330_000)
    take(by_lang["js"], 330_000)
    take(by_lang["c"], 200_000)
    take(by_lang["readme"] + prose_texts(), 200_000)
    take(pairs["train"], 60_000)
    gen = generated_unicode(rng)
    chunks.append(gen)
    rng.shuffle(chunks)
    corpus = SEP.join(chunks)
    tpath = os.path.join(REPO, "test", "tokenizer", "corpus.txt.gz")
    os.makedirs(os.path.dirname(tpath), exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as g:
        g.write(corpus.encode())
    open(tpath, "wb").write(buf.getvalue())
    print(f"tokenizer test corpus: {len(corpus.encode()) / 1e6:.2f} MB raw, {len(buf.getvalue()) / 1e6:.2f} MB gz, {len(chunks)} chunks")


if __name__ == "__main__":
    sys.exit(main())
