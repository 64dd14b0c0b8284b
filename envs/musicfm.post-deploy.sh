#!/usr/bin/env bash
# Runs once after Snakemake creates envs/musicfm.yaml (--sdm conda). MusicFM is a repository
# imported as `musicfm` from its parent directory (it has no setup.py), so it is cloned into the
# env at a pinned commit (the newest seen in the public index) and that parent directory is added
# to the env's site-packages through a .pth file.
set -euo pipefail
commit=b83ebedb401bcef639b26b05c0c8bee1dc2dfe71
parent="${CONDA_PREFIX}/src"
mkdir -p "${parent}"
rm -rf "${parent}/musicfm"
git clone --quiet https://github.com/minzwon/musicfm.git "${parent}/musicfm"
git -C "${parent}/musicfm" checkout --quiet "${commit}"
site_packages="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "${parent}" > "${site_packages}/musicfm-checkout.pth"
python -c "import musicfm.model.musicfm_25hz"
