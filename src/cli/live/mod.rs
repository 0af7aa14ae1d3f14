//! `stronglive pair`, `serve` and `send`: the live path from a terminal (feature `media`).
//! One file per command; `serve` prints the pairing code as `pair` does.

mod pair;
mod send;
mod serve;

pub use pair::{pair, PairArgs};
pub use send::{send, SendArgs};
pub use serve::{serve, ServeArgs};
