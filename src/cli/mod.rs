//! The command-line tools: each file is one family of commands, built only from the engine's
//! public API (no direct libtorch or FFmpeg calls: those belong to `sr` and `media`).
//! `main.rs` parses the command line and dispatches here.

#[cfg(feature = "media")]
pub mod adapt;
#[cfg(feature = "media")]
pub mod bench;
#[cfg(feature = "media")]
mod bench_reference;
#[cfg(feature = "media")]
mod bench_util;
pub mod eval;
#[cfg(feature = "media")]
mod fill_bench;
#[cfg(feature = "media")]
mod learn_bench;
#[cfg(feature = "media")]
pub mod live;
#[cfg(feature = "media")]
mod live_bench;
pub mod models;
#[cfg(feature = "media")]
mod plot;
#[cfg(feature = "media")]
mod protocol_bench;
#[cfg(feature = "media")]
mod soak_bench;
#[cfg(feature = "media")]
pub mod srvc;
#[cfg(feature = "media")]
pub mod upscale;

/// `WxH`, e.g. `960x540` (a clap value parser).
#[cfg(feature = "media")]
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    s.split_once('x')
        .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
        .ok_or_else(|| format!("{s:?} is not WxH (e.g. 960x540)"))
}

/// Bits per second, e.g. `40M`, `25000k`, `8000000` (a clap value parser).
#[cfg(feature = "media")]
pub fn parse_bitrate(s: &str) -> Result<u64, String> {
    let (digits, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1_000),
        Some('m' | 'M') => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    match digits.parse::<f64>() {
        Ok(v) if v > 0.0 => Ok((v * mult as f64) as u64),
        _ => Err(format!(
            "invalid bitrate {s:?}: expected e.g. 40M, 25000k or 8000000"
        )),
    }
}

#[cfg(all(test, feature = "media"))]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_bitrates_parse_or_say_what_is_wrong() {
        assert_eq!(parse_size("960x540"), Ok((960, 540)));
        assert!(parse_size("960*540").unwrap_err().contains("not WxH"));
        assert_eq!(parse_bitrate("40M"), Ok(40_000_000));
        assert_eq!(parse_bitrate("25000k"), Ok(25_000_000));
        assert_eq!(parse_bitrate("8000000"), Ok(8_000_000));
        assert!(parse_bitrate("-3M")
            .unwrap_err()
            .contains("invalid bitrate"));
    }
}

/// A progress bar drawn with `template` on stderr, hidden when stderr is not a terminal (logs
/// and pipes get the commands' printed lines only).
pub fn terminal_bar(len: u64, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}
