//! (to be written: see the module list in src/lib.rs)
