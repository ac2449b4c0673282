// Command nx runs Numax nodes. It only parses the command line and wires the
// numax package together; everything it does is testable through run.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(exitCode(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}
