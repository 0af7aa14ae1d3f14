//! Whether the NVIDIA driver is installed: NVENC needs its libcuda, and libtorch seeing no GPU
//! with a driver present means the driver is too old for it. Both ends ask; neither FFmpeg
//! ("generic error") nor libtorch (0 devices) says why on its own.

use std::ffi::CString;

/// The driver's `libcuda.so.1` can be loaded.
pub fn driver_present() -> bool {
    let Ok(name) = CString::new("libcuda.so.1") else {
        return false;
    };
    // SAFETY: dlopen with a valid C string; the handle is closed right away.
    unsafe {
        let handle = libc::dlopen(name.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL);
        if handle.is_null() {
            false
        } else {
            libc::dlclose(handle);
            true
        }
    }
}
