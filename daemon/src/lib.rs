//! perfd: benchmarks a BitNet b1.58 inference engine and reports honest, reproducible figures.
#![forbid(unsafe_code)]
