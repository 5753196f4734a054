package main

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"sort"
	"time"
)

// imagesCmd reports whether each enabled language's image is present on
// the engine. Images are built by `make images` (deploy/host/images.sh);
// warmbox never pulls.
func imagesCmd(args []string) int {
	cfg, ok := loadConfig(flag.NewFlagSet("images", flag.ContinueOnError), args)
	if !ok {
		return 2
	}
	var names []string
	for n, l := range cfg.Languages {
		if l.Enabled {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	missing := 0
	for _, n := range names {
		img := cfg.Languages[n].Image
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", img).Run()
		cancel()
		state := "present"
		if err != nil {
			state = "MISSING (make images)"
			missing++
		}
		fmt.Printf("%-10s %-32s %s\n", n, img, state)
	}
	if missing > 0 {
		return 1
	}
	return 0
}
