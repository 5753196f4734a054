package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/warmbox/warmbox/bench"
)

// sweepFlags reads --rates and settles the flags a sweep changes: the
// model is open, the scenario hello unless --scenario is given, and
// "all" means every built-in kind without the mix. It returns nil
// without --rates.
func sweepFlags(f *benchFlags) ([]float64, error) {
	if !f.set["rates"] {
		return nil, nil
	}
	rates, err := bench.ParseRates(f.rates)
	if err != nil {
		return nil, fmt.Errorf("--rates: %w", err)
	}
	if f.set["model"] && f.model != string(bench.Open) {
		return nil, fmt.Errorf("--rates runs an open-loop sweep and cannot be combined with --model %s: drop --model", f.model)
	}
	if f.set["rate"] {
		return nil, errors.New("--rate and --rates: give one (--rate runs one open-loop rate, --rates sweeps several)")
	}
	f.model = string(bench.Open)
	if !f.set["scenario"] {
		f.scenarios = "hello"
	}
	kinds := splitList(f.scenarios)
	if slices.Contains(kinds, "mix") {
		return nil, errors.New("--rates: the mix draws several languages in one phase; a sweep runs one language per scenario (e.g. --scenario hello)")
	}
	if slices.Contains(kinds, "all") {
		f.scenarios = strings.Join(bench.Kinds, ",")
	}
	return rates, nil
}
