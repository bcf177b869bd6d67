#!/usr/bin/env bash
# Installs the OpenTelemetry Collector that report/otlp's tests send traces
# to: the OTLP receiver (gRPC and HTTP) and the file exporter, nothing else,
# built from the Go module proxy into
#   ${BUILDSTATS_OTELCOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/buildstats/otelcol-<version>}/bin/otelcol-buildstats
#
# Rerunnable: skipped when the binary is in place, says its version and
# validates a configuration like the tests'.
# The source of main is otelcol/main.go.txt (.txt: it is not part of this
# module; it is built in a module of its own, outside the repository).
#
# Usage: report/otlp/install-test-deps.sh
# Env:   OTELCOL_VERSION (default v0.161.0), BUILDSTATS_OTELCOL_DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
version=${OTELCOL_VERSION:-v0.161.0}
cache=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/buildstats
dir=${BUILDSTATS_OTELCOL_DIR:-$cache/otelcol-$version}
bin=$dir/bin/otelcol-buildstats

# A binary counts as installed when it says its version and accepts a
# configuration like the tests' (one built from an older main.go.txt may
# refuse every configuration, and would otherwise stay cached).
usable() {
  [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q " ${version#v}\$" || return 1
  local cfg
  cfg=$(mktemp "${TMPDIR:-/tmp}/bs-otelcol-check.XXXXXX")
  cat >"$cfg" <<'YAML'
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
      http:
        endpoint: 127.0.0.1:4318
exporters:
  file:
    path: /dev/null
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
YAML
  "$bin" validate --config="file:$cfg" >/dev/null 2>&1
  local rc=$?
  rm -f "$cfg"
  return $rc
}

if usable; then
  echo "install-test-deps: otelcol ${version#v} already in $dir/bin"
  exit 0
fi

start=$(date +%s)
echo "install-test-deps: building otelcol-buildstats $version into $dir/bin"
work=$(mktemp -d "${TMPDIR:-/tmp}/bs-otelcol.XXXXXX")
trap 'rm -rf "$work"' EXIT
sed "s/\"VERSION\"/\"${version#v}\"/" "$here/otelcol/main.go.txt" > "$work/main.go"
cd "$work"
export GOFLAGS=-mod=mod
# go get lists every module it adds: shown only when it fails.
quiet() { "$@" >"$work/go.log" 2>&1 || { cat "$work/go.log" >&2; return 1; }; }
quiet go mod init buildstats.test/otelcol
quiet go get "go.opentelemetry.io/collector/otelcol@$version" \
  "go.opentelemetry.io/collector/receiver/otlpreceiver@$version" \
  "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter@$version"
# The config providers are versioned with confmap (v1.x), not the
# collector: take the ones of the confmap this collector requires.
confmap=$(go list -m -f '{{.Version}}' go.opentelemetry.io/collector/confmap)
quiet go get "go.opentelemetry.io/collector/confmap/provider/envprovider@$confmap" \
  "go.opentelemetry.io/collector/confmap/provider/fileprovider@$confmap"
quiet go mod tidy
# Built into the work dir and moved, so an interrupted build never leaves a
# half-written binary that a later run would take as done.
go build -trimpath -o "$work/otelcol-buildstats" .
mkdir -p "$dir/bin"
mv -f "$work/otelcol-buildstats" "$bin"
"$bin" --version
echo "install-test-deps: done in $(( $(date +%s) - start ))s"
