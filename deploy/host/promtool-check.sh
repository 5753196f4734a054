#!/usr/bin/env bash
# promtool-check.sh: validate the shipped Prometheus files with promtool
# (Debian's prometheus package): the compose config, the host config that
# prometheus.sh generates, the alert rules, and their unit tests.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROM=$(cd "$HERE/../prometheus" && pwd)

if ! command -v promtool >/dev/null; then
  echo "[promtool] promtool is not installed (Debian: apt-get install prometheus)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$HERE/prometheus.sh" config >"$tmp/prometheus-host.yml"

promtool check config "$PROM/prometheus.yml"
promtool check config "$tmp/prometheus-host.yml"
promtool check rules "$PROM/alerts.yml"
(cd "$PROM" && promtool test rules alerts_test.yml)
echo "[promtool] configs, rules and rule tests pass" >&2
