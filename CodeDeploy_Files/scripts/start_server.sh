#!/bin/bash
# ApplicationStart: start Apache now and at every boot.
set -euo pipefail

systemctl enable httpd
# restart rather than start: picks up a changed configuration on later deployments.
systemctl restart httpd
