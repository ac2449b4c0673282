//go:build wasip1

// Command hello_wasi is a plain WASI command (entry point `_start`, no nx
// imports): it prints its arguments, which nx passes after `--`.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Printf("hello_wasi: %d args: %s\n", len(os.Args)-1, strings.Join(os.Args[1:], " "))
	fmt.Fprintln(os.Stderr, "hello_wasi: argv[0] is", os.Args[0])
}
