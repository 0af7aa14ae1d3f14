//! Splitting a video into chunks that can be upscaled apart (other processes, other machines)
//! and joined by stream copy: chunk boundaries are the source's key frames, so each chunk
//! decodes on its own, and every frame belongs to exactly one chunk (by its presentation time).

use std::path::Path;

use ffmpeg_next::Packet;

use super::probe::{open_input, video_stream};
use super::MediaError;

/// Which chunk of how many: `K/N`, K from 0 (or `auto/N`: K from the environment variable a
/// cluster's array job sets, see [`ChunkSpec::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpec {
    pub index: Option<u32>,
    pub count: u32,
}

/// The variables array jobs set to the task's index, 0-based: Kubernetes Indexed Jobs, Slurm
/// arrays (`--array=0-N`), AWS Batch array jobs.
pub const INDEX_VARIABLES: [&str; 3] = [
    "JOB_COMPLETION_INDEX",
    "SLURM_ARRAY_TASK_ID",
    "AWS_BATCH_JOB_ARRAY_INDEX",
];

impl std::str::FromStr for ChunkSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--chunk {s}: expected K/N (K from 0) or auto/N, e.g. 0/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = n.parse().map_err(|_| bad())?;
        let index = match k {
            "auto" => None,
            k => Some(k.parse().map_err(|_| bad())?),
        };
        if count == 0 || index.is_some_and(|k| k >= count) {
            return Err(format!("--chunk {s}: K must be below N, N at least 1"));
        }
        Ok(Self { index, count })
    }
}

/// Why a [`ChunkSpec`] names no chunk in this process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkIndexError {
    #[error("--chunk auto/{count}: none of {} is set", INDEX_VARIABLES.join(", "))]
    NoIndexVariable { count: u32 },
    #[error("{variable}={value:?} is not a chunk index")]
    NotAnIndex {
        variable: &'static str,
        value: String,
    },
    #[error("chunk index {index} is not below the chunk count {count}")]
    OutOfRange { index: u32, count: u32 },
}

impl ChunkSpec {
    /// The chunk index: given, or read from the first array-job variable that is set.
    pub fn resolve(&self) -> Result<u32, ChunkIndexError> {
        let index = match self.index {
            Some(k) => k,
            None => {
                let (variable, value) = INDEX_VARIABLES
                    .iter()
                    .find_map(|name| Some((*name, std::env::var(name).ok()?)))
                    .ok_or(ChunkIndexError::NoIndexVariable { count: self.count })?;
                value
                    .trim()
                    .parse()
                    .map_err(|_| ChunkIndexError::NotAnIndex { variable, value })?
            }
        };
        if index >= self.count {
            return Err(ChunkIndexError::OutOfRange {
                index,
                count: self.count,
            });
        }
        Ok(index)
    }
}

/// The frames of one chunk: presentation times from `start_pts` (a key frame's, inclusive;
/// `None` = the beginning) to `end_pts` (the next chunk's start, exclusive; `None` = the end),
/// in the video stream's time base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    pub start_pts: Option<i64>,
    pub end_pts: Option<i64>,
    pub frames: u64,
    /// Presentation time of the chunk's first frame (to check a seek landed where it should).
    pub first_pts: i64,
}

impl ChunkRange {
    pub fn contains(&self, pts: i64) -> bool {
        self.start_pts.is_none_or(|s| pts >= s) && self.end_pts.is_none_or(|e| pts < e)
    }
}

/// Split `path`'s video into `count` chunks of about equal frame counts, each starting at a
/// key frame. Reads the packets only (no decoding).
pub fn plan_chunks(path: &Path, count: u32) -> Result<Vec<ChunkRange>, MediaError> {
    Timeline::read(path)?.plan(count)
}

/// A video's frames in presentation order and where its key frames are: what chunk plans are
/// made from.
pub struct Timeline {
    path: std::path::PathBuf,
    /// Every frame's pts, sorted.
    pts: Vec<i64>,
    /// Key frames (other than the first frame) by position in `pts`.
    key_positions: Vec<usize>,
    time_base: ffmpeg_next::Rational,
}

