"""Fail when a behaviour module grows past 400 lines (STYLE rule L3).

Test files are not behaviour modules and are skipped. A module made of type
declarations may be longer: it says so in its first lines with a comment
``# module-size: declarations`` (and is split per boundary instead).
"""

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_LINES = 400
ROOTS = ("shared", "services", "tests", "scripts", "bench")
EXEMPT_MARKER = "# module-size: declarations"
SKIPPED_DIRS = {".venv", "__pycache__", "build", "dist"}


def modules(root: Path) -> Iterator[Path]:
    """Every non-test Python module under the checked folders."""
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            if SKIPPED_DIRS.intersection(path.parts):
                continue
            if path.name.startswith("test_") or path.name == "conftest.py":
                continue
            yield path


def too_long(path: Path) -> int | None:
    """The module's line count when it breaks the rule, else None."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) <= MAX_LINES:
        return None
    if any(line.strip() == EXEMPT_MARKER for line in lines[:10]):
        return None
    return len(lines)


def main() -> int:
    """Report every oversized module; exit 1 if there is one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=Path.cwd())
    root = parser.parse_args().root
    failures = [
        (path, count) for path in modules(root) if (count := too_long(path)) is not None
    ]
    for path, count in failures:
        print(f"{path.relative_to(root)}: {count} lines (max {MAX_LINES})")
    if not failures:
        print(f"module sizes OK (max {MAX_LINES} lines per behaviour module)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
