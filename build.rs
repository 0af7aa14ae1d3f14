//! tch's build links libtorch but sets no run-time library path, so the binary would only run
//! with LD_LIBRARY_PATH set. torch-sys reports where it found libtorch (DEP_TCH_LIBTORCH_LIB);
//! bake that directory into our binaries' rpath. Also keep libtorch_cuda.so in the link even
//! though no symbol of ours names it: Rust links with --as-needed, which would drop it and leave
//! CUDA invisible on NVIDIA machines (on CPU-only machines the CPU-only wheel has no such library,
//! so it is only requested when present).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib_dir) = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        println!("cargo:warning=torch-sys did not report its libtorch directory; no rpath set");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    if lib_dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-search=native={}", lib_dir.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
