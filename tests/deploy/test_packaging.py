"""The installed package (what the image's ``pip install --no-deps .`` ships) is complete.

The image runs from the installed package, not from the source tree: a file that the
packaging configuration leaves out (a migration, a template) is missing only there.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]


def packaged_files() -> set[str]:
    """Repository paths that ``pip install .`` puts into site-packages."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = find_packages(str(ROOT), include=config["packages"]["find"]["include"])
    data_patterns = [p for patterns in config.get("package-data", {}).values() for p in patterns]
    files: set[str] = set()
    for package in packages:
        folder = ROOT / package.replace(".", "/")
        for path in folder.iterdir():
            if not path.is_file():
                continue
            if path.suffix == ".py" or any(fnmatch.fnmatch(path.name, p) for p in data_patterns):
                files.add(path.relative_to(ROOT).as_posix())
    return files


def test_every_migration_is_packaged() -> None:
    files = packaged_files()
    versions = ROOT / "gateway" / "migrations" / "versions"
    migrations = [p for p in versions.glob("*.py") if p.name != "__init__.py"]
    assert migrations
    for path in migrations:
        assert path.relative_to(ROOT).as_posix() in files
    assert "gateway/migrations/env.py" in files
    assert "gateway/migrations/script.py.mako" in files


def test_the_cli_entry_point_is_packaged() -> None:
    files = packaged_files()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, _function = scripts["satugate"].partition(":")
    assert module.replace(".", "/") + "/__init__.py" in files
    assert "gateway/cli/db.py" in files
