package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.yaml.in/yaml/v3"

	"github.com/warmbox/warmbox/daemon"
)

// loadConfig reads --config (or WARMBOX_CONFIG) over the embedded defaults.
func loadConfig(fs *flag.FlagSet, args []string) (daemon.Config, bool) {
	path := fs.String("config", os.Getenv("WARMBOX_CONFIG"), "YAML config file merged over the embedded defaults")
	if err := fs.Parse(args); err != nil {
		return daemon.Config{}, false
	}
	cfg, err := daemon.LoadConfig(*path, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "warmbox:", err)
		return daemon.Config{}, false
	}
	return cfg, true
}

func serve(args []string) int {
	cfg, ok := loadConfig(flag.NewFlagSet("serve", flag.ContinueOnError), args)
	if !ok {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := daemon.Run(ctx, cfg, version, nil); err != nil {
		fmt.Fprintln(os.Stderr, "warmbox:", err)
		return 1
	}
	return 0
}

func configCmd(args []string) int {
	cfg, ok := loadConfig(flag.NewFlagSet("config", flag.ContinueOnError), args)
	if !ok {
		return 2
	}
	out, err := yaml.Marshal(cfg.Effective())
	if err != nil {
		fmt.Fprintln(os.Stderr, "warmbox:", err)
		return 1
	}
	os.Stdout.Write(out)
	return 0
}
