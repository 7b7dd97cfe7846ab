#!/usr/bin/env bash
# Re-create the vendored ipywidgets embed manager in _static/widgets from the npm registry.
# The book never runs this: the files are committed, so building needs no npm and no network.
# Run it only to check provenance or to move to another html-manager version.
set -euo pipefail
VERSION=1.0.15
SHA256=2b9d65cb7913e1c7d671757a10008b32c9c2448d4429513371e55c07d6107638
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
npm pack --loglevel=error "@jupyter-widgets/html-manager@${VERSION}" >/dev/null
TARBALL=jupyter-widgets-html-manager-${VERSION}.tgz
echo "${SHA256}  ${TARBALL}" | sha256sum --check --quiet
tar xzf "$TARBALL"
DEST="$ROOT/_static/widgets"
mkdir -p "$DEST"
cp package/dist/embed.js package/dist/embed.js.LICENSE.txt "$DEST/"
# The Font Awesome fonts the bundle's CSS loads from the script's own folder (woff2 only:
# every browser that runs the bundle reads woff2).
for font in 1551f4f60c37af51121f 7a3337626410ca2f4071 d878b0a6a1144760244f; do
  cp "package/dist/${font}.woff2" "$DEST/"
done
echo "wrote $(du -sh "$DEST" | cut -f1) to $DEST"
