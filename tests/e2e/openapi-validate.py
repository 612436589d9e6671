#!/usr/bin/env python3
"""tests/e2e/openapi-validate.py - responses recorded by an e2e test
against docs/openapi.yaml.

    openapi-validate.py [--strip-prefix REGEX] DOC LOGDIR

LOGDIR is what tests/e2e/lib.sh's e2e_curl records: a file "index" with
one tab-separated line per response, "N<TAB>METHOD<TAB>STATUS<TAB>PATH",
and N.headers / N.body beside it.  Each response is checked against the
document: the operation of the path template and method (or, for any
other path or method, the document's x-any-other-request), the status
among its responses, every documented header (required ones present,
each value against its schema), the media type (JSON answers are
"application/json; charset=utf-8") and the body against the schema
(JSON Schema 2020-12, as OpenAPI 3.1 says).  --strip-prefix removes a
leading part of the path first (the /rt/{id} of deploy/nginx-multi.conf).

Prints one line per drift and a closing "openapi: N responses match, N drift";
exits 1 on any drift, 2 when it cannot run (missing module, bad
document, no index).
"""
import json
import os
import re
import sys

try:
    import yaml
    from jsonschema import Draft202012Validator
except ImportError as e:  # the packages are in tests/run-all's list
    print("openapi-validate: %s (install python3-yaml python3-jsonschema)"
          % e, file=sys.stderr)
    sys.exit(2)

METHODS = ("get", "put", "post", "delete", "options", "head", "patch",
           "trace")


def pointer(doc, ref):
    if not ref.startswith("#/"):
        raise ValueError("only local $ref is supported: %s" % ref)
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def inline(doc, node, depth=0):
    """node with every local $ref replaced by its target (a $ref with
    siblings becomes allOf [target] plus the siblings)."""
    if depth > 64:
        raise ValueError("$ref nesting too deep (a cycle?)")
    if isinstance(node, list):
        return [inline(doc, n, depth) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = inline(doc, pointer(doc, node["$ref"]), depth + 1)
        rest = {k: inline(doc, v, depth) for k, v in node.items()
                if k != "$ref"}
        if not rest:
            return target
        rest.setdefault("allOf", []).append(target)
        return rest
    return {k: inline(doc, v, depth) for k, v in node.items()}


def templates(doc):
    """[(compiled regex, template)], literal segments before parameters."""
    out = []
    for tpl in doc.get("paths", {}):
        rx = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(tpl)) + "$"
        out.append((re.compile(rx), tpl, tpl.count("{")))
    out.sort(key=lambda t: t[2])
    return out


def read_headers(path):
    """The last response's headers (curl -D may hold several blocks),
    names lower-cased; repeated names keep the first value."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("latin-1")
    except OSError:
        return {}
    blocks = [b for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    hdrs = {}
    for line in (blocks[-1].splitlines()[1:] if blocks else []):
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs.setdefault(k.strip().lower(), v.strip())
    return hdrs


def check_one(doc, paths, method, status, path, hdrs, body):
    """A list of drift messages (empty: the response is documented)."""
    tpl, op = None, None
    for rx, t, _ in paths:
        if rx.match(path):
            tpl = t
            op = doc["paths"][t].get(method.lower())
            break
    where = "%s %s" % (method, tpl or path)
    if op is None:
        responses = doc.get("x-any-other-request", {}).get("responses", {})
        where += " (no such operation: x-any-other-request)"
    else:
        responses = op.get("responses", {})
    resp = responses.get(str(status), responses.get("default"))
    if resp is None:
        return ["%s: status %s is not documented" % (where, status)]
    resp = inline(doc, resp)
    errs = []
    for name, h in (resp.get("headers") or {}).items():
        v = hdrs.get(name.lower())
        if v is None:
            if h.get("required"):
                errs.append("%s %s: header %s missing" % (where, status, name))
            continue
        for e in Draft202012Validator(h.get("schema", {})).iter_errors(v):
            errs.append("%s %s: header %s: %s" % (where, status, name,
                                                  e.message))
    content = resp.get("content") or {}
    ctype = hdrs.get("content-type", "")
    media = ctype.split(";")[0].strip().lower()
    if method == "HEAD" or status in (204, 304):
        return errs
    if not content:
        if body:
            errs.append("%s %s: a body where none is documented"
                        % (where, status))
        return errs
    if media not in content:
        errs.append("%s %s: Content-Type %r is not one of %s"
                    % (where, status, ctype, sorted(content)))
        return errs
    schema = content[media].get("schema", {})
    if media == "application/json":
        if re.sub(r"\s+", "", ctype.lower()) != "application/json;charset=utf-8":
            errs.append("%s %s: Content-Type %r is not "
                        "'application/json; charset=utf-8'"
                        % (where, status, ctype))
        try:
            value = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            return errs + ["%s %s: body is not JSON: %s" % (where, status, e)]
    else:
        value = body.decode("utf-8", "replace")
    v = Draft202012Validator(schema)
    for e in sorted(v.iter_errors(value), key=lambda e: list(e.path)):
        loc = "/".join(str(p) for p in e.absolute_path) or "(root)"
        errs.append("%s %s: body %s: %s" % (where, status, loc,
                                              e.message[:300]))
    return errs


def main(argv):
    strip = None
    if len(argv) > 2 and argv[1] == "--strip-prefix":
        strip = re.compile(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    doc_path, logdir = argv[1], argv[2]
    try:
        with open(doc_path) as f:
            doc = yaml.safe_load(f)
        if not str(doc.get("openapi", "")).startswith("3.1"):
            raise ValueError("not an OpenAPI 3.1 document")
        paths = templates(doc)
        with open(os.path.join(logdir, "index")) as f:
            index = [l.rstrip("\n").split("\t", 3) for l in f if l.strip()]
    except (OSError, ValueError, yaml.YAMLError) as e:
        print("openapi-validate: %s" % e, file=sys.stderr)
        return 2
    passed = failed = 0
    for n, method, status, path in index:
        if status == "000":  # no answer at all: nothing to validate
            continue
        path = path.split("?", 1)[0]
        if strip is not None:
            path = strip.sub("", path, count=1)
        hdrs = read_headers(os.path.join(logdir, n + ".headers"))
        try:
            with open(os.path.join(logdir, n + ".body"), "rb") as f:
                body = f.read()
        except OSError:
            body = b""
        try:
            errs = check_one(doc, paths, method, int(status), path, hdrs,
                             body)
        except (KeyError, ValueError) as e:
            errs = ["%s %s: the document is broken here: %s"
                    % (method, path, e)]
        if errs:
            failed += 1
            for e in errs[:5]:
                print("drift: response %s: %s" % (n, e))
        else:
            passed += 1
    print("openapi: %d responses match, %d drift" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
