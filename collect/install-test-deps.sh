#!/usr/bin/env bash
# Installs what the live-collector tests and fixtures/regenerate.sh need:
#   * runc, busybox-static and docker.io from Debian (dockerd 20.10 + its CLI)
#   * buildkitd and buildctl built from the same github.com/moby/buildkit
#     version as go.mod requires, cached under
#     ${BUILDSTATS_BUILDKIT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/buildstats/buildkit-<version>}/bin
#   * buildx (docker buildx, run standalone), for the .dockerbuild tests:
#     `go install github.com/docker/buildx/cmd/buildx@$BUILDX_VERSION`, cached
#     under ${BUILDSTATS_BUILDX_DIR:-.../buildstats/buildx-<version>}/bin
#
# Rerunnable: each part is skipped when already in place, so a warm run takes
# a second or two. A cold run compiles buildkitd and buildx at the same time
# (see the README for the figures on 2 vCPUs).
#
# Usage: collect/install-test-deps.sh            (from anywhere in the repo)
# Env:   BUILDSTATS_SKIP_DAEMON_DEPS=1 skips everything (tests then skip too)
#        BUILDSTATS_BUILDKIT_DIR=DIR   overrides the cache directory
#
# Why build buildkitd: Debian has no buildkit package, and
# `go install github.com/moby/buildkit/cmd/buildkitd@vX` is refused because
# buildkit's go.mod has exclude directives. So the module source is fetched
# through the Go module proxy, copied somewhere writable and built there.
set -euo pipefail

if [ "${BUILDSTATS_SKIP_DAEMON_DEPS:-}" = 1 ]; then
  echo "install-test-deps: BUILDSTATS_SKIP_DAEMON_DEPS=1, skipping"
  exit 0
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)

# --- Debian packages -------------------------------------------------------
need=()
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /bin/busybox ] || need+=(busybox-static)
{ command -v dockerd >/dev/null 2>&1 && [ -x /usr/bin/docker ]; } || need+=(docker.io)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: need root to apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "install-test-deps: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d on these machines stops the docker service from starting on
  # install; the tests start their own private dockerd anyway.
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# busybox must be the static one: it is copied into FROM scratch images.
if command -v file >/dev/null 2>&1 && ! file -L /bin/busybox | grep -q 'statically linked'; then
  echo "install-test-deps: /bin/busybox is not statically linked; install busybox-static" >&2
  exit 1
fi

# --- buildkitd / buildctl and buildx, compiled side by side ------------------
cd "$repo"
cache=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/buildstats
version=$(go list -m -f '{{.Version}}' github.com/moby/buildkit)
dir=${BUILDSTATS_BUILDKIT_DIR:-$cache/buildkit-$version}
# The buildx the .dockerbuild fixtures were made with (fixtures/dockerbuild).
buildx_version=${BUILDX_VERSION:-v0.38.2}
bxdir=${BUILDSTATS_BUILDX_DIR:-$cache/buildx-$buildx_version}
work=$(mktemp -d "${TMPDIR:-/tmp}/bs-deps.XXXXXX")
trap 'rm -rf "$work"' EXIT

build_buildkit() {
  echo "install-test-deps: building buildkitd and buildctl $version into $dir/bin"
  mkdir -p "$dir/bin"
  src=$(GOFLAGS=-mod=mod go mod download -json "github.com/moby/buildkit@$version" |
        sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -d "$src" ] || { echo "install-test-deps: go mod download gave no source dir" >&2; return 1; }
  mkdir -p "$work/buildkit"
  cp -r "$src/." "$work/buildkit/" && chmod -R u+w "$work/buildkit"
  # Build into a temp name and move, so an interrupted build never leaves a
  # half-written binary that a later run would take as done.
  (cd "$work/buildkit" && GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-X github.com/moby/buildkit/version.Version=$version" \
      -o "$work/out/" ./cmd/buildkitd ./cmd/buildctl)
  mv -f "$work/out/buildkitd" "$work/out/buildctl" "$dir/bin/"
}

build_buildx() {
  echo "install-test-deps: building buildx $buildx_version into $bxdir/bin"
  mkdir -p "$bxdir/bin"
  # buildx's go.mod has no replace or exclude directives, so go install
  # works (it does not for buildkitd). Outside the repository, so this
  # module's go.mod plays no part.
  (cd "$work" && GOFLAGS= GOBIN="$work/bx" go install -trimpath \
      -ldflags "-X github.com/docker/buildx/version.Version=$buildx_version" \
      "github.com/docker/buildx/cmd/buildx@$buildx_version")
  mv -f "$work/bx/buildx" "$bxdir/bin/"
}

pids=()
if [ -x "$dir/bin/buildkitd" ] && [ -x "$dir/bin/buildctl" ] &&
   "$dir/bin/buildkitd" --version 2>/dev/null | grep -q " $version "; then
  echo "install-test-deps: buildkitd $version already in $dir/bin"
else
  build_buildkit & pids+=($!)
fi
if [ -x "$bxdir/bin/buildx" ] && "$bxdir/bin/buildx" version 2>/dev/null | grep -q " $buildx_version"; then
  echo "install-test-deps: buildx $buildx_version already in $bxdir/bin"
else
  # Compiled while buildkitd compiles: on 2 vCPUs the two share the
  # machine better than they would one after the other (the module
  # downloads and the linker's single-threaded phases overlap).
  build_buildx & pids+=($!)
fi
for p in "${pids[@]}"; do
  wait "$p" || { echo "install-test-deps: a build failed" >&2; exit 1; }
done
"$dir/bin/buildkitd" --version
"$bxdir/bin/buildx" version

echo "install-test-deps: done in $(( $(date +%s) - start ))s"
