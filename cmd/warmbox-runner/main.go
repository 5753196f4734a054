// Command warmbox-runner is the in-sandbox agent: see package runner.
package main

import (
	"os"

	"github.com/warmbox/warmbox/runner"
)

func main() {
	os.Exit(runner.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
