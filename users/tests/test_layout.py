"""The layout of users/: no import cycles, and the operating guide's entry points defined where it says."""

import ast
import inspect
from pathlib import Path

import users
from users.services import simple_online_status
from users.views import user_management_views

ROOT = Path(users.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in ROOT.rglob("*.py")
        if not {"tests", "migrations"} & set(path.relative_to(ROOT).parts)
    }


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The users modules this one imports at import time (module level), parent packages included."""
    found = {".".join(name.split(".")[:n]) for n in range(1, name.count(".") + 1)}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {target for target in found if target in modules and target != name}


def test_no_module_in_users_imports_itself_through_a_cycle():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    done, path = set(), []

    def visit(name):
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(name) :] + [name]))
        if name in done:
            return
        path.append(name)
        for target in sorted(graph[name]):
            visit(target)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_the_guides_entry_points_are_defined_in_simple_online_status_not_re_exported():
    for name in ("mark_user_online", "mark_user_offline", "update_user_last_seen", "check_and_mark_offline_users"):
        function = getattr(simple_online_status, name)
        assert inspect.getmodule(function) is simple_online_status, name


def test_the_heartbeat_view_is_in_user_management_views():
    assert user_management_views.HeartbeatView.__module__ == "users.views.user_management_views"
