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
# The one patch (README.md): MathJax 3 has no MathJax.Hub; typeset with typesetPromise.
OLD='void 0!==window.MathJax&&MathJax.Hub.Queue(["Typeset",MathJax.Hub,e])'
[ "$(grep -o -F "$OLD" "$DEST/embed.js" | wc -l)" -eq 2 ] || { echo "embed.js: patch site not found" >&2; exit 1; }
python3 - "$DEST/embed.js" "$OLD" <<'PY'
import sys
path, old = sys.argv[1], sys.argv[2]
new = ('void 0!==window.MathJax&&(window.MathJax.typesetPromise?window.MathJax.typesetPromise([e])'
       '.catch((()=>{})):window.MathJax.Hub&&window.MathJax.Hub.Queue(["Typeset",window.MathJax.Hub,e]))')
text = open(path).read()
open(path, "w").write(text.replace(old, new))
PY
# The Font Awesome fonts the bundle's CSS loads from the script's own folder (woff2 only:
# every browser that runs the bundle reads woff2).
for font in 1551f4f60c37af51121f 7a3337626410ca2f4071 d878b0a6a1144760244f; do
  cp "package/dist/${font}.woff2" "$DEST/"
done
echo "wrote $(du -sh "$DEST" | cut -f1) to $DEST"
