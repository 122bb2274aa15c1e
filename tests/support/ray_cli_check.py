"""Parse `ray start` command lines with Ray's own click options, taken from a Ray source tree.

usage: python3 ray_cli_check.py RAY_SOURCE_DIR < argvs.json

argvs.json is a JSON list of argv lists as the launchers build them (["<venv>/bin/ray",
"start", ...]). For each, one JSON line on stdout: {"ok": true, "params": {...}} with the values
click gave start()'s parameters, or {"ok": false, "error": "..."}. Exit status 0 when every argv
parsed, 1 otherwise, 2 when the source tree cannot be read.

Only what click and start() check before starting anything is run, from Ray's own text:
- the @click.option decorators of `def start` in python/ray/scripts/scripts.py (evaluated with
  ray_constants.py for their defaults and cli_logger.py's CLICK_LOGGING_OPTIONS), so unknown or
  abbreviated options, missing values and bad types fail exactly as in Ray;
- start()'s own refusals that need no running Ray: `--address` required without `--head`, and
  the `head_only_flags` dict (its keys and the parameters they name, read from the function's
  body) must be unset on a worker.
Needs `click` importable (Debian: python3-click, see scripts/install-deps.sh); nothing of Ray is
imported or built.
"""
import ast
import json
import os
import sys
import types

import click


def read(root, rel):
    with open(os.path.join(root, "python", "ray", rel), encoding="utf-8") as f:
        return f.read()


def env_number(kind):
    def get(key, default):
        v = os.environ.get(key)
        return default if v is None else kind(v)
    return get


def load_ray_constants(root):
    """Exec ray/_private/ray_constants.py with the tiny helpers it imports from ray._common."""
    utils = types.ModuleType("ray._common.utils")
    utils.env_integer = env_number(int)
    utils.env_float = env_number(float)
    utils.env_bool = lambda key, default: (os.environ.get(key, str(default)).lower()
                                           in ("1", "true", "yes"))
    for name in ("ray", "ray._common"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["ray._common.utils"] = utils
    module = types.ModuleType("ray_constants")
    exec(compile(read(root, "_private/ray_constants.py"), "ray_constants.py", "exec"),
         module.__dict__)
    return module


def top_level(tree, name):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.Assign)):
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return node
    raise SystemExit("ray_cli_check: no %s in the Ray source" % name)


def logging_options(root):
    """add_click_logging_options from cli_logger.py (CLICK_LOGGING_OPTIONS and the function)."""
    tree = ast.parse(read(root, "autoscaler/_private/cli_logger.py"))
    styles = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "VALID_LOG_STYLES" for t in node.targets):
            styles = ast.literal_eval(node.value)
    logger = types.SimpleNamespace(VALID_LOG_STYLES=styles or ("auto", "record", "pretty"),
                                   configure=lambda *a, **k: None)
    import functools
    from typing import Callable
    ns = {"click": click, "cli_logger": logger, "wraps": functools.wraps, "Callable": Callable}
    body = [top_level(tree, "CLICK_LOGGING_OPTIONS"), top_level(tree, "add_click_logging_options")]
    exec(compile(ast.Module(body=body, type_ignores=[]), "cli_logger.py", "exec"), ns)
    return ns["add_click_logging_options"]


def start_command(root, captured):
    """A click group `ray` with Ray's `start` options; its body only records the parameters.
    Also returns head_only_flags as {flag: parameter name}, read from start()'s body."""
    tree = ast.parse(read(root, "scripts/scripts.py"))
    fn = top_level(tree, "start")
    head_only = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "head_only_flags" for t in node.targets):
            for k, v in zip(node.value.keys, node.value.values):
                head_only[ast.literal_eval(k)] = v.id
    if not head_only:
        raise SystemExit("ray_cli_check: no head_only_flags in scripts.py start()")
    fn.args = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                            kwarg=ast.arg(arg="kwargs"), defaults=[])
    fn.body = ast.parse("_captured.update(kwargs)").body
    fn.returns = None
    cli = click.Group(name="ray")
    ns = {"click": click, "cli": cli, "ray_constants": load_ray_constants(root), "json": json,
          "platform": __import__("platform"), "PublicAPI": lambda f: f,
          "add_click_logging_options": logging_options(root), "_captured": captured}
    module = ast.fix_missing_locations(ast.Module(body=[fn], type_ignores=[]))
    exec(compile(module, "scripts.py", "exec"), ns)
    return cli, head_only


def check(cli, head_only, captured, argv):
    """None when Ray would accept argv (up to starting its processes), else the error."""
    captured.clear()
    if len(argv) < 2 or argv[1] != "start":
        return "not a `ray start` command: %r" % (argv,)
    try:
        cli.main(args=argv[1:], prog_name="ray", standalone_mode=False)
    except click.ClickException as e:
        return "%s: %s" % (type(e).__name__, e.format_message())
    if not captured.get("head"):
        if captured.get("address") is None:
            return "`--address` is a required flag unless starting a head node with `--head`."
        for flag, param in head_only.items():
            if captured.get(param) is not None:
                return "`%s` should only be specified when starting head node with `--head`." % flag
    return None


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: ray_cli_check.py RAY_SOURCE_DIR < argvs.json")
    root = sys.argv[1]
    try:
        captured = {}
        cli, head_only = start_command(root, captured)
    except OSError as e:
        print("ray_cli_check: cannot read the Ray source in %s: %s" % (root, e), file=sys.stderr)
        return 2
    failed = 0
    for argv in json.load(sys.stdin):
        err = check(cli, head_only, captured, argv)
        if err:
            failed += 1
            print(json.dumps({"ok": False, "argv": argv, "error": err}))
        else:
            params = {k: v for k, v in captured.items() if not callable(v)}
            print(json.dumps({"ok": True, "argv": argv, "params": params}, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
