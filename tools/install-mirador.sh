#!/usr/bin/env bash
# Fetches Mirador's prebuilt browser bundle (dist/mirador.min.js of the npm package
# `mirador`, pinned) into ${HUGEMAP_TOOLS_DIR:-$HOME/.cache/hugemap-tools}/mirador, for
# test/iiif-mirador.test.ts only. `npm pack` takes the package's tarball alone, without
# resolving its dependencies: `npm install mirador` is refused here (its peer
# dependency react-i18next@15 wants typescript ^5, the project has 7), and the
# project does not depend on Mirador. Idempotent: a bundle whose stamp names the
# pinned version is kept.
set -euo pipefail

MIRADOR_VERSION=4.0.0

TOOLS_DIR=${HUGEMAP_TOOLS_DIR:-$HOME/.cache/hugemap-tools}
DEST=$TOOLS_DIR/mirador
STAMP=$DEST/.version

if [[ -f $DEST/mirador.min.js && "$(cat "$STAMP" 2>/dev/null)" == "$MIRADOR_VERSION" ]]; then
  echo "mirador $MIRADOR_VERSION already in $DEST"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "mirador@$MIRADOR_VERSION" >/dev/null)
tar -xzf "$work/mirador-$MIRADOR_VERSION.tgz" -C "$work" package/dist/mirador.min.js package/LICENSE
rm -rf "$DEST"
mkdir -p "$DEST"
mv "$work/package/dist/mirador.min.js" "$work/package/LICENSE" "$DEST/"
echo "$MIRADOR_VERSION" >"$STAMP"
echo "mirador $MIRADOR_VERSION installed in $DEST"
