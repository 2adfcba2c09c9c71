//go:build js && wasm

// Command wasm is the browser app of gptailor, compiled with GOOS=js
// GOARCH=wasm and loaded by ui/index.html. Until the plan editor lands it
// only proves the build and the loader work: it writes a status line into
// the page.
package main

import "syscall/js"

func main() {
	doc := js.Global().Get("document")
	status := doc.Call("getElementById", "status")
	if status.IsNull() {
		return
	}
	status.Set("textContent", "gptailor wasm runtime loaded; the plan editor arrives with the UI issue.")
}
