//! ferrosip-bench
fn main() {}
