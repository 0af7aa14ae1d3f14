//! Frame-parallel SR for offline jobs: several SR lanes (a named thread each, its own model
//! copy), frames dealt round-robin and collected back in order. On a CPU, two one-thread lanes
//! beat one two-thread lane by 1.2-1.3x (FMEN at 480x270 on 2 cores: libtorch synchronises its
//! threads after each of ~50 small ops per frame; lanes never wait on each other), and a
//! one-thread lane never spins waiting for OpenMP work while the encoder wants the core.

use std::collections::VecDeque;

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::frame::YuvFrame;
use crate::sr::{ComputeDevice, SrError, Upscaler};

use crate::pipeline::stage::{spawn_stage, Stage};

/// How many lanes, and libtorch's intra-op threads in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanePlan {
    pub lanes: usize,
    pub threads_each: usize,
}

impl LanePlan {
    /// One lane on a GPU (it parallelises inside each frame); on a CPU one lane per core up to
    /// four (each lane holds a model and a frame's activations), the cores shared among them.
    pub fn for_device(device: &ComputeDevice) -> Self {
        if device.is_cuda() {
            return Self {
                lanes: 1,
                threads_each: 0,
            };
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let lanes = cores.clamp(1, 4);
        Self {
            lanes,
            threads_each: (cores / lanes).max(1),
        }
    }

    pub fn single() -> Self {
        Self {
            lanes: 1,
            threads_each: 0,
        }
    }
}

/// What a lane does to each frame it is given (upscale it, switching weights first if needed).
pub type LaneWork = Box<dyn FnMut(YuvFrame) -> Result<YuvFrame, SrError> + Send>;

struct Lane {
    frames: Sender<YuvFrame>,
    results: Receiver<Result<YuvFrame, SrError>>,
    stage: Stage<()>,
}

/// Lanes running; `submit` deals frames out, `next_result` takes them back in submission order.
pub struct SrLanes {
    lanes: Vec<Lane>,
    /// Lane of each frame submitted and not yet collected, oldest first.
    in_flight: VecDeque<usize>,
    next_lane: usize,
}

/// A lane stopped without a result (its thread panicked or ended early).
#[derive(Debug, thiserror::Error)]
#[error("SR lane {lane} stopped: {reason}")]
pub struct LaneStopped {
    pub lane: usize,
    pub reason: String,
}

impl SrLanes {
    /// One lane per `work` item, each on a thread named `sr-N` with `threads_each` libtorch
    /// threads (0: libtorch's default).
    pub fn start(works: Vec<LaneWork>, threads_each: usize) -> std::io::Result<Self> {
        let mut lanes = Vec::new();
        for (index, mut work) in works.into_iter().enumerate() {
            let (frames, frame_rx) = bounded::<YuvFrame>(1);
            let (result_tx, results) = bounded(1);
            let stage = spawn_stage(format!("sr-{}", index + 1), move || {
                if threads_each > 0 {
                    // per thread: OpenMP's thread count is a property of the calling thread
                    crate::sr::set_cpu_threads(threads_each as i32);
                }
                for frame in frame_rx.iter() {
                    let result = work(frame);
                    let failed = result.is_err();
                    if result_tx.send(result).is_err() || failed {
                        return;
                    }
                }
            })?;
            lanes.push(Lane {
                frames,
                results,
                stage,
            });
        }
        Ok(Self {
            lanes,
            in_flight: VecDeque::new(),
            next_lane: 0,
        })
    }

    pub fn len(&self) -> usize {
        self.lanes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Frames given out and not yet taken back.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Give a frame to the next lane (waits while that lane is busy with an earlier one).
    pub fn submit(&mut self, frame: YuvFrame) -> Result<(), LaneStopped> {
        let lane = self.next_lane;
        self.next_lane = (lane + 1) % self.lanes.len();
        self.lanes[lane]
            .frames
            .send(frame)
            .map_err(|_| self.stopped(lane))?;
        self.in_flight.push_back(lane);
        Ok(())
    }

    /// The oldest submitted frame's result; `None` when nothing is in flight.
    pub fn next_result(&mut self) -> Option<Result<Result<YuvFrame, SrError>, LaneStopped>> {
        let lane = self.in_flight.pop_front()?;
        Some(
            self.lanes[lane]
                .results
                .recv()
                .map_err(|_| self.stopped(lane)),
        )
    }

    fn stopped(&self, lane: usize) -> LaneStopped {
        LaneStopped {
            lane: lane + 1,
            reason: "its thread ended before returning the frame".into(),
        }
    }

    /// Close the lanes and wait for their threads; a panic is reported with the lane's name.
    pub fn finish(self) -> Result<(), LaneStopped> {
        let mut first_panic = None;
        for (index, lane) in self.lanes.into_iter().enumerate() {
            drop(lane.frames);
            if let Err(panic) = lane.stage.join() {
                first_panic.get_or_insert(LaneStopped {
                    lane: index + 1,
                    reason: panic.to_string(),
                });
            }
        }
        first_panic.map_or(Ok(()), Err)
    }
}

/// A lane's work: upscale with `upscaler`.
pub fn upscale_work(upscaler: Upscaler) -> LaneWork {
    Box::new(move |frame| upscaler.upscale(&frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ColorInfo;

    fn frame(n: i64) -> YuvFrame {
        let mut f = YuvFrame::filled(4, 4, 0, 128, 128, ColorInfo::default_for_height(4));
        f.pts = Some(n);
        f
    }

    /// Lanes of very different speeds still hand frames back in the order they were given.
    #[test]
    fn results_come_back_in_submission_order() {
        let works: Vec<LaneWork> = (0..3u64)
            .map(|lane| -> LaneWork {
                Box::new(move |f| {
                    std::thread::sleep(std::time::Duration::from_millis(9 - 3 * lane));
                    Ok(f)
                })
            })
            .collect();
        let mut lanes = SrLanes::start(works, 1).unwrap();
        let mut order = Vec::new();
        for n in 0..20 {
            lanes.submit(frame(n)).unwrap();
            if lanes.in_flight() == lanes.len() {
                order.push(lanes.next_result().unwrap().unwrap().unwrap().pts);
            }
        }
        while let Some(result) = lanes.next_result() {
            order.push(result.unwrap().unwrap().pts);
        }
        lanes.finish().unwrap();
        assert_eq!(order, (0..20).map(Some).collect::<Vec<_>>());
    }

    /// A lane that panics is reported by number, not as a silent end of frames.
    #[test]
    fn a_panicking_lane_is_named() {
        let works: Vec<LaneWork> = vec![Box::new(Ok), Box::new(|_| panic!("model exploded"))];
        let mut lanes = SrLanes::start(works, 1).unwrap();
        lanes.submit(frame(0)).unwrap();
        lanes.submit(frame(1)).unwrap();
        assert!(lanes.next_result().unwrap().is_ok());
        let stopped = lanes.next_result().unwrap().unwrap_err();
        assert_eq!(stopped.lane, 2);
        let panic = lanes.finish().unwrap_err();
        assert!(panic.reason.contains("model exploded"), "{panic}");
    }
}
