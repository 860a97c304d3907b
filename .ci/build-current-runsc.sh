#!/usr/bin/env bash
# Builds a current runsc from gVisor's Go-buildable "go" branch, fetched
# through the Go module proxy as module gvisor.dev/gvisor, so tests can run
# against it next to the distribution's (older) runsc.
#
# Usage: build-current-runsc.sh [--rebuild] [CACHE_DIR]
#
# CACHE_DIR defaults to $LIBSANDBOX_RUNSC_CACHE, else
# $HOME/.cache/libsandbox/runsc-current. The only thing printed on stdout is
# the path of the runsc binary; progress and errors go to stderr. An existing
# build in CACHE_DIR is reused unless --rebuild is given or
# LIBSANDBOX_RUNSC_VERSION names a different module version.
#
# Environment:
#   LIBSANDBOX_RUNSC_CACHE    cache directory (the argument wins)
#   LIBSANDBOX_RUNSC_VERSION  module version to build (default: the "go"
#                             branch; see resolve_version)
#   LIBSANDBOX_RUNSC_KEEP_GOCACHE=1  keep the Go build cache after a
#                             successful build (it is large and only speeds
#                             up rebuilds)
#   GO                        go binary (default: go on PATH)
set -euo pipefail

readonly MODULE="gvisor.dev/gvisor"
readonly PACKAGE="${MODULE}/runsc"

die() {
  echo "build-current-runsc: error: $*" >&2
  exit 1
}
log() { echo "build-current-runsc: $*" >&2; }

rebuild=0
cache_dir=""
while (($#)); do
  case "$1" in
    --rebuild) rebuild=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
      exit 0
      ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *)
      [[ -z "${cache_dir}" ]] || die "more than one cache directory given"
      cache_dir="$1"
      ;;
  esac
  shift
done
if [[ -z "${cache_dir}" ]]; then
  cache_dir="${LIBSANDBOX_RUNSC_CACHE:-${HOME:?HOME is not set}/.cache/libsandbox/runsc-current}"
fi

go_bin="${GO:-go}"
command -v "${go_bin}" >/dev/null 2>&1 ||
  die "no Go toolchain ('${go_bin}' not found); install Go >= 1.26 or set GO=/path/to/go"

mkdir -p "${cache_dir}" || die "cannot create cache directory ${cache_dir}"
cache_dir="$(cd "${cache_dir}" && pwd -P)"
readonly bin_dir="${cache_dir}/bin"
readonly runsc="${bin_dir}/runsc"
readonly version_file="${bin_dir}/runsc.module-version"

# A build counts only if the binary runs; a truncated or foreign file does not.
usable() { [[ -x "${runsc}" ]] && "${runsc}" --version >/dev/null 2>&1; }

requested="${LIBSANDBOX_RUNSC_VERSION:-}"
if ((!rebuild)) && usable; then
  built="$(cat "${version_file}" 2>/dev/null || true)"
  if [[ -z "${requested}" || "${requested}" == "${built}" ]]; then
    log "reusing ${runsc} (${built:-unknown version})"
    echo "${runsc}"
    exit 0
  fi
  log "cached build is ${built:-unknown}, ${requested} requested: rebuilding"
fi

# Keep everything the build downloads or caches inside cache_dir, so it can be
# measured and removed as a whole and never mixes with the user's Go caches.
export GOPATH="${cache_dir}/gopath"
export GOMODCACHE="${cache_dir}/gopath/pkg/mod"
export GOCACHE="${cache_dir}/gocache"
# Writable module files, so the cache dir can be removed with a plain rm -rf.
export GOFLAGS="-modcacherw"
export CGO_ENABLED=0
# Fetch from the module proxy only; there may be no direct VCS access, and the
# checksum database still verifies what the proxy serves.
export GOPROXY="${GOPROXY:-https://proxy.golang.org}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
# Run from a neutral directory so a go.mod around the caller cannot interfere.
cd "${cache_dir}"

