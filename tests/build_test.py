"""BUILD declares every module and test file, and every dependency exists."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def declared_rules():
    tree = ast.parse((ROOT / "BUILD").read_text())
    rules = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            kind = getattr(call.func, "id", None)
            if kind in ("py_library", "py_test"):
                kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
                rules[kwargs["name"]] = (kind, kwargs)
    return rules


def test_every_module_and_test_is_declared():
    rules = declared_rules()
    declared = {(kind, src) for kind, kw in rules.values() for src in kw["srcs"]}
    missing = []
    for directory in ("keras_tfm", "pipelines", "export", "tests"):
        for path in (ROOT / directory).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            rel = str(path.relative_to(ROOT))
            kind = "py_test" if path.name.endswith("_test.py") else "py_library"
            if (kind, rel) not in declared:
                missing.append(f"{kind} {rel}")
    assert not missing, "not in BUILD (run scripts/update_build.py): " + ", ".join(missing)


def test_every_declared_file_and_dependency_exists():
    rules = declared_rules()
    for name, (kind, kwargs) in rules.items():
        for src in kwargs["srcs"]:
            assert (ROOT / src).exists(), f"{name}: {src} does not exist"
        for dep in kwargs.get("deps", []):
            assert dep.lstrip(":") in rules, f"{name} depends on undeclared {dep}"
