//! A live session's picture size while its sender changes stream size (asked with
//! TargetStreamSize, by the operator's cap or the rate controller): the session keeps the size
//! of its first pictures, and pictures of a smaller stream are scaled up to it (bicubic) before
//! SR, so the screen and the SR recording never change size mid-take.

use crate::frame::YuvFrame;
use crate::media::ingest::StreamDescription;
use crate::media::picture::{self, PictureError};

use crate::pipeline::live::port::SenderRequest;

#[derive(Debug, Default)]
pub(crate) struct StreamSizeKeeper {
    /// The size of the session's first picture.
    session_size: Option<(u32, u32)>,
    /// The largest stream the operator accepts (`serve --max-stream-size`).
    cap: Option<(u32, u32)>,
    /// What was last asked of the sender (asked once per stream size).
    asked: Option<(u16, u16)>,
}

impl StreamSizeKeeper {
    pub(crate) fn new(cap: Option<(u32, u32)>) -> Self {
        Self {
            cap,
            ..Self::default()
        }
    }

    /// A stream (re)configured: the request to send when it is larger than the cap.
    pub(crate) fn on_config(&mut self, stream: &StreamDescription) -> Option<SenderRequest> {
        let (max_w, max_h) = self.cap?;
        if stream.width <= max_w && stream.height <= max_h {
            return None;
        }
        let ask = (
            u16::try_from(max_w & !1).unwrap_or(u16::MAX - 1),
            u16::try_from(max_h & !1).unwrap_or(u16::MAX - 1),
        );
        (self.asked != Some(ask)).then(|| {
            self.asked = Some(ask);
            SenderRequest::StreamSize {
                width: ask.0,
                height: ask.1,
            }
        })
    }

    /// The largest stream this session takes: `size` within the operator's cap.
    pub(crate) fn capped(&self, (w, h): (u32, u32)) -> (u32, u32) {
        match self.cap {
            Some((max_w, max_h)) if w > max_w || h > max_h => (max_w & !1, max_h & !1),
            _ => (w, h),
        }
    }

    /// `frame` at the session's size (the first picture sets it).
    pub(crate) fn fit(&mut self, frame: YuvFrame) -> Result<YuvFrame, PictureError> {
        let size = (frame.width, frame.height);
        let (w, h) = *self.session_size.get_or_insert(size);
        if size == (w, h) {
            return Ok(frame);
        }
        let mut scaled = picture::resize(&frame, w, h)?;
        scaled.pts = frame.pts;
        scaled.duration = frame.duration;
        Ok(scaled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ColorInfo;

    fn stream(width: u32, height: u32) -> StreamDescription {
        StreamDescription {
            width,
            height,
            fps: 30.0,
            bitrate: 0,
            parameter_sets: Vec::new(),
        }
    }

    #[test]
    fn a_stream_over_the_cap_is_asked_down_once_and_frames_keep_the_first_size() {
        let mut keeper = StreamSizeKeeper::new(Some((640, 360)));
        assert!(keeper.on_config(&stream(640, 360)).is_none());
        assert_eq!(
            keeper.on_config(&stream(1280, 720)),
            Some(SenderRequest::StreamSize {
                width: 640,
                height: 360
            })
        );
        assert!(
            keeper.on_config(&stream(1280, 720)).is_none(),
            "asked twice"
        );
        let color = ColorInfo::default_for_height(360);
        let first = keeper
            .fit(YuvFrame::filled(1280, 720, 90, 128, 128, color))
            .unwrap();
        assert_eq!((first.width, first.height), (1280, 720));
        let mut small = YuvFrame::filled(640, 360, 90, 128, 128, color);
        small.pts = Some(42);
        let fitted = keeper.fit(small).unwrap();
        assert_eq!(
            (fitted.width, fitted.height, fitted.pts),
            (1280, 720, Some(42))
        );
        assert!(fitted.y.iter().all(|&v| v.abs_diff(90) <= 1));
        assert!(StreamSizeKeeper::new(None)
            .on_config(&stream(4000, 2000))
            .is_none());
    }
}
