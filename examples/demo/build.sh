#!/usr/bin/env bash
# Build the demo service for $VERSION at $COMMIT into $ARTIFACT_DIR:
# copy the app, bake the version's behaviour, and scan it with bandit (SARIF).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${ARTIFACT_DIR:?ARTIFACT_DIR must be set}" "${VERSION:?VERSION must be set}"
mkdir -p "$ARTIFACT_DIR"
echo "building demo $VERSION (commit ${COMMIT:-unknown})"
cp "$here/app.py" "$ARTIFACT_DIR/app.py"
if [ -f "$here/releases/$VERSION.json" ]; then
  cp "$here/releases/$VERSION.json" "$ARTIFACT_DIR/behaviour.json"
else
  echo '{}' > "$ARTIFACT_DIR/behaviour.json"
fi
echo "behaviour: $(cat "$ARTIFACT_DIR/behaviour.json")"
python -m bandit --quiet --exit-zero -f sarif -o "$ARTIFACT_DIR/bandit.sarif" "$ARTIFACT_DIR/app.py"
echo "scan report: $ARTIFACT_DIR/bandit.sarif"
