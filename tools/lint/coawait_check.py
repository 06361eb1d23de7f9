#!/usr/bin/env python3
"""coawait_check: finds the co_await expressions that GCC 12 miscompiles, from clang's AST.

GCC 12 destroys some objects twice when they are built in a full-expression that contains a
co_await (or co_yield): a double free under ASan, heap corruption without it (and, once a frame
is corrupted, a trap on the `ud2` of its resume switch). Measured on GCC 12.2 at -O0 and -O2;
clang 14 runs the same code cleanly. Reported, each anywhere in such a full-expression:
  aggregate    an aggregate of a type with a non-trivial destructor, initialized with braces:
               `co_await lookup{host, std::nullopt}` (the resolve() abort), `co_await f(S{s})`,
               `co_await f({s})`, `S x{a, co_await g()}`, or a default argument `f(S s = {})`
  lambda       a lambda whose closure has a non-trivial destructor (a capture by copy of a
               std::string, shared_ptr, ...): `co_await pool.submit_to(i, [s] {...})`
  conditional  a ?: whose value is a class with a non-trivial destructor:
               `s = c ? co_await f() : std::string()`, `co_await f(c ? a : std::string())`
Not reported, because GCC 12 gets them right: temporaries made by a constructor call
(`std::string("x")`, `ctor_awaiter{h}`, the `task` a coroutine call returns), trivially
destructible aggregates and lambdas (`[&]`, `[this]`, `[i]`), named objects passed or awaited.
`(void)co_await x` was not miscompiled in any form tried; --void-cast reports it all the same.

The fix: build the object in its own statement and await it, or pass it, by name
(`lookup awaiter{host, std::nullopt}; auto res = co_await awaiter;`).

How: each translation unit of compile_commands.json is parsed by clang (-fsyntax-only, the
C++ library and the largest third-party headers from a precompiled header, so that the JSON
AST dump holds little besides the project's code). In every coroutine body, each
full-expression holding a co_await/co_yield is searched, without entering nested lambda
bodies, for a CXXBindTemporaryExpr over an InitListExpr, a LambdaExpr whose closure's
destructor is non-trivial, a class-typed ?: whose arms are bound temporaries, and calls that
take such an aggregate as a default argument. Templates are checked in their instantiations,
with real types.

Exit status: 0 clean, 1 findings, 2 a translation unit clang cannot parse, 77 no clang++.
"""

import argparse
import concurrent.futures
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Statement kinds that are not expressions: their expression children start full-expressions.
STMTS = {
    "CompoundStmt", "DeclStmt", "IfStmt", "ForStmt", "WhileStmt", "DoStmt", "SwitchStmt",
    "CaseStmt", "DefaultStmt", "ReturnStmt", "CoreturnStmt", "BreakStmt", "ContinueStmt",
    "CXXTryStmt", "CXXCatchStmt", "CXXForRangeStmt", "NullStmt", "LabelStmt", "GotoStmt",
    "AttributedStmt", "VarDecl", "DecompositionDecl", "BindingDecl",
}
AWAITS = {"CoawaitExpr", "CoyieldExpr", "DependentCoawaitExpr"}
# Wrappers that do not change which object an expression denotes.
TRANSPARENT = {
    "ImplicitCastExpr", "ParenExpr", "MaterializeTemporaryExpr", "CXXFunctionalCastExpr",
    "ExprWithCleanups", "ConstantExpr", "CXXStaticCastExpr", "CStyleCastExpr",
}


def is_expr(kind):
    return kind.endswith(("Expr", "Operator", "Literal")) or kind == "ExprWithCleanups"


def inner(n):
    return n.get("inner") or ()


def strip(n):
    while n.get("kind") in TRANSPARENT and inner(n):
        n = inner(n)[0]
    return n


def type_name(n):
    t = n.get("type") or {}
    return t.get("qualType", "?")


def record_name(type_str):
    """The unqualified name a record type is known by in `records` ("ns::foo<int>" -> "foo")."""
    name = type_str.replace("const ", "").replace("volatile ", "").strip()
    return name.split("<")[0].split("::")[-1].strip()


