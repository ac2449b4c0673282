// Package nx is the Go SDK for Numax guests.
//
// Build guests with the standard toolchain as WASI reactors that export run:
//
//	//go:wasmexport run
//	func run() { nx.Info("hello") }
//
//	func main() {}
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o app.wasm .
//
// Every host function of docs/host-abi.md has a typed wrapper: return codes become
// the Error values below, outputs are read into buffers that grow on
// ERR_BUFFER_TOO_SMALL (doubling up to the 10 MiB output limit), and scans
// page through the store as iterators. The wrappers only build for
// GOOS=wasip1; the error values and types build everywhere.
package nx
