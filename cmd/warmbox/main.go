// Command warmbox is the warmbox daemon and its tools: serve, exec (a
// client), bench, images, config and probe (a health check).
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage()
		return 2
	}
	cmds := map[string]func([]string) int{
		"serve":   serve,
		"exec":    execCmd,
		"config":  configCmd,
		"images":  imagesCmd,
		"bench":   benchCmd,
		"probe":   probe,
		"version": func([]string) int { fmt.Println(version); return 0 },
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "warmbox: unknown command %q\n", args[0])
		usage()
		return 2
	}
	return cmd(args[1:])
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: warmbox <command> [flags]

commands:
  serve    run the daemon (--config file.yaml or WARMBOX_CONFIG)
  exec     run a program on a daemon: warmbox exec -l python script.py
  bench    load-test a daemon against cold docker runs
  images   show whether each configured runtime image is present
  config   print the effective configuration
  probe    exit 0 when a daemon answers /readyz with 200 (a health check)
  version  print the version
`)
}