def walk_expr(n):
    """Nodes of one full-expression, not entering nested lambda bodies or local classes."""
    stack = [n]
    while stack:
        x = stack.pop()
        yield x
        kids = inner(x)
        if x.get("kind") == "LambdaExpr":
            # inner: the closure class, the capture initializers, the body.
            kids = [k for k in kids if k.get("kind") not in ("CXXRecordDecl", "CompoundStmt",
                                                               "CoroutineBodyStmt")]
        stack.extend(reversed(kids))


class Checker:
    def __init__(self, void_cast, records, functions):
        self.void_cast = void_cast
        self.functions = functions  # declaration id -> FunctionDecl/CXXMethodDecl node
        # Unqualified record name -> True when its destructor is non-trivial; holds the types
        # defined outside the precompiled header (the project's), which is what an aggregate
        # variable's type is looked up in.
        self.records = records
        self.hits = []  # (node, rule, message)

    def hit(self, node, rule, msg):
        self.hits.append((node, rule, msg))

    def coroutine(self, body):
        self.stmt(body)

    def stmt(self, n):
        for c in inner(n):
            k = c.get("kind", "")
            if not k:
                continue
            if is_expr(k):
                self.full_expr(c, var_init=n.get("kind") == "VarDecl")
            elif k in STMTS or k.endswith("Stmt"):
                self.stmt(c)
            # Other declarations (local classes, functions) are other functions: coroutines
            # among them are found by the outer search.

    def full_expr(self, root, var_init):
        nodes = list(walk_expr(root))
        awaits = [x for x in nodes if x.get("kind") in AWAITS]
        if not awaits:
            return
        named = set()  # binds already reported through the `T{...}` cast around them
        for x in nodes:
            k = x.get("kind")
            if k in ("CXXBindTemporaryExpr", "CXXFunctionalCastExpr") and inner(x):
                bind = x
                if k == "CXXFunctionalCastExpr":  # `T{...}`: report where T is written
                    bind = inner(x)[0]
                    while bind.get("kind") == "ImplicitCastExpr" and inner(bind):
                        bind = inner(bind)[0]
                if (bind.get("kind") != "CXXBindTemporaryExpr" or id(bind) in named
                        or not inner(bind) or strip(inner(bind)[0]).get("kind") != "InitListExpr"):
                    continue
                named.add(id(bind))
                t = type_name(bind)
                self.hit(x, "aggregate",
                         f"aggregate temporary '{t}' (non-trivial destructor) in a full-expression "
                         "with co_await: GCC 12 destroys it twice; name it first "
                         f"(`{t} x{{...}};` then `co_await x` or `co_await f(std::move(x))`)")
            elif k in ("CallExpr", "CXXMemberCallExpr"):
                self.default_args(x)
            elif k == "LambdaExpr":
                rec = inner(x)[0] if inner(x) else {}
                dtor = (rec.get("definitionData") or {}).get("dtor") or {}
                if dtor.get("nonTrivial") or not dtor.get("trivial", True):
                    self.hit(x, "lambda",
                             "lambda with captures that need destruction in a full-expression "
                             "with co_await: GCC 12 destroys a capture twice; name the awaiter "
                             "first (`auto op = pool.submit_to(i, [x] {...}); co_await op;`)")
            elif k in ("ConditionalOperator", "BinaryConditionalOperator"):
                arms = inner(x)[-2:]
                if any(self.bound(a) for a in arms):
                    self.hit(x, "conditional",
                             f"?: yielding '{type_name(x)}' (non-trivial destructor) in a "
                             "full-expression with co_await: GCC 12 destroys its temporary twice; "
                             "use if/else, one co_await per branch")
            elif (self.void_cast and k in ("CStyleCastExpr", "CXXStaticCastExpr",
                                           "CXXFunctionalCastExpr")
                  and x.get("castKind") == "ToVoid" and inner(x)
                  and strip(inner(x)[0]).get("kind") in AWAITS):
                self.hit(x, "void-cast",
                         "co_await under a cast to void; name the result instead "
                         "(`auto r = co_await x;`)")
        if var_init:
            agg = strip(root)
            if (agg.get("kind") == "InitListExpr"
                    and self.records.get(record_name(type_name(agg)))
                    and any(y.get("kind") in AWAITS for y in walk_expr(agg))):
                self.hit(agg, "aggregate",
                         f"aggregate '{type_name(agg)}' (non-trivial destructor) initialized with "
                         "a co_await inside its braces: GCC 12 destroys its members twice; await "
                         "into a local first, then build the aggregate")

    def default_args(self, call):
        """A default argument is built in the caller's full-expression: `co_await f()` with
        `f(S s = S{})` builds the aggregate there. The call holds only a CXXDefaultArgExpr; the
        expression is the callee's parameter's."""
        kids = inner(call)
        args = kids[1:]
        if not any(strip(a).get("kind") == "CXXDefaultArgExpr" for a in args):
            return
        callee = strip(kids[0])
        decl_id = ((callee.get("referencedDecl") or {}).get("id")
                   or callee.get("referencedMemberDecl"))
        decl = self.functions.get(decl_id)
        if decl is None:
            return  # declared in a system header: no project aggregate defaults there
        params = [c for c in inner(decl) if c.get("kind") == "ParmVarDecl"]
        for i, a in enumerate(args):
            if strip(a).get("kind") != "CXXDefaultArgExpr" or i >= len(params):
                continue
            default = strip(inner(params[i])[0]) if inner(params[i]) else {}
            # A bound temporary: its type has a non-trivial destructor.
            if (default.get("kind") == "CXXBindTemporaryExpr" and inner(default)
                    and strip(inner(default)[0]).get("kind") == "InitListExpr"):
                self.hit(call, "aggregate",
                         f"default argument '{params[i].get('name', '?')}' of "
                         f"{decl.get('name', '?')}() is an aggregate '{type_name(default)}' "
                         "(non-trivial destructor), built here in a full-expression with "
                         "co_await: GCC 12 destroys it twice; pass it from a named local")

    @staticmethod
    def bound(arm):
        a = strip(arm)
        if a.get("kind") == "CXXBindTemporaryExpr":
            return True
        if a.get("kind") in AWAITS and inner(a):
            return strip(inner(a)[-1]).get("kind") == "CXXBindTemporaryExpr"
        return False


