# Squadron's front door. Every recipe is a thin call of cargo or of a script in scripts/.
# Install just with `pip install rust-just` if it is missing.

# List the recipes.
default:
    @just --list

# Formatting, lints and the whole test suite (what CI runs).
check:
    scripts/test

# The tests only.
test *args:
    cargo nextest run --workspace --all-targets {{args}}

# The main job on the local stand-ins.
demo *args:
    scripts/demo {{args}}

# Format every crate.
fmt:
    cargo fmt --all

# Lints with warnings as errors.
clippy:
    cargo clippy --workspace --all-targets -- -D warnings
