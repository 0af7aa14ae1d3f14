//! Live tab: pairing (QR code), listeners, demo source, recording, the LR and 4K views side by
//! side or as a split compare with shared zoom/pan, and live metrics with 60 s sparklines.
//! Everything engine-side goes through [`LiveService`] commands and events.
//!
//! What the user chose ([`LiveSettings`]) is saved with the window; what the running service
//! reports ([`LiveState`]) is rebuilt from its events and never saved.

mod compare;
mod metrics_panel;
mod pairing_panel;
mod views;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui;

use super::{Notifications, StudioAction};
pub use compare::CompareMode;
use metrics_panel::MetricsHistory;
pub use pairing_panel::qr_image;
use stronglive_engine::frame::YuvFrame;
use stronglive_engine::live::pairing::{PairedDevice, PairingUri};
use stronglive_engine::live::server::ServerEvent;
use stronglive_engine::live::service::{ListenerSettings, LiveCommand, LiveEvent, LiveService};
use stronglive_engine::pipeline::live::metrics::MetricsSnapshot;
pub use views::ViewTransform;

/// The Live tab's choices that outlive the window (saved by eframe under the same keys as
/// before the settings had their own struct).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LiveSettings {
    /// The listeners without authentication start off at every launch (never saved): a switch
    /// left on must not open a port to the whole network the next time the studio starts.
    #[serde(skip)]
    pub legacy_enabled: bool,
    pub legacy_port: u16,
    #[serde(skip)]
    pub rtmp_enabled: bool,
    #[serde(skip)]
    pub srt_enabled: bool,
    /// Those listeners accept other machines (every interface); off, only this one (loopback).
    pub others_from_network: bool,
    /// Sessions learn the scene from the phone's HR patches.
    pub learn: bool,
    pub record_dir: String,
    pub mode: CompareMode,
    /// Where the split compare's divider is, 0 (left edge) to 1 (right edge).
    pub split: f32,
    pub one_to_one: bool,
}

impl Default for LiveSettings {
    fn default() -> Self {
        let videos = std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join("Videos/StrongLive"))
            .unwrap_or_else(|| PathBuf::from("StrongLive"));
        Self {
            legacy_enabled: false,
            legacy_port: 12582,
            rtmp_enabled: false,
            srt_enabled: false,
            others_from_network: false,
            learn: false,
            record_dir: videos.display().to_string(),
            mode: CompareMode::SideBySide,
            split: 0.5,
            one_to_one: false,
        }
    }
}

/// The newest pair of frames to show: the phone's input and its super-resolved output.
#[derive(Clone)]
pub struct LiveFrame {
    pub input: Arc<YuvFrame>,
    /// Super-resolved, or (SR busy) a cheap upscale or the input itself, scaled by the view.
    pub output: Arc<YuvFrame>,
    pub super_resolved: bool,
    /// Width of the super-resolved picture (the last one's while SR is busy): 1:1 zoom.
    pub output_width: u32,
    /// Increases with every new pair, so the views upload textures only when it changes.
    pub sequence: u64,
}

/// The pairing QR code's texture and the text it encodes (redrawn only when that changes).
struct QrTexture {
    text: String,
    texture: egui::TextureHandle,
}

/// What the live service last reported, plus the view's zoom/pan; rebuilt at every start.
#[derive(Default)]
pub struct LiveState {
    pub view: ViewTransform,
    service: Option<LiveService>,
    /// The code that pairs new devices; `None` while starting or when pairing is revoked.
    pub pairing: Option<PairingUri>,
    /// The server is up (so no pairing code means pairing is revoked).
    pub listening: bool,
    pub devices: Vec<PairedDevice>,
    qr: Option<QrTexture>,
    pub frame: Option<LiveFrame>,
    pub snapshot: Option<MetricsSnapshot>,
    history: MetricsHistory,
    /// The SR model and device the service runs ("model on device"), empty until it says.
    pub engine: String,
    pub demo_running: bool,
    /// The folder being recorded to, while recording.
    pub recording: Option<PathBuf>,
    /// Labels of the connected senders.
    sessions: Vec<String>,
}

/// Saved as its settings alone (`transparent`), so existing saved windows still load.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct LiveTab {
    pub settings: LiveSettings,
    #[serde(skip)]
    pub state: LiveState,
}

/// The bundled demo clip: beside the executable's `assets/` (installed) or the source tree's.
pub fn demo_clip() -> PathBuf {
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("assets/demo-540p.mp4")));
    match installed {
        Some(p) if p.is_file() => p,
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/demo-540p.mp4"),
    }
}

impl LiveTab {
    pub fn attach(&mut self, service: LiveService) {
        service.send(LiveCommand::Start(self.listener_settings()));
        service.send(LiveCommand::Learn(self.settings.learn));
        self.state.service = Some(service);
    }

    pub fn listener_settings(&self) -> ListenerSettings {
        let settings = &self.settings;
        // No authentication on these: this machine only unless the user opens them up.
        let host = if settings.others_from_network {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from([127, 0, 0, 1])
        };
        let mut ingest = Vec::new();
        if settings.rtmp_enabled {
            ingest.push(format!("rtmp://{host}:1935/live/phone"));
        }
        if settings.srt_enabled {
            ingest.push(format!("srt://{host}:9000"));
        }
        ListenerSettings {
            legacy: settings
                .legacy_enabled
                .then(|| SocketAddr::new(host, settings.legacy_port)),
            ingest,
            ..ListenerSettings::default()
        }
    }

