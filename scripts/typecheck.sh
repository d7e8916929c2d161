#!/usr/bin/env bash
# mypy over the installed namespace (grantflow.*), as users import it.
#
# The editable install maps grantflow.states → states/ and so on through an import hook, and
# mypy does not follow import hooks: checking the folders by path would leave every
# `grantflow.*` import unresolved (silently Any). So we give mypy the namespace as a tree of
# symbolic links to the real folders and check the package by name.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"  # absolute, the venv's own link kept
tree=build/typecheck
rm -rf "$tree"
mkdir -p "$tree/grantflow"
# every package the distribution maps (pyproject.toml [tool.setuptools.package-dir])
"$PY" - "$tree" <<'PYEOF'
import os, sys, tomllib
tree = sys.argv[1]
dirs = tomllib.load(open("pyproject.toml", "rb"))["tool"]["setuptools"]["package-dir"]
for name, folder in dirs.items():
    if name == "grantflow":
        for f in os.listdir(folder):
            if f.endswith(".py"):
                os.symlink(os.path.abspath(os.path.join(folder, f)), os.path.join(tree, "grantflow", f))
    else:
        os.symlink(os.path.abspath(folder), os.path.join(tree, *name.split(".")))
PYEOF
cd "$tree"
exec "$PY" -m mypy --config-file ../../pyproject.toml -p grantflow "$@"
