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
echo "built bin/gptailor and ui/app.wasm" >&2
