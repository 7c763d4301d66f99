# The one way the shipped binaries are built, sourced by ci/test.sh, ci/quickstart.sh and
# ci/release.sh: Cargo keys its build cache on RUSTFLAGS, so one value means one build.
# - static glibc: watt and the stub start on any x86-64 Linux, whatever libc the host or image has
#   (with an explicit --target, RUSTFLAGS reach only target code, so proc-macros still build);
# - the Cargo home's path remapped: panic locations in dependencies would otherwise name this
#   machine's folders, and the binaries would differ with every CARGO_HOME (CI makes a new one
#   per run).
WATT_TARGET=x86_64-unknown-linux-gnu
export RUSTFLAGS="-C target-feature=+crt-static --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
WATT_BUILD=(cargo build --locked --release --target "$WATT_TARGET")
