#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what xlvs needs to build, test and run on a fresh Debian machine.
set -euo pipefail
pkgs=(clang llvm libbpf-dev bpftool iproute2 iputils-ping ethtool util-linux procps python3)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
