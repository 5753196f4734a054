// Package deploy tests the deployment artefacts end to end: `make
// install` staged in a temporary root, the systemd unit checked by
// systemd-analyze (verify, and its security exposure offline), and the
// installed config read by the installed binary. `make test-deploy` runs
// it; it fails, never skips, when systemd-analyze is missing.
package deploy
