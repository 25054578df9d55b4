#!/bin/bash
# ApplicationStop: stop Apache if it is installed and running.
# CodeDeploy runs this hook from the previously deployed revision, so it must cope with an
# instance where httpd was never installed.
set -euo pipefail

if systemctl is-active --quiet httpd 2>/dev/null; then
  systemctl stop httpd
  echo "httpd stopped"
else
  echo "httpd not running; nothing to stop"
fi
