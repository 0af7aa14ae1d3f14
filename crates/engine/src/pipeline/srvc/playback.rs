//! Decoding an SRVC file is upscaling it: the model stream attached to the file names its base
//! model, and the weights change at each segment's first frame. A segment that fails its
//! checksum is skipped with a warning (the previous weights stay); a missing base model, other
//! base weights, or another scale or architecture are refused before any frame is upscaled.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::media::attachment::read_attachment;
use crate::media::MediaError;
use crate::sr::model::{SrModel, Weights};
use crate::sr::srvc::{apply, FlatWeights, Segment, StreamError, StreamHeader, StreamReader};
use crate::sr::SrError;

/// The attachment's MIME type and file name inside the Matroska file.
pub const SRVC_MIMETYPE: &str = "application/x-stronglive-srvc";
pub const SRVC_FILENAME: &str = "model-stream.srvc";

/// Why an SRVC file cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum SrvcPlaybackError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("{}: model stream: {source}", path.display())]
    Stream { path: PathBuf, source: StreamError },
    #[error("{}: the model stream needs the base model {base}, which cannot be loaded: {source}", path.display())]
    MissingBase {
        path: PathBuf,
        base: String,
        source: SrError,
    },
    #[error("{}: the model stream was made for {what}; the base model here has {found}", path.display())]
    WrongBase {
        path: PathBuf,
        what: String,
        found: String,
    },
}

/// What a file's model stream says, for `probe`.
#[derive(Debug, Clone)]
pub struct SrvcSummary {
    pub base: String,
    pub bytes: usize,
    pub segments: usize,
    pub damaged_segments: usize,
}

/// The stream's bytes, if `path` carries one.
pub fn model_stream_of(path: &Path) -> Result<Option<Vec<u8>>, MediaError> {
    read_attachment(path, SRVC_MIMETYPE)
}

/// Summarise the model stream of `path` (segments, bytes, base), if it has one.
pub fn summarise(path: &Path) -> Result<Option<SrvcSummary>, SrvcPlaybackError> {
    let Some(bytes) = model_stream_of(path)? else {
        return Ok(None);
    };
    let mut reader = StreamReader::new(&bytes).map_err(|source| SrvcPlaybackError::Stream {
        path: path.to_path_buf(),
        source,
    })?;
    let (mut segments, mut damaged) = (0, 0);
    while let Some(segment) = reader.next_segment() {
        segments += 1;
        damaged += usize::from(segment.is_err());
    }
    Ok(Some(SrvcSummary {
        base: reader.header.base.clone(),
        bytes: bytes.len(),
        segments,
        damaged_segments: damaged,
    }))
}

/// The weights schedule of an SRVC file, applied frame by frame.
pub struct SrvcPlayback {
    path: PathBuf,
    header: StreamHeader,
    /// The base model's weights, for segments that start again from them.
    base: Vec<f32>,
    current: FlatWeights,
    pending: VecDeque<(usize, Result<Segment, StreamError>)>,
}

impl SrvcPlayback {
    /// Parse `bytes` (the model stream of `path`) and check it against `base` (the model its
    /// header names, already loaded).
    pub fn new(path: &Path, bytes: &[u8], base: &dyn SrModel) -> Result<Self, SrvcPlaybackError> {
        let stream_err = |source| SrvcPlaybackError::Stream {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = StreamReader::new(bytes).map_err(stream_err)?;
        let wrong = |what: String, found: String| SrvcPlaybackError::WrongBase {
            path: path.to_path_buf(),
            what,
            found,
        };
        let header = reader.header.clone();
        let network = base.as_network().ok_or_else(|| {
            wrong(
                format!("network {}", header.base),
                "no learnable network".into(),
            )
        })?;
        let card = network.card();
        if card.scale != header.scale || card.architecture != header.architecture {
            return Err(wrong(
                format!("x{} {}", header.scale, header.architecture),
                format!("x{} {}", card.scale, card.architecture),
            ));
        }
        let current = FlatWeights::of(network.file_weights()).map_err(|source| {
            SrvcPlaybackError::MissingBase {
                path: path.to_path_buf(),
                base: header.base.clone(),
                source,
            }
        })?;
        let hash = current.sha256();
        if hash != header.base_sha256 {
            return Err(wrong(
                format!(
                    "weights with hash {}",
                    &header.base_sha256[..16.min(header.base_sha256.len())]
                ),
                format!("hash {}", &hash[..16]),
            ));
        }
        let mut pending = VecDeque::new();
        let mut index = 0;
        while let Some(segment) = reader.next_segment() {
            pending.push_back((index, segment));
            index += 1;
        }
        Ok(Self {
            path: path.to_path_buf(),
            header,
            base: current.values.clone(),
            current,
            pending,
        })
    }

    pub fn base(&self) -> &str {
        &self.header.base
    }

    /// The weights to use from the frame at `pts_us` on, when they change there.
    pub fn weights_at(&mut self, pts_us: i64) -> Option<Weights> {
        let mut changed = false;
        while let Some((index, next)) = self.pending.front() {
            let starts = match next {
                Ok(segment) => segment.start_pts_us,
                // A damaged segment's start is unknown: skip it when the next one is due.
                Err(_) => i64::MIN,
            };
            if starts > pts_us {
                break;
            }
            let (index, next) = (*index, self.pending.pop_front().expect("front exists").1);
            let weights = &mut self.current.values;
            match next.and_then(|s| apply(&self.header, &self.base, weights, &s, index)) {
                Ok(()) => changed = true,
                Err(e) => tracing::warn!(
                    "{}: {e}; keeping the previous segment's weights",
                    self.path.display()
                ),
            }
        }
        changed.then(|| self.current.to_weights(0))
    }
}