def find_coroutines(root, on_body):
    stack = [root]
    while stack:
        x = stack.pop()
        if x.get("kind") == "CoroutineBodyStmt" and inner(x):
            on_body(inner(x)[0])
        stack.extend(inner(x))


def collect_records(root, records, functions):
    """Destructor triviality of the record types defined outside the precompiled header, and
    the functions declared there (by id), for their default arguments."""
    stack = [root]
    while stack:
        x = stack.pop()
        k = x.get("kind")
        if k in ("FunctionDecl", "CXXMethodDecl") and "id" in x:
            # A redeclaration without the defaults must not hide the one with them.
            if x["id"] not in functions or any(inner(p) for p in inner(x)
                                               if p.get("kind") == "ParmVarDecl"):
                functions[x["id"]] = x
        if k in ("CXXRecordDecl", "ClassTemplateSpecializationDecl") and x.get("name"):
            dd = x.get("definitionData")
            if dd:
                dtor = dd.get("dtor") or {}
                nontrivial = bool(dtor.get("nonTrivial")) or not dtor.get("trivial", False)
                # Two records of one name: assume the worse.
                records[x["name"]] = records.get(x["name"], False) or nontrivial
        stack.extend(inner(x))


def resolve_locations(root, wanted):
    """File/line/col of the nodes in `wanted` (by id()). The JSON dump writes a location's file
    and line only when they differ from the previous location written, so the document is
    replayed in order."""
    state = {"file": None, "line": None}
    found = {}

    def bare(loc):
        if "file" in loc:
            state["file"] = loc["file"]
        if "line" in loc:
            state["line"] = loc["line"]
        return (state["file"], state["line"], loc.get("col"))

    def location(loc):
        if not loc:
            return None
        if "spellingLoc" in loc or "expansionLoc" in loc:
            sp = bare(loc["spellingLoc"]) if loc.get("spellingLoc") else None
            ex = bare(loc["expansionLoc"]) if loc.get("expansionLoc") else None
            # Code written inside a macro's argument is reported where it is written.
            in_arg = (loc.get("expansionLoc") or {}).get("isMacroArgExpansion")
            return sp if in_arg and sp else (ex or sp)
        return bare(loc) if "offset" in loc else None

    def visit(n):
        pos = None
        for key, val in n.items():
            if key == "loc":
                pos = location(val) or pos
            elif key == "range":
                b = location(val.get("begin"))
                location(val.get("end"))
                pos = b or pos
            elif key == "inner":
                if id(n) in wanted:
                    found[id(n)] = pos
                for c in val:
                    visit(c)
            elif isinstance(val, (dict, list)):
                visit_any(val)
        if id(n) in wanted and id(n) not in found:
            found[id(n)] = pos

    def visit_any(v):
        # Objects outside "inner" that may carry locations of their own.
        if isinstance(v, list):
            for x in v:
                visit_any(x)
        elif isinstance(v, dict):
            if "offset" in v or "spellingLoc" in v:
                location(v)
            elif "kind" in v:
                visit(v)
            else:
                for x in v.values():
                    visit_any(x)

    sys.setrecursionlimit(100000)
    visit(root)
    return found