# Prints the module version to build. The "go" branch is what gVisor keeps
# buildable with the plain Go toolchain (master needs Bazel). Proxies that do
# not resolve branch names refuse @go; gVisor has no semver tags, so @latest is
# then the newest pseudo-version the proxy knows, which is the go branch head.
resolve_version() {
  local query v
  for query in go latest; do
    if v="$("${go_bin}" list -m -f '{{.Version}}' "${MODULE}@${query}" 2>/dev/null)" &&
      [[ -n "${v}" ]]; then
      log "${MODULE}@${query} resolves to ${v}"
      echo "${v}"
      return 0
    fi
    log "${MODULE}@${query} does not resolve through ${GOPROXY}"
  done
  return 1
}

if [[ -z "${requested}" ]]; then
  requested="$(resolve_version)" ||
    die "cannot resolve ${MODULE} through ${GOPROXY}; set LIBSANDBOX_RUNSC_VERSION to a pseudo-version of the gVisor 'go' branch (see: ${go_bin} list -m -versions ${MODULE})"
fi

# Only the "go" branch carries the generated sources (go_marshal, go_stateify)
# a plain `go install` needs; master has Bazel files instead. Checking this up
# front turns a wall of compile errors into one clear message.
log "downloading ${MODULE}@${requested}"
if ! download_json="$("${go_bin}" mod download -json "${MODULE}@${requested}")"; then
  echo "${download_json}" >&2
  die "cannot download ${MODULE}@${requested} through ${GOPROXY}"
fi
module_dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"${download_json}")"
[[ -n "${module_dir}" && -d "${module_dir}" ]] ||
  die "go mod download did not report a source directory for ${MODULE}@${requested}"
if [[ -e "${module_dir}/BUILD" || -e "${module_dir}/WORKSPACE" ]] ||
  ! compgen -G "${module_dir}/pkg/abi/linux/*_autogen_unsafe.go" >/dev/null; then
  die "${MODULE}@${requested} is not from gVisor's 'go' branch (it has Bazel files or lacks generated sources); set LIBSANDBOX_RUNSC_VERSION to a 'go' branch pseudo-version"
fi

# Install into a staging dir and move into place only on success, so an
# interrupted build never leaves a half-written binary that looks reusable.
staging="$(mktemp -d "${cache_dir}/staging.XXXXXX")"
trap 'rm -rf "${staging}"' EXIT

log "building ${PACKAGE}@${requested} (CGO_ENABLED=0); this takes minutes"
start=${SECONDS}
# The version string is normally stamped by gVisor's Bazel build; without it
# `runsc --version` says VERSION_MISSING. -s -w drops the symbol table and
# DWARF (about 17 MB); panics still get symbolised stack traces.
ldflags="-s -w -X ${MODULE}/runsc/version.version=${requested}"
if ! GOBIN="${staging}" nice -n 19 "${go_bin}" install -trimpath -ldflags="${ldflags}" \
  "${PACKAGE}@${requested}" >&2; then
  die "go install ${PACKAGE}@${requested} failed (see above)"
fi
[[ -x "${staging}/runsc" ]] || die "go install succeeded but produced no runsc binary"
"${staging}/runsc" --version >/dev/null 2>&1 || die "the built runsc does not run ('runsc --version' failed)"

mkdir -p "${bin_dir}"
echo "${requested}" >"${staging}/runsc.module-version"
mv -f "${staging}/runsc" "${runsc}"
mv -f "${staging}/runsc.module-version" "${version_file}"
log "built in $((SECONDS - start)) s: ${runsc}"

if [[ "${LIBSANDBOX_RUNSC_KEEP_GOCACHE:-0}" != 1 ]]; then
  "${go_bin}" clean -cache >/dev/null 2>&1 || true
  rm -rf "${GOCACHE}"
fi

echo "${runsc}"
