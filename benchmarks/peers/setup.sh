#!/usr/bin/env bash
# Install each peer synthesizer in its own virtual environment (never a synthmed dependency).
# torch stays pinned to the local CPU wheel; mostlyai-engine pulls a torchvision built for another
# torch, which breaks the import, so it is removed afterwards (the engine does not need it for tables).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venvs="$here/.venvs"
constraints="$here/../../constraints.txt"
mkdir -p "$venvs"

install() {  # name, packages...
  local name="$1"; shift
  if [ -f "$venvs/$name/.installed" ]; then return; fi
  python3.11 -m venv "$venvs/$name"
  "$venvs/$name/bin/pip" install -q -c "$constraints" "$@"
  touch "$venvs/$name/.installed"
}

install sdv "sdv>=1.17" "torch==2.13.0"
install mostly "mostlyai-engine>=1.0" "torch==2.13.0"
"$venvs/mostly/bin/pip" uninstall -q -y torchvision 2>/dev/null || true
echo "peers installed under $venvs"
