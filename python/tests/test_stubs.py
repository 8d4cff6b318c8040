"""The type hints (conduit/_conduit.pyi) name what the extension has."""

import ast
import inspect
import pathlib

import conduit
from conduit import _conduit

STUB = pathlib.Path(conduit.__file__).with_name("_conduit.pyi")


def stub_classes():
    tree = ast.parse(STUB.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {
                n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AnnAssign)) and hasattr(n, "name")
            } | {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
    return out


def public(cls):
    return {
        name
        for name, _ in inspect.getmembers(cls)
        if (not name.startswith("__") or name in ("__enter__", "__exit__", "__len__", "__iter__", "__getitem__"))
        and name not in dir(object) + ["_pybind11_conduit_v1_"]
        and not (issubclass(cls, BaseException) and name in dir(BaseException))
    }


def test_every_class_and_member_is_in_the_stub():
    stubs = stub_classes()
    module_classes = {n for n, v in vars(_conduit).items() if inspect.isclass(v)}
    assert module_classes == set(stubs)
    for name in module_classes:
        cls = getattr(_conduit, name)
        if issubclass(cls, BaseException):
            continue
        own = public(cls)
        assert own <= stubs[name] | {m for base in cls.__mro__[1:] if base.__name__ in stubs for m in stubs[base.__name__]}, name


def test_the_package_exports_the_module():
    for name in conduit.__all__:
        assert getattr(conduit, name) is getattr(_conduit, name)
    assert set(conduit.__all__) == {n for n in vars(_conduit) if not n.startswith("_")}
