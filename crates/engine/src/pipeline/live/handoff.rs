//! How live frames change hands between stages without building latency: a queue in front of
//! SR that drops its oldest item when full, and a display slot that keeps only the newest
//! input/output pair. Both count what they throw away.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::frame::YuvFrame;

/// The newest input/output pair, for a screen.
pub struct DisplayFrame {
    pub input: Arc<YuvFrame>,
    /// The super-resolved frame, or (when SR had no time for this frame) a cheap upscale or
    /// the input itself, for the view to scale.
    pub output: Arc<YuvFrame>,
    pub super_resolved: bool,
    pub pts_us: i64,
    pub sequence: u64,
}

/// Newest-frame-wins hand-over to a display: the producer replaces, the consumer takes.
#[derive(Default)]
pub struct DisplaySlot {
    newest: Mutex<Option<DisplayFrame>>,
    /// Frames replaced before anyone took them.
    pub replaced: AtomicU64,
    /// Called after each put (the GUI's repaint request), so the screen never polls.
    waker: Option<Box<dyn Fn() + Send + Sync>>,
}

impl DisplaySlot {
    pub fn with_waker(waker: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            waker: Some(Box::new(waker)),
            ..Self::default()
        }
    }

    pub fn put(&self, frame: DisplayFrame) {
        let mut slot = self.newest.lock().unwrap_or_else(|p| p.into_inner());
        if slot.replace(frame).is_some() {
            self.replaced.fetch_add(1, Ordering::Relaxed);
        }
        drop(slot);
        if let Some(wake) = &self.waker {
            wake();
        }
    }

    pub fn take(&self) -> Option<DisplayFrame> {
        self.newest.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The queue in front of SR: bounded, and a full queue drops its oldest item.
pub(crate) struct NewestWinsQueue<T> {
    state: Mutex<QueueState<T>>,
    ready: Condvar,
    capacity: usize,
}

struct QueueState<T> {
    items: VecDeque<T>,
    /// Set when no more pushes will come: `pop` returns `None` once the items run out.
    end: Option<StreamEnd>,
}

/// How the producer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamEnd {
    /// It reached the end of its stream.
    Finished,
    /// It failed or vanished (a panic): consumers must not finalise anything.
    Abandoned,
}