impl Timeline {
    /// Reads the packets only (no decoding).
    pub fn read(path: &Path) -> Result<Self, MediaError> {
        let (mut pts, keys, time_base) = video_timestamps(path)?;
        pts.sort_unstable();
        if pts.is_empty() {
            return Err(MediaError::Open {
                path: path.to_path_buf(),
                reason: "no video frames to split".into(),
            });
        }
        let mut key_positions: Vec<usize> = keys
            .iter()
            .filter_map(|k| pts.binary_search(k).ok())
            .filter(|&p| p > 0)
            .collect();
        key_positions.sort_unstable();
        key_positions.dedup();
        Ok(Self {
            path: path.to_path_buf(),
            pts,
            key_positions,
            time_base,
        })
    }

    /// The most chunks the key frames allow.
    pub fn max_chunks(&self) -> u32 {
        (self.key_positions.len() + 1).min(u32::MAX as usize) as u32
    }

    /// From the first frame's presentation time to the last one's.
    pub fn span_seconds(&self) -> f64 {
        let (first, last) = (self.pts[0], self.pts[self.pts.len() - 1]);
        (last - first) as f64 * f64::from(self.time_base)
    }

    /// `count` chunks of about equal frame counts, each starting at a key frame.
    pub fn plan(&self, count: u32) -> Result<Vec<ChunkRange>, MediaError> {
        let fail = |reason: String| MediaError::Open {
            path: self.path.clone(),
            reason,
        };
        let (pts, key_positions) = (&self.pts, &self.key_positions);
        if count > self.max_chunks() {
            return Err(fail(format!(
                "{} key frames allow at most {} chunks, not {count}",
                self.max_chunks(),
                self.max_chunks()
            )));
        }
        let mut starts = vec![0usize];
        for i in 1..count as usize {
            let target = pts.len() * i / count as usize;
            // the nearest key frame after the previous start that leaves enough for the rest
            let left_after = count as usize - i - 1;
            let usable = &key_positions[..key_positions.len() - left_after];
            let chosen = usable
                .iter()
                .copied()
                .filter(|&p| p > *starts.last().expect("starts has 0"))
                .min_by_key(|&p| p.abs_diff(target))
                .ok_or_else(|| fail(format!("no key frame left for chunk {i}")))?;
            starts.push(chosen);
        }
        starts.push(pts.len());
        Ok(starts
            .windows(2)
            .map(|w| ChunkRange {
                start_pts: (w[0] > 0).then(|| pts[w[0]]),
                end_pts: (w[1] < pts.len()).then(|| pts[w[1]]),
                frames: (w[1] - w[0]) as u64,
                first_pts: pts[w[0]],
            })
            .collect())
    }
}

/// Every video packet's pts, the key frames' pts, and the video stream's time base.
fn video_timestamps(
    path: &Path,
) -> Result<(Vec<i64>, Vec<i64>, ffmpeg_next::Rational), MediaError> {
    let mut input = open_input(path)?;
    let stream = video_stream(path, &input)?;
    let (video, time_base) = (stream.index(), stream.time_base());
    let (mut all, mut keys) = (Vec::new(), Vec::new());
    let mut packet = Packet::empty();
    while packet.read(&mut input).is_ok() {
        if packet.stream() != video {
            continue;
        }
        let Some(pts) = packet.pts() else { continue };
        all.push(pts);
        if packet.is_key() {
            keys.push(pts);
        }
    }
    Ok((all, keys, time_base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_specs_parse_and_resolve_from_array_job_variables() {
        assert_eq!(
            "2/4".parse::<ChunkSpec>(),
            Ok(ChunkSpec {
                index: Some(2),
                count: 4
            })
        );
        assert!("4/4".parse::<ChunkSpec>().is_err());
        assert!("x/4".parse::<ChunkSpec>().unwrap_err().contains("K/N"));
        let auto: ChunkSpec = "auto/3".parse().unwrap();
        assert_eq!(auto.index, None);
        assert_eq!(
            ChunkSpec {
                index: Some(1),
                count: 3
            }
            .resolve(),
            Ok(1)
        );
    }
}
