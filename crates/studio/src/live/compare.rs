//! How the Live tab shows input and output: side by side, or one picture split by a draggable
//! divider. Its own file because a key (`StudioAction::ToggleCompareMode`) and the views both
//! name it.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CompareMode {
    SideBySide,
    Split,
}

impl CompareMode {
    pub fn toggled(self) -> Self {
        match self {
            CompareMode::SideBySide => CompareMode::Split,
            CompareMode::Split => CompareMode::SideBySide,
        }
    }
}
