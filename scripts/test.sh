#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
[[ -f "$HOME/.cargo/env" ]] && source "$HOME/.cargo/env"

echo "== independent I2_S vector (numpy) reproduces the committed fixture"
.venv/bin/python tests/python/gen_i2s_vector.py - | cmp - tests/fixtures/i2s_layout_vector.json

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release --locked -- -D warnings

echo "== alert rules and Alertmanager example"
promtool check rules alerts/perfd.rules.yml
promtool test rules alerts/tests/*.yml
amtool check-config alerts/alertmanager.example.yml

echo "== tests (release: the numeric tests are heavy)"
cargo test --workspace --release --locked

echo "== alerts and dashboards against real perfd, Prometheus and Alertmanager"
python3 tests/observability/real_servers.py --perfd target/release/perfd
