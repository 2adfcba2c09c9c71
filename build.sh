#!/usr/bin/env bash
# Builds the native binary (bin/gptailor) and the browser bundle (ui/app.wasm
# plus Go's wasm_exec.js loader). Pure Go: no cgo, nothing downloaded but Go
# modules.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p bin
CGO_ENABLED=0 go build -o bin/gptailor ./native/cmd/gptailor
GOOS=js GOARCH=wasm go build -o ui/app.wasm ./wasm
cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" ui/wasm_exec.js
# Example scoring modules (docs/scorer-abi.md): Go for wasip1, and the WAT
# skeleton (rebuilt when wabt's wat2wasm is installed, else its shipped bytes).
mkdir -p bin/scorers
GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/scorers/mean-go.wasm ./native/scorer/examples/mean-go
if command -v wat2wasm >/dev/null 2>&1; then
  wat2wasm native/scorer/examples/wat/skeleton.wat -o bin/scorers/skeleton.wasm
else
  cp native/scorer/examples/wat/skeleton.wasm bin/scorers/skeleton.wasm
fi
echo "built bin/gptailor, bin/scorers/*.wasm and ui/app.wasm" >&2
