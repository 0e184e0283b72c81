#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what xlvs needs to build, test and run on a fresh Debian machine.
set -euo pipefail
pkgs=(clang llvm libbpf-dev bpftool iproute2 iputils-ping ethtool util-linux procps python3)
# The benchmarks' peers and perf (bench/, and their smoke runs in make test): peers run only inside the
# namespaces a benchmark makes, never as a system service.
pkgs+=(nftables conntrack haproxy nginx-light wrk linux-perf keepalived)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the packages' services (nginx, haproxy) from starting on the host: policy-rc.d says no.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
