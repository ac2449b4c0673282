// Command freeport prints a 127.0.0.1 address whose port is free now and
// outside the ephemeral range (for `make demo`).
package main

import (
	"fmt"
	"os"

	"github.com/numax/numax/internal/freeport"
)

func main() {
	addr, err := freeport.Addr()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(addr)
}