def clang_args(entry):
    """The compile command's preprocessor and language flags, for clang."""
    argv = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    out = []
    i = 1
    while i < len(argv):
        a = argv[i]
        takes = a in ("-I", "-isystem", "-D", "-U", "-include", "-iquote", "-idirafter")
        if takes and i + 1 < len(argv):
            a = a + argv[i + 1]
            i += 1
        i += 1
        if a.startswith(("-I", "-isystem", "-iquote", "-idirafter")):
            if a.startswith("-I") and os.path.normpath(a[2:]) in ("/usr/include",
                                                                   "/usr/local/include"):
                continue  # a system directory given with -I breaks libstdc++'s #include_next
            out.append(a)
        elif a.startswith(("-D", "-U", "-std=", "-include")) or a == "-pthread":
            out.append(a)
    return out


def macro_key(args):
    return tuple(a for a in args if a.startswith(("-D", "-U", "-std=")) or a == "-pthread")


def find_clang():
    for name in (os.environ.get("CLANGXX"), "clang++-14", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def build_pch(clang, key, pchdir, index):
    stem = os.path.join(pchdir, f"prelude{index}")
    with open(stem + ".hh", "w") as f:
        # The C++ library and the biggest third-party headers come precompiled, so the dump
        # holds little more than the project's own code (simdjson alone is ~300 MB of JSON).
        # Pre-including a header that a unit does not include only adds declarations.
        f.write("#include <bits/stdc++.h>\n")
        for h in ("simdjson.h", "doctest/doctest.h", "openssl/ssl.h", "openssl/evp.h"):
            f.write(f"#if __has_include(<{h}>)\n#include <{h}>\n#endif\n")
    r = subprocess.run([clang, "-x", "c++-header", *key, "-w", stem + ".hh", "-o", stem + ".pch"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return stem + ".pch" if r.returncode == 0 else None


# Errors clang 14 gives on valid C++20 that GCC 12 takes: the AST is still complete enough to
# check (the expression is kept as a RecoveryExpr).
CLANG14_GAPS = (
    "reference to local binding",  # a lambda capturing a structured binding (clang 16)
)


def clang_errors(stderr):
    return [line for line in stderr.splitlines() if ": error: " in line]


def usable(r):
    """The dump is usable: clang succeeded, or failed only on CLANG14_GAPS."""
    if r.returncode == 0:
        return True
    errors = clang_errors(r.stderr)
    return bool(r.stdout) and bool(errors) and all(
        any(gap in e for gap in CLANG14_GAPS) for e in errors)


def run(argv, cwd):
    """clang's dump stays bytes (json.loads takes them); its diagnostics become text."""
    r = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    r.stderr = r.stderr.decode(errors="replace")
    return r


def check_tu(job):
    clang, directory, source, args, pch, void_cast = job
    base = [clang, "-fsyntax-only", "-w", "-Xclang", "-ast-dump=json", *args, source]
    t0 = time.monotonic()
    r = None
    if pch:
        r = run(base[:-1] + ["-include-pch", pch, source], directory)
    if r is None or not usable(r):
        r = run(base, directory)
    if not usable(r):
        return source, None, r.stderr.strip().splitlines()[-20:], time.monotonic() - t0
    text = r.stdout
    if b'"CoroutineBodyStmt"' not in text:
        return source, [], None, time.monotonic() - t0
    root = json.loads(text)
    del text
    records, functions = {}, {}
    collect_records(root, records, functions)
    checker = Checker(void_cast, records, functions)
    find_coroutines(root, checker.coroutine)
    results = []
    if checker.hits:
        where = resolve_locations(root, {id(n) for n, _, _ in checker.hits})
        for node, rule, msg in checker.hits:
            f, line, col = where.get(id(node)) or (None, None, None)
            if f is None:
                continue
            path = os.path.normpath(os.path.join(directory, f))
            results.append((path, line, col, rule, msg))
    return source, results, None, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-p", "--build-dir", default=os.path.join(REPO, "build"),
                    help="directory holding compile_commands.json (default: build/)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="translation units at a time")
    ap.add_argument("--file", action="append", default=[],
                    help="check only the translation units of this source (repeatable)")
    ap.add_argument("--source", help="check this file instead, with the compile command of --like")
    ap.add_argument("--like", help="the source whose compile command --source uses")
    ap.add_argument("--void-cast", action="store_true", help="also report (void)co_await")
    ap.add_argument("--no-pch", action="store_true", help="parse libstdc++ in every unit")
    ap.add_argument("-v", "--verbose", action="store_true", help="time per translation unit")
    opts = ap.parse_args()

    clang = find_clang()
    if not clang:
        print("coawait_check: SKIP: clang++ not found (apt-get install clang)")
        return 77
    db_path = os.path.join(opts.build_dir, "compile_commands.json")
    with open(db_path) as f:
        db = json.load(f)

    def abspath(e):
        return os.path.normpath(os.path.join(e["directory"], e["file"]))

    wanted = None
    if opts.source:
        if not opts.like:
            ap.error("--source needs --like")
        like = os.path.abspath(opts.like) if os.path.exists(opts.like) else \
            os.path.join(REPO, opts.like)
        base = [e for e in db if abspath(e) == os.path.normpath(like)]
        if not base:
            ap.error(f"{opts.like}: not in {db_path}")
        entry = dict(base[0], file=os.path.abspath(opts.source))
        entry.pop("output", None)
        db = [entry]
    elif opts.file:
        wanted = {os.path.normpath(os.path.join(REPO, f)) if not os.path.isabs(f) else f
                  for f in opts.file}

    # One run per source and set of macros (a source built twice with other -O flags
    # parses the same).
    units, seen = [], set()
    for e in db:
        path = abspath(e)
        if wanted is not None and path not in wanted:
            continue
        args = clang_args(e)
        key = (path, macro_key(args))
        if key in seen:
            continue
        seen.add(key)
        units.append((e["directory"], path, args))
    if not units:
        print("coawait_check: no translation unit selected")
        return 2

    t0 = time.monotonic()
    findings, failures = {}, []
    with tempfile.TemporaryDirectory(prefix="coawait-") as tmp, \
            concurrent.futures.ProcessPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        pchs = {}
        if not opts.no_pch:
            keys = sorted({macro_key(a) for _, _, a in units})
            for key, pch in zip(keys, pool.map(build_pch, [clang] * len(keys), keys,
                                               [tmp] * len(keys), range(len(keys)))):
                pchs[key] = pch
        jobs = [(clang, d, src, a, pchs.get(macro_key(a)), opts.void_cast)
                for d, src, a in units]
        # Biggest first keeps both workers busy to the end.
        jobs.sort(key=lambda j: -os.path.getsize(j[2]) if os.path.exists(j[2]) else 0)
        for source, results, err, secs in pool.map(check_tu, jobs):
            if opts.verbose:
                print(f"  {secs:5.1f}s {os.path.relpath(source, REPO)}", file=sys.stderr)
            if results is None:
                failures.append((source, err))
                continue
            for path, line, col, rule, msg in results:
                if path.startswith(REPO + os.sep):
                    shown = os.path.relpath(path, REPO)
                elif opts.source and not path.startswith("/usr/"):
                    shown = path  # the copy given with --source, or a header beside it
                else:
                    continue  # a system header
                findings.setdefault((shown, line, col, rule), msg)

    for (path, line, col, rule), msg in sorted(findings.items()):
        print(f"{path}:{line}:{col}: error: [{rule}] {msg}")
    for source, err in failures:
        print(f"{os.path.relpath(source, REPO)}: clang could not parse it:", file=sys.stderr)
        for line in err or []:
            print(f"    {line}", file=sys.stderr)
    elapsed = time.monotonic() - t0
    print(f"coawait_check: {len(units)} translation units, {len(findings)} findings, "
          f"{len(failures)} parse failures, {elapsed:.0f}s", file=sys.stderr)
    if failures:
        return 2
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
