#!/usr/bin/env bash
# Builds the real servers hugemap's tests run against (no Docker here):
#   ferretdb  MongoDB wire protocol on SQLite  (tools/ferretdb, FerretDB v1)
#   minio     S3                               (built from the Go module proxy)
#   versitygw S3 on plain files, a lighter server (built from the Go module proxy):
#             the benchmark's second service-path contender (bench/run.ts)
# and rclone, the upload half of the benchmark's shell-script baseline
# (bench/shell-script.ts: vips dzsave, then rclone copy to S3),
# and for the Helm chart's test (test/helm.test.ts): helm and kubeconform, plus
# Kubernetes' OpenAPI document (from the k8s.io/kubernetes Go module, into
# k8s-openapi/), since kubeconform's own schema catalogue needs the network,
# into ${HUGEMAP_TOOLS_DIR:-$HOME/.cache/hugemap-tools}/bin. Redis comes from
# the Debian package. Idempotent: a binary whose stamp file names the pinned
# version is kept, so a second run takes a second.
#
# Needs Go >= 1.24. When `go` is missing or older, the pinned Go toolchain is
# fetched from the Go module proxy (it is published there as the module
# golang.org/toolchain) into the cache dir, so a bare Debian 12 works too.
set -euo pipefail

FERRETDB_VERSION=v1.24.2                          # must match tools/ferretdb/go.mod
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c  # MinIO master of 2026-02-12
RCLONE_VERSION=v1.76.0
VERSITYGW_VERSION=v1.8.0
HELM_VERSION=v4.3.2
KUBECONFORM_VERSION=v0.8.0
KUBERNETES_OPENAPI_VERSION=v1.37.2                # the Kubernetes release whose API the chart is validated against
GO_BOOTSTRAP_VERSION=1.26.8                       # only used when no usable go is installed
GO_MIN_MINOR=24

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${HUGEMAP_TOOLS_DIR:-$HOME/.cache/hugemap-tools}
BIN_DIR=$TOOLS_DIR/bin
mkdir -p "$BIN_DIR"

log() { echo "build-test-servers: $*" >&2; }

go_is_usable() {
  command -v go >/dev/null 2>&1 || return 1
  local v minor
  v=$(go env GOVERSION 2>/dev/null) || return 1   # e.g. go1.26.8
  minor=$(echo "$v" | sed -nE 's/^go1\.([0-9]+).*/\1/p')
  [[ -n "$minor" && "$minor" -ge "$GO_MIN_MINOR" ]]
}

ensure_go() {
  if go_is_usable; then return; fi
  local goroot=$TOOLS_DIR/go$GO_BOOTSTRAP_VERSION
  if [[ ! -x "$goroot/bin/go" ]]; then
    local arch
    case "$(uname -m)" in
      x86_64) arch=amd64 ;;
      aarch64 | arm64) arch=arm64 ;;
      *) log "no Go >= 1.$GO_MIN_MINOR and no toolchain for $(uname -m)"; exit 1 ;;
    esac
    local url="https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$GO_BOOTSTRAP_VERSION.linux-$arch.zip"
    log "fetching Go $GO_BOOTSTRAP_VERSION from $url"
    local tmp
    tmp=$(mktemp -d)
    curl -fsSL --retry 3 -o "$tmp/go.zip" "$url"
    unzip -q "$tmp/go.zip" -d "$tmp"
    # The zip holds golang.org/toolchain@.../ with a normal GOROOT inside.
    chmod -R u+w "$tmp"
    rm -rf "$goroot"
    mv "$tmp"/golang.org/toolchain@*/ "$goroot"
    chmod +x "$goroot"/bin/* "$goroot"/pkg/tool/*/*
    rm -rf "$tmp"
  fi
  export PATH="$goroot/bin:$PATH"
  export GOTOOLCHAIN=local
  go_is_usable || { log "bootstrapped Go at $goroot does not work"; exit 1; }
}

# A binary is up to date when its stamp matches exactly what we would build.
is_current() { [[ -x "$BIN_DIR/$1" && -f "$BIN_DIR/$1.version" && "$(cat "$BIN_DIR/$1.version")" == "$2" ]]; }

build_ferretdb() {
  local src=$REPO_DIR/tools/ferretdb
  grep -q "github.com/FerretDB/FerretDB $FERRETDB_VERSION\$" "$src/go.mod" ||
    { log "tools/ferretdb/go.mod does not pin FerretDB $FERRETDB_VERSION"; exit 1; }
  # The stamp covers our main package too, so editing it triggers a rebuild.
  local stamp
  stamp="$FERRETDB_VERSION $(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)"
  if is_current ferretdb "$stamp"; then log "ferretdb up to date ($stamp)"; return; fi
  ensure_go
  log "building ferretdb $FERRETDB_VERSION"
  local start=$SECONDS
  (cd "$src" && GOFLAGS=-buildvcs=false go build -o "$BIN_DIR/ferretdb.tmp" .)
  mv "$BIN_DIR/ferretdb.tmp" "$BIN_DIR/ferretdb"
  echo "$stamp" >"$BIN_DIR/ferretdb.version"
  log "ferretdb built in $((SECONDS - start))s"
}

# `go install MODULE@VERSION` of a main package into BIN_DIR/NAME, stamped with VERSION.
build_go_install() {
  local name=$1 module=$2 version=$3
  if is_current "$name" "$version"; then log "$name up to date ($version)"; return; fi
  ensure_go
  log "building $name $version (several minutes on 2 cores)"
  local start=$SECONDS tmp
  tmp=$(mktemp -d)
  GOBIN=$tmp GOFLAGS=-buildvcs=false go install "$module@$version"
  mv "$tmp/$name" "$BIN_DIR/$name"
  rmdir "$tmp"
  echo "$version" >"$BIN_DIR/$name.version"
  log "$name built in $((SECONDS - start))s"
}

# Kubernetes' OpenAPI document (api/openapi-spec/swagger.json of the k8s.io/kubernetes module,
# a 21 MB module download) as k8s-openapi/swagger.json, stamped with its release.
fetch_kubernetes_openapi() {
  local dir=$TOOLS_DIR/k8s-openapi
  if [[ -f "$dir/swagger.json" && "$(cat "$dir/swagger.json.version" 2>/dev/null)" == "$KUBERNETES_OPENAPI_VERSION" ]]; then
    log "kubernetes openapi up to date ($KUBERNETES_OPENAPI_VERSION)"
    return
  fi
  ensure_go
  log "fetching the Kubernetes $KUBERNETES_OPENAPI_VERSION OpenAPI document (k8s.io/kubernetes module)"
  local moddir
  moddir=$(cd "$TOOLS_DIR" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBERNETES_OPENAPI_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -f "$moddir/api/openapi-spec/swagger.json" ]] || { log "no api/openapi-spec/swagger.json in $moddir"; exit 1; }
  mkdir -p "$dir"
  cp "$moddir/api/openapi-spec/swagger.json" "$dir/swagger.json.tmp"
  mv "$dir/swagger.json.tmp" "$dir/swagger.json"
  echo "$KUBERNETES_OPENAPI_VERSION" >"$dir/swagger.json.version"
}

build_ferretdb
build_go_install minio github.com/minio/minio "$MINIO_VERSION"
build_go_install rclone github.com/rclone/rclone "$RCLONE_VERSION"
build_go_install versitygw github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION"
build_go_install helm helm.sh/helm/v4/cmd/helm "$HELM_VERSION"
build_go_install kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
fetch_kubernetes_openapi
log "binaries in $BIN_DIR"
