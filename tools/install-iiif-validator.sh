#!/usr/bin/env bash
# Installs the official IIIF Image API validator (PyPI: iiif-validator, pinned)
# into a virtual environment under ${HUGEMAP_TOOLS_DIR:-$HOME/.cache/hugemap-tools}/iiif-validator,
# for test/iiif-validator.test.ts. Idempotent: a venv whose stamp names the
# pinned version is kept. Needs python3 with venv (Debian: python3-venv).
set -euo pipefail

IIIF_VALIDATOR_VERSION=1.0.5

TOOLS_DIR=${HUGEMAP_TOOLS_DIR:-$HOME/.cache/hugemap-tools}
VENV=$TOOLS_DIR/iiif-validator
STAMP=$VENV/.version

if [[ -x $VENV/bin/iiif-validate.py && "$(cat "$STAMP" 2>/dev/null)" == "$IIIF_VALIDATOR_VERSION" ]]; then
  echo "iiif-validator $IIIF_VALIDATOR_VERSION already in $VENV"
  exit 0
fi
rm -rf "$VENV"
mkdir -p "$TOOLS_DIR"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "iiif-validator==$IIIF_VALIDATOR_VERSION"
echo "$IIIF_VALIDATOR_VERSION" >"$STAMP"
echo "iiif-validator $IIIF_VALIDATOR_VERSION installed in $VENV"
