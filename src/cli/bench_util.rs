//! Readings shared by the `bench` modes: this process's memory and thread counts from
//! /proc/self/status (the stage and live tables print the peak, the soak samples the current).

/// Peak resident set size of this process (VmHWM), in MiB.
pub fn peak_rss_mib() -> u64 {
    proc_status_kib("VmHWM:") / 1024
}

/// A `kB` (or count) field of /proc/self/status, e.g. `VmRSS:`, `VmHWM:`, `Threads:`; 0 when
/// it cannot be read.
pub fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// `WxH` as an anyhow error, for the bench modes that parse sizes after clap.
pub fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    super::parse_size(s).map_err(anyhow::Error::msg)
}
