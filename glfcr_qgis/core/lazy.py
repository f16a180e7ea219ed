"""Lazy re-exports for the core packages (PEP 562): a public name is imported from its module on first use.

Keeps ``import glfcr_qgis.core`` (and each subpackage) cheap and free of torch until a name that needs it
is used, so the QGIS interface thread never pays for the network's imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package`` that import ``exports`` on demand.

    Args:
        package: the package's ``__name__``.
        exports: public name -> module (relative to ``package``, dotted) that defines it.

    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:  # noqa: N807 (module protocol name)
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module_name}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
