# Sourced by the tools/*.sh launchers: sets PYTHON to $PYTHON if given, else
# to the project's virtualenv (.venv/bin/python, created by `make install`,
# `make demo` or `make test`) if it exists, else to `python` on the PATH.
# Expects ROOT (the repository root) to be set.
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then
        PYTHON="$ROOT/.venv/bin/python"
    else
        PYTHON=python
    fi
fi