    fn command(&self, command: LiveCommand) {
        if let Some(service) = &self.state.service {
            service.send(command);
        }
    }

    pub fn start_demo(&mut self) {
        self.command(LiveCommand::StartDemo(demo_clip()));
    }

    pub fn stop_demo(&mut self) {
        self.command(LiveCommand::StopDemo);
    }

    pub fn toggle_recording(&mut self) {
        let dir = match self.state.recording {
            Some(_) => None,
            None => Some(PathBuf::from(&self.settings.record_dir)),
        };
        self.command(LiveCommand::Record(dir));
    }

    /// Show the whole frame again, at the views' own scale.
    pub fn fit_view(&mut self) {
        self.state.view = ViewTransform::default();
        self.settings.one_to_one = false;
    }

    /// Apply service events, take the newest frame, sample metrics.
    pub fn poll(&mut self, notes: &mut Notifications) {
        let Some(service) = &self.state.service else {
            return;
        };
        let events: Vec<LiveEvent> = service.events.try_iter().collect();
        for event in events {
            self.apply_event(event, notes);
        }
        let Some(service) = &self.state.service else {
            return;
        };
        if let Some(frame) = service.display.take() {
            let output_width = if frame.super_resolved {
                frame.output.width
            } else {
                let previous = self.state.frame.as_ref().map(|f| f.output_width);
                previous.unwrap_or(frame.input.width * 4)
            };
            self.state.frame = Some(LiveFrame {
                input: frame.input,
                output: frame.output,
                super_resolved: frame.super_resolved,
                output_width,
                sequence: frame.sequence,
            });
        }
        self.state.snapshot = service.snapshots().into_iter().next();
        self.state.history.record(self.state.snapshot.as_ref());
    }

    fn apply_event(&mut self, event: LiveEvent, notes: &mut Notifications) {
        let state = &mut self.state;
        match event {
            LiveEvent::Listening {
                pairing,
                model,
                device,
                note,
            } => {
                state.engine = format!("{model} on {device}");
                state.listening = true;
                state.pairing = pairing;
                if let Some(n) = note {
                    notes.info(n);
                }
            }
            LiveEvent::Pairing { pairing, devices } => {
                state.pairing = pairing;
                state.devices = devices;
            }
            LiveEvent::Server(ServerEvent::Rejected { peer, reason }) => {
                notes.error(format!("rejected {peer}: {reason}"));
            }
            LiveEvent::Server(ServerEvent::SessionStarted { id, label }) => {
                notes.info(format!("session {id}: {label} connected"));
                state.sessions.push(label);
            }
            LiveEvent::Server(ServerEvent::SessionEnded { report, reason }) => {
                state.sessions.retain(|l| *l != report.label);
                let mut text = format!("{} ended ({reason})", report.label);
                for path in &report.recordings {
                    text.push_str(&format!("; recorded {}", path.display()));
                }
                notes.info(text);
                for problem in &report.problems {
                    notes.error(problem.to_string());
                }
            }
            LiveEvent::Server(ServerEvent::Listening { .. }) => {}
            LiveEvent::DemoRunning(on) => state.demo_running = on,
            LiveEvent::Recording(dir) => state.recording = dir,
            LiveEvent::Problem(p) => notes.error(p.to_string()),
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<StudioAction>) {
        egui::Panel::left("pairing")
            .resizable(false)
            .exact_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_panel(ui, actions));
            });
        egui::Panel::bottom("metrics")
            .exact_size(185.0)
            .show(ui, |ui| self.metrics_panel(ui));
        egui::CentralPanel::default().show(ui, |ui| self.views(ui, actions));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_listeners_start_off_at_every_launch() {
        let saved = LiveSettings {
            legacy_enabled: true,
            rtmp_enabled: true,
            srt_enabled: true,
            learn: true,
            ..LiveSettings::default()
        };
        let json = serde_json::to_string(&saved).unwrap();
        let loaded: LiveSettings = serde_json::from_str(&json).unwrap();
        assert!(!loaded.legacy_enabled && !loaded.rtmp_enabled && !loaded.srt_enabled);
        assert!(loaded.learn, "the other choices are kept");
        // Windows saved before this change (with the switches on) load with them off too.
        let old = json.replace("\"learn\":true", "\"legacy_enabled\":true,\"learn\":true");
        let loaded: LiveSettings = serde_json::from_str(&old).unwrap();
        assert!(!loaded.legacy_enabled);
    }

    /// The unauthenticated listeners take this machine only unless the user opens them up.
    #[test]
    fn unauthenticated_listeners_bind_to_loopback_unless_opened_to_the_network() {
        let mut tab = LiveTab::default();
        tab.settings.legacy_enabled = true;
        tab.settings.rtmp_enabled = true;
        tab.settings.srt_enabled = true;
        let local = tab.listener_settings();
        assert_eq!(
            local.legacy,
            Some(SocketAddr::from(([127, 0, 0, 1], 12582)))
        );
        assert_eq!(
            local.ingest,
            ["rtmp://127.0.0.1:1935/live/phone", "srt://127.0.0.1:9000"]
        );
        tab.settings.others_from_network = true;
        let open = tab.listener_settings();
        assert_eq!(open.legacy, Some(SocketAddr::from(([0, 0, 0, 0], 12582))));
        assert!(
            open.ingest.iter().all(|u| u.contains("0.0.0.0")),
            "{:?}",
            open.ingest
        );
    }
}
