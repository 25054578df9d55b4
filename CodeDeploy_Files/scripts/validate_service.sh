#!/bin/bash
# ValidateService: the deployment succeeds only when the new page is served.
set -euo pipefail

url="http://localhost/"
for _ in $(seq 1 20); do
  if curl --silent --fail --max-time 5 "$url" | grep -q "invisible-pipeline sample"; then
    echo "page served at $url"
    exit 0
  fi
  sleep 3
done
echo "the sample page is not served at $url" >&2
exit 1
