#!/bin/bash
# BeforeInstall: make sure Apache httpd is installed (Amazon Linux 2023, dnf).
# Safe to run on every deployment: installing is skipped when httpd is already there.
set -euo pipefail

if ! rpm -q httpd >/dev/null 2>&1; then
  dnf install -y httpd
fi
mkdir -p /var/www/html
