#!/usr/bin/env bash
# The whole test suite, from a fresh machine: system packages, virtual environment, ruff, mypy,
# lint-imports (the import layers of docs/architecture.md), pytest. The PostgreSQL server the
# tests use is started by the tests themselves (on 127.0.0.1, a free port, a password made up
# for the run) and stopped when they end; so are the DICOM peers (dcmtk's storescp, Orthanc),
# on 127.0.0.1 and free ports.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v storescp >/dev/null 2>&1 || need+=(dcmtk)         # real DICOM peers for discover
[ -x /usr/sbin/Orthanc ] || need+=(orthanc)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing system packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

echo "== ruff"; .venv/bin/ruff check src tests benchmarks scripts
echo "== mypy"; .venv/bin/mypy
echo "== lint-imports"; .venv/bin/lint-imports
echo "== pytest"; .venv/bin/pytest "$@"