impl<T> NewestWinsQueue<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            state: Mutex::new(QueueState {
                items: VecDeque::with_capacity(capacity),
                end: None,
            }),
            ready: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns true when an older item had to be dropped to make room.
    pub(crate) fn push(&self, item: T) -> bool {
        let mut state = self.lock();
        let dropped = state.items.len() >= self.capacity && state.items.pop_front().is_some();
        state.items.push_back(item);
        self.ready.notify_one();
        dropped
    }

    /// The producer reached the end of its stream.
    pub(crate) fn finish(&self) {
        self.end_with(StreamEnd::Finished);
    }

    /// The producer failed; a first end (a normal finish) is kept.
    pub(crate) fn abandon(&self) {
        self.end_with(StreamEnd::Abandoned);
    }

    fn end_with(&self, end: StreamEnd) {
        self.lock().end.get_or_insert(end);
        self.ready.notify_all();
    }

    /// True when the producer finished normally (false while it runs or after it failed).
    pub(crate) fn ended_cleanly(&self) -> bool {
        self.lock().end == Some(StreamEnd::Finished)
    }

    /// Next item; `None` once closed and empty.
    pub(crate) fn pop(&self) -> Option<T> {
        let mut state = self.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                return Some(item);
            }
            if state.end.is_some() {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Items it holds before dropping its oldest.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

/// The producing side of a [`NewestWinsQueue`]: dropping it without [`QueueProducer::finish`]
/// (an early return, a panic unwinding the stage) abandons the queue, so the consumer wakes up
/// and knows the stream did not end normally.
pub(crate) struct QueueProducer<T>(pub(crate) Arc<NewestWinsQueue<T>>);

impl<T> QueueProducer<T> {
    pub(crate) fn finish(self) {
        self.0.finish();
    }
}

impl<T> std::ops::Deref for QueueProducer<T> {
    type Target = NewestWinsQueue<T>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<T> Drop for QueueProducer<T> {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ColorInfo;
    use std::sync::atomic::AtomicUsize;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn a_full_queue_drops_its_oldest_items_and_says_so() {
        let queue = NewestWinsQueue::new(2);
        assert!(!queue.push(1));
        assert!(!queue.push(2));
        assert!(queue.push(3), "the third push must drop frame 1");
        assert!(queue.push(4), "the fourth push must drop frame 2");
        assert_eq!(queue.len(), 2);
        queue.finish();
        assert_eq!(queue.pop(), Some(3));
        assert_eq!(queue.pop(), Some(4));
        assert_eq!(queue.pop(), None);
    }

    #[test]
    fn capacity_zero_still_holds_the_newest_item() {
        let queue = NewestWinsQueue::new(0);
        assert!(!queue.push("a"));
        assert!(queue.push("b"));
        queue.finish();
        assert_eq!(queue.pop(), Some("b"));
        assert_eq!(queue.pop(), None);
    }

    #[test]
    fn pop_waits_for_a_push_and_ends_after_close() {
        let queue = Arc::new(NewestWinsQueue::new(4));
        let consumer = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || std::iter::from_fn(|| queue.pop()).collect::<Vec<_>>())
        };
        thread::sleep(Duration::from_millis(50));
        for i in 0..3 {
            queue.push(i);
            thread::sleep(Duration::from_millis(5));
        }
        queue.finish();
        // Every item pushed before the end arrives, in order, then the consumer ends.
        assert_eq!(consumer.join().unwrap(), vec![0, 1, 2]);
        assert!(queue.ended_cleanly());
    }

    #[test]
    fn a_producer_that_dies_abandons_the_queue_and_wakes_the_consumer() {
        let queue = Arc::new(NewestWinsQueue::new(2));
        let consumer = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || std::iter::from_fn(|| queue.pop()).count())
        };
        let producer = QueueProducer(Arc::clone(&queue));
        let died = thread::spawn(move || {
            producer.push(1);
            panic!("decoder exploded");
        });
        assert!(died.join().is_err());
        assert_eq!(
            consumer.join().unwrap(),
            1,
            "the consumer ends instead of waiting forever"
        );
        assert!(!queue.ended_cleanly());
        queue.finish();
        assert!(!queue.ended_cleanly(), "the first end is kept");
    }

    #[test]
    fn a_finished_producer_ends_cleanly() {
        let queue = Arc::new(NewestWinsQueue::<u8>::new(2));
        QueueProducer(Arc::clone(&queue)).finish();
        assert!(queue.ended_cleanly());
        assert_eq!(queue.pop(), None);
    }

    fn pair(sequence: u64) -> DisplayFrame {
        let frame = Arc::new(YuvFrame::filled(
            4,
            4,
            16,
            128,
            128,
            ColorInfo::default_for_height(4),
        ));
        DisplayFrame {
            input: Arc::clone(&frame),
            output: frame,
            super_resolved: true,
            pts_us: sequence as i64 * 33_333,
            sequence,
        }
    }

    #[test]
    fn display_slot_keeps_the_newest_pair_counts_replacements_and_wakes() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let slot = {
            let wakes = Arc::clone(&wakes);
            DisplaySlot::with_waker(move || {
                wakes.fetch_add(1, Ordering::Relaxed);
            })
        };
        assert!(slot.take().is_none());
        slot.put(pair(1));
        slot.put(pair(2));
        slot.put(pair(3));
        assert_eq!(wakes.load(Ordering::Relaxed), 3);
        assert_eq!(slot.replaced.load(Ordering::Relaxed), 2);
        let shown = slot.take().expect("a frame was put");
        assert_eq!(shown.sequence, 3);
        assert!(slot.take().is_none(), "a taken frame is not shown twice");
        slot.put(pair(4));
        assert_eq!(
            slot.replaced.load(Ordering::Relaxed),
            2,
            "nothing was replaced"
        );
    }
}
