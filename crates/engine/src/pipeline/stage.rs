//! What every pipeline stage shares: a named thread whose panic becomes a value (never a
//! silent end of stream), and an explicit end-of-stream marker, so a consumer can tell "the
//! producer finished" from "the producer died" when a channel closes.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;

/// One message between stages: an item, or the producer's explicit end of stream. A channel
/// that closes without `End` means the producer failed: outputs are abandoned, not finalised.
pub(crate) enum Flow<T> {
    Item(T),
    End,
}

/// A stage thread that panicked: its name and the panic's message.
#[derive(Debug, Clone)]
pub struct StagePanic {
    pub stage: String,
    pub message: String,
}

impl std::fmt::Display for StagePanic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the {} stage panicked: {}", self.stage, self.message)
    }
}

/// A running stage.
pub(crate) struct Stage<T> {
    name: String,
    handle: thread::JoinHandle<Result<T, StagePanic>>,
}

/// Start `body` on a thread called `name`; a panic in it is caught and returned by `join`.
pub(crate) fn spawn_stage<T: Send + 'static>(
    name: impl Into<String>,
    body: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<Stage<T>> {
    let name = name.into();
    let stage = name.clone();
    let handle = thread::Builder::new().name(name.clone()).spawn(move || {
        catch_unwind(AssertUnwindSafe(body)).map_err(|payload| StagePanic {
            stage,
            message: panic_message(payload),
        })
    })?;
    Ok(Stage { name, handle })
}

impl<T> Stage<T> {
    pub(crate) fn join(self) -> Result<T, StagePanic> {
        match self.handle.join() {
            Ok(result) => result,
            // Unreachable in practice (the panic is caught inside), kept for completeness.
            Err(payload) => Err(StagePanic {
                stage: self.name,
                message: panic_message(payload),
            }),
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_stage_is_reported_with_its_name_and_message() {
        let stage = spawn_stage("sr-7", || -> u32 {
            panic!("shape mismatch at frame {}", 11)
        })
        .unwrap();
        let panic = stage.join().unwrap_err();
        assert_eq!(panic.stage, "sr-7");
        assert_eq!(panic.message, "shape mismatch at frame 11");
        assert_eq!(
            panic.to_string(),
            "the sr-7 stage panicked: shape mismatch at frame 11"
        );
    }

    #[test]
    fn a_finishing_stage_returns_its_value_and_runs_on_a_named_thread() {
        let stage =
            spawn_stage("decode-1", || thread::current().name().map(str::to_owned)).unwrap();
        assert_eq!(stage.join().unwrap().as_deref(), Some("decode-1"));
    }
}
