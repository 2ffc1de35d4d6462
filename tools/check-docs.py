#!/usr/bin/env python3
"""Checks the documentation of this repository; standard library only.

    python3 tools/check-docs.py        (from anywhere; exits 1 and lists every problem, else prints "docs ok")

It checks three things:

(a) README.md is at most 12,000 characters (the decoded UTF-8 text, `len(text)`): it is the
    front page; everything else lives in docs/.
(b) Every relative link `[text](path)`, `![alt](path)` or `[label]: path` in README.md and in the
    Markdown files under docs/ resolves to a file or folder inside the repository. The `#anchor`
    and `?query` parts are stripped; links with a scheme (http:, https:, mailto:, ...) and pure
    `#anchor` links are not checked. Links in code (fenced or indented blocks, `inline code`) are
    not links and are skipped.
(c) Every Swift, shell or Python file under Sources/, Tests/, scripts/, tools/ and Fuzz/ that
    mentions a document by name (`\\b[\\w-]+\\.md\\b`, e.g. `api.md`, `normalizer-free.md`) names one
    that exists: a file of that name in docs/ or at the repository root. A mention that gives a
    path whose first part is `.`, `..` or a folder that exists (`Fuzz/README.md`,
    `../shared/x.md`) must resolve, from the repository root or from the mentioning file's
    folder, to a file inside the repository. Web addresses are ignored.
"""
import os
import re
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README_LIMIT = 12_000
CODE_FOLDERS = ["Sources", "Tests", "scripts", "tools", "Fuzz"]
CODE_SUFFIXES = (".swift", ".sh", ".py")

INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
DOC_MENTION = re.compile(r"((?:[\w.-]+/)*)\b([\w-]+\.md)\b")
WEB_ADDRESS = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://\S+")


def relative(path):
    return os.path.relpath(path, ROOT)


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def inside_root(path):
    real = os.path.realpath(path)
    return real == ROOT or real.startswith(ROOT + os.sep)


def markdown_lines_outside_code(text):
    """(line number, line) for each line that is not code, with inline code spans blanked."""
    fence = None
    previous_blank = True
    in_indented_code = False
    for number, line in enumerate(text.split("\n"), 1):
        marker = FENCE.match(line)
        if fence is not None:
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = None
            previous_blank = False
            continue
        if marker:
            fence = marker.group(1)
            previous_blank = False
            continue
        blank = line.strip() == ""
        indented = line.startswith("    ") or line.startswith("\t")
        # An indented code block starts after a blank line (it cannot interrupt a paragraph) and
        # goes on through indented and blank lines.
        if indented and (previous_blank or in_indented_code) and not blank:
            in_indented_code = True
            previous_blank = False
            continue
        if not blank:
            in_indented_code = False
        previous_blank = blank
        yield number, INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)


def markdown_files():
    files = [os.path.join(ROOT, "README.md")]
    docs = os.path.join(ROOT, "docs")
    for folder, _, names in os.walk(docs):
        files += [os.path.join(folder, n) for n in sorted(names) if n.endswith(".md")]
    return [f for f in files if os.path.isfile(f)]


def check_readme_size(problems):
    path = os.path.join(ROOT, "README.md")
    if not os.path.isfile(path):
        problems.append("README.md: missing")
        return
    count = len(read_text(path))
    if count > README_LIMIT:
        problems.append(f"README.md: {count:,} characters, more than the limit of {README_LIMIT:,}")


def check_links(problems):
    for path in markdown_files():
        folder = os.path.dirname(path)
        for number, line in markdown_lines_outside_code(read_text(path)):
            targets = [m.group(1) for m in INLINE_LINK.finditer(line)]
            definition = REFERENCE_DEFINITION.match(line)
            if definition:
                targets.append(definition.group(1))
            for target in targets:
                if target.startswith("<") and target.endswith(">"):
                    target = target[1:-1]
                if SCHEME.match(target) or target.startswith("#") or target.startswith("//"):
                    continue
                local = urllib.parse.unquote(target.split("#", 1)[0].split("?", 1)[0])
                if not local:
                    continue
                resolved = os.path.join(ROOT, local.lstrip("/")) if local.startswith("/") else os.path.join(folder, local)
                if not os.path.exists(resolved):
                    problems.append(f"{relative(path)}:{number}: link to {target}: no such file")
                elif not inside_root(resolved):
                    problems.append(f"{relative(path)}:{number}: link to {target}: outside the repository")


def code_files():
    for top in CODE_FOLDERS:
        base = os.path.join(ROOT, top)
        for folder, dirs, names in os.walk(base):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("corpus", "__pycache__"))
            for name in sorted(names):
                path = os.path.join(folder, name)
                if name.endswith(CODE_SUFFIXES):
                    yield path
                elif "." not in name and os.access(path, os.X_OK):
                    try:
                        with open(path, "rb") as f:
                            first = f.readline(200)
                    except OSError:
                        continue
                    if first.startswith(b"#!") and (b"sh" in first or b"python" in first):
                        yield path


def document_exists(name, prefix, folder):
    """Whether a mention of `prefix + name` in a file in `folder` names an existing document."""
    if prefix:
        first = prefix.split("/", 1)[0]
        explicit = first in (".", "..") or os.path.isdir(os.path.join(ROOT, first)) or os.path.isdir(os.path.join(folder, first))
        if explicit:
            for base in (ROOT, folder):
                candidate = os.path.join(base, prefix + name)
                if os.path.isfile(candidate) and inside_root(candidate):
                    return True
            return False
    return os.path.isfile(os.path.join(ROOT, "docs", name)) or os.path.isfile(os.path.join(ROOT, name))


def check_document_mentions(problems):
    this_file = os.path.abspath(__file__)
    for path in code_files():
        if os.path.abspath(path) == this_file:
            continue  # its own docstring gives examples of mentions
        try:
            text = read_text(path)
        except (UnicodeDecodeError, OSError):
            continue
        folder = os.path.dirname(path)
        for number, line in enumerate(text.split("\n"), 1):
            line = WEB_ADDRESS.sub(" ", line)
            for mention in DOC_MENTION.finditer(line):
                prefix, name = mention.group(1), mention.group(2)
                if not document_exists(name, prefix, folder):
                    where = f"{prefix}{name}" if prefix else name
                    problems.append(f"{relative(path)}:{number}: mentions {where}, which is not a document of this repository "
                                    f"(looked in docs/ and at the root{', and at the path given' if prefix else ''})")


def main():
    problems = []
    check_readme_size(problems)
    check_links(problems)
    check_document_mentions(problems)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("docs ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
