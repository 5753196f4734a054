// Package benchrun runs `warmbox bench`, the real binary, against the
// real daemon and the real Docker engine for a few seconds, and checks
// that its report holds sane figures for every target. Timings are never
// pass/fail conditions here: only that they exist and add up.
package benchrun
