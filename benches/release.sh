# Sourced by the benches that time the release binary (from the repository's top level):
# builds it, and sets CUTOVER to its path.
echo "== building (release)"
cargo build --release -q
CUTOVER=$PWD/target/release/cutover
