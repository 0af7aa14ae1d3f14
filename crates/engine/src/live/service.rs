//! The live side of the studio as one engine object: a thread that owns the [`LiveServer`],
//! the pairing state and the demo sender, driven by [`LiveCommand`]s and reporting
//! [`LiveEvent`]s. The GUI only sends commands, reads events, takes frames from the
//! [`DisplaySlot`] and reads metrics snapshots; it never touches sockets, FFmpeg or libtorch.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::pairing::{
    advertised_hosts, default_server_name, PairedDevice, PairingError, PairingStore, PairingUri,
    DEFAULT_SECRET_TTL_S,
};
use super::sender::{send_stream, SendError, SendOptions};
use super::server::{
    upscaling_sessions, LiveServer, ServerConfig, ServerEvent, SessionFactory, SessionRequest,
    DEFAULT_PORT,
};
use crate::pipeline::live::metrics::{MetricsSnapshot, SessionMetrics};
use crate::pipeline::{AdaptOptions, DisplaySlot, RecordSwitch, SessionOptions};
use crate::sr::registry::adapted_models_dir;
use crate::sr::registry::ModelRegistry;
use crate::sr::{ComputeDevice, DevicePreference, SrError};

/// Which listeners run, chosen in the Live tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSettings {
    pub port: u16,
    /// STRONGLIVE's original app, no authentication.
    pub legacy: Option<SocketAddr>,
    pub ingest: Vec<String>,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            legacy: None,
            ingest: Vec::new(),
        }
    }
}

pub enum LiveCommand {
    /// (Re)start the server with these listeners.
    Start(ListenerSettings),
    /// Replace the pairing secret (new QR code).
    NewSecret,
    /// Forget a paired device (by id).
    RemoveDevice(String),
    /// Stream the bundled demo clip through the real pipeline over loopback, on repeat.
    StartDemo(PathBuf),
    StopDemo,
    /// Start (Some) or stop (None) recording every session.
    Record(Option<PathBuf>),
    /// Learn from the phone's HR patches in the sessions that start from now on.
    Learn(bool),
}

#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// `pairing` is `None` while pairing new devices is revoked.
    Listening {
        pairing: Option<PairingUri>,
        model: String,
        device: String,
        note: Option<String>,
    },
    Pairing {
        pairing: Option<PairingUri>,
        devices: Vec<PairedDevice>,
    },
    Server(ServerEvent),
    DemoRunning(bool),
    Recording(Option<PathBuf>),
    Problem(LiveProblem),
}

/// Something the live service could not do (shown to the user; the service goes on). Causes
/// are shared (`Arc`) so the event can be cloned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LiveProblem {
    /// The pairing store could not be read or written.
    #[error("{0}")]
    Pairing(Arc<PairingError>),
    #[error("{}: cannot create: {cause}", path.display())]
    RecordFolder {
        path: PathBuf,
        cause: Arc<std::io::Error>,
    },
    /// No compute device as the preference asks.
    #[error("{0}")]
    Device(Arc<SrError>),
    #[error("cannot listen on port {port}: {cause}")]
    Listen {
        port: u16,
        cause: Arc<std::io::Error>,
    },
    /// The asked port was taken, and no other one could be listened on either.
    #[error("{0}")]
    ListenAnyPort(Arc<std::io::Error>),
    #[error("the live server is not running")]
    ServerNotRunning,
    #[error("pairing is revoked: make a New code to play the demo")]
    PairingRevoked,
    #[error("{0}")]
    DemoThread(Arc<std::io::Error>),
    #[error("demo: {0}")]
    Demo(Arc<SendError>),
}

impl From<PairingError> for LiveProblem {
    fn from(e: PairingError) -> Self {
        LiveProblem::Pairing(Arc::new(e))
    }
}

/// The metrics of the sessions streaming now (the GUI snapshots them each frame).
pub type SessionList = Arc<Mutex<Vec<Arc<SessionMetrics>>>>;

pub struct LiveService {
    commands: Sender<LiveCommand>,
    pub events: Receiver<LiveEvent>,
    pub display: Arc<DisplaySlot>,
    sessions: SessionList,
}

impl LiveService {
    /// Start the service thread. `wake` is called whenever there is something to show.
    pub fn start(
        store: PairingStore,
        model: String,
        device: DevicePreference,
        wake: impl Fn() + Send + Sync + Clone + 'static,
    ) -> std::io::Result<Self> {
        let (commands, command_rx) = crossbeam_channel::unbounded();
        let (event_tx, events) = crossbeam_channel::unbounded();
        let display = Arc::new(DisplaySlot::with_waker(wake.clone()));
        let sessions: SessionList = Arc::default();
        let worker = Worker {
            store,
            model,
            device,
            display: Arc::clone(&display),
            sessions: Arc::clone(&sessions),
            events: event_tx,
            wake: Arc::new(wake),
            record: RecordSwitch::default(),
            learn: Arc::default(),
            server: None,
            pairing: None,
            demo: None,
        };
        thread::Builder::new()
            .name("live-service".into())
            .spawn(move || worker.run(command_rx))?;
        Ok(Self {
            commands,
            events,
            display,
            sessions,
        })
    }

    pub fn send(&self, command: LiveCommand) {
        let _ = self.commands.send(command);
    }

    pub fn snapshots(&self) -> Vec<MetricsSnapshot> {
        let list = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        list.iter().map(|m| m.snapshot()).collect()
    }
}

struct Worker {
    store: PairingStore,
    model: String,
    device: DevicePreference,
    display: Arc<DisplaySlot>,
    sessions: SessionList,
    events: Sender<LiveEvent>,
    wake: Arc<dyn Fn() + Send + Sync>,
    record: RecordSwitch,
    /// New sessions learn from their sender's patches (read when a session starts).
    learn: Arc<AtomicBool>,
    server: Option<LiveServer>,
    pairing: Option<PairingUri>,
    demo: Option<(Arc<AtomicBool>, thread::JoinHandle<()>)>,
}

impl Worker {
    fn emit(&self, event: LiveEvent) {
        let _ = self.events.send(event);
        (self.wake)();
    }

    fn run(mut self, commands: Receiver<LiveCommand>) {
        let (server_tx, server_rx) = crossbeam_channel::unbounded::<ServerEvent>();
        loop {
            crossbeam_channel::select! {
                recv(commands) -> command => match command {
                    Ok(command) => self.handle(command, &server_tx),
                    Err(_) => break, // the GUI is gone
                },
                recv(server_rx) -> event => {
                    if let Ok(event) = event {
                        self.emit(LiveEvent::Server(event));
                    }
                }
                default(Duration::from_millis(500)) => self.refresh_sessions(),
            }
        }
        self.stop_demo();
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }

    fn refresh_sessions(&self) {
        if let Some(server) = &self.server {
            *self.sessions.lock().unwrap_or_else(|p| p.into_inner()) = server.session_metrics();
        }
    }

    fn handle(&mut self, command: LiveCommand, server_tx: &Sender<ServerEvent>) {
        let result = match command {
            LiveCommand::Start(settings) => self.start_server(&settings, server_tx),
            LiveCommand::NewSecret => self
                .store
                .new_secret(DEFAULT_SECRET_TTL_S)
                .map_err(LiveProblem::from)
                .map(|_| self.publish_pairing()),
            LiveCommand::RemoveDevice(id) => self
                .store
                .remove_device(&id)
                .map_err(LiveProblem::from)
                .map(|_| self.publish_pairing()),
            LiveCommand::StartDemo(clip) => self.start_demo(clip),
            LiveCommand::StopDemo => {
                self.stop_demo();
                Ok(())
            }
            LiveCommand::Learn(on) => {
                self.learn.store(on, Ordering::Relaxed);
                Ok(())
            }
            LiveCommand::Record(dir) => {
                if let Some(d) = &dir {
                    if let Err(e) = std::fs::create_dir_all(d) {
                        self.emit(LiveEvent::Problem(LiveProblem::RecordFolder {
                            path: d.clone(),
                            cause: Arc::new(e),
                        }));
                        return;
                    }
                }
                self.record.set(dir.clone());
                self.emit(LiveEvent::Recording(dir));
                Ok(())
            }
        };
        if let Err(problem) = result {
            self.emit(LiveEvent::Problem(problem));
        }
    }

    /// Sessions that learn while the switch is on when they start, and plain ones otherwise.
    fn session_factory(&self, model: &str, device: &ComputeDevice) -> SessionFactory {
        let plain = SessionOptions {
            switch_tiers: self.model == "auto",
            ..SessionOptions::plain(self.record.clone())
        };
        let learning = SessionOptions {
            learn: Some(AdaptOptions {
                save_dir: adapted_models_dir(),
                ..AdaptOptions::default()
            }),
            ..plain.clone()
        };
        let display = Some(Arc::clone(&self.display));
        let [plain, learning] = [plain, learning].map(|options| {
            upscaling_sessions(model.to_string(), device.clone(), options, display.clone())
        });
        let learn = Arc::clone(&self.learn);
        Arc::new(move |request: SessionRequest| {
            if learn.load(Ordering::Relaxed) {
                learning(request)
            } else {
                plain(request)
            }
        })
    }

    fn start_server(
        &mut self,
        settings: &ListenerSettings,
        server_tx: &Sender<ServerEvent>,
    ) -> Result<(), LiveProblem> {
        self.stop_demo();
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
        let device =
            ComputeDevice::select(self.device).map_err(|e| LiveProblem::Device(Arc::new(e)))?;
        let model = ModelRegistry::live_model_name(&self.model, device.is_cuda(), 4);
        let factory = self.session_factory(&model, &device);
        let mut config = ServerConfig {
            legacy_bind: settings.legacy,
            ingest_urls: settings.ingest.clone(),
            ..ServerConfig::new(
                SocketAddr::new(IpAddr::from([0, 0, 0, 0]), settings.port),
                default_server_name(),
                self.store.clone(),
            )
        };
        let mut note = None;
        let server =
            match LiveServer::start(config.clone(), Arc::clone(&factory), server_tx.clone()) {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    // Another studio or `serve` holds the port: take any free one and say so.
                    note = Some(format!(
                        "port {} is in use; listening on another port",
                        settings.port
                    ));
                    config.bind.set_port(0);
                    LiveServer::start(config, factory, server_tx.clone())
                        .map_err(|e| LiveProblem::ListenAnyPort(Arc::new(e)))?
                }
                Err(e) => {
                    return Err(LiveProblem::Listen {
                        port: settings.port,
                        cause: Arc::new(e),
                    })
                }
            };
        self.server = Some(server);
        let pairing = self.current_pairing()?;
        self.pairing = pairing.clone();
        self.emit(LiveEvent::Listening {
            pairing,
            model,
            device: device.label(),
            note,
        });
        self.publish_pairing();
        Ok(())
    }

    /// The code that pairs new devices with the running server: the current secret (renewed
    /// when expired); `None` when pairing is revoked or no server runs.
    fn current_pairing(&self) -> Result<Option<PairingUri>, LiveProblem> {
        let Some(server) = &self.server else {
            return Ok(None);
        };
        let secret = self.store.current_or_new_secret(DEFAULT_SECRET_TTL_S)?;
        Ok(secret.map(|(secret, expires)| PairingUri {
            name: default_server_name(),
            hosts: advertised_hosts(server.local_addr().ip()),
            port: server.local_addr().port(),
            secret,
            expires,
        }))
    }

    /// Current pairing code and paired devices, to the GUI.
    fn publish_pairing(&mut self) {
        if self.server.is_none() {
            return;
        }
        match self.current_pairing() {
            Ok(pairing) => self.pairing = pairing,
            Err(e) => self.emit(LiveEvent::Problem(e)),
        }
        let devices = self.store.load().map(|s| s.devices).unwrap_or_default();
        self.emit(LiveEvent::Pairing {
            pairing: self.pairing.clone(),
            devices,
        });
    }

    fn start_demo(&mut self, clip: PathBuf) -> Result<(), LiveProblem> {
        self.stop_demo();
        if self.server.is_none() {
            return Err(LiveProblem::ServerNotRunning);
        }
        self.publish_pairing();
        let Some(pairing) = self.pairing.clone() else {
            return Err(LiveProblem::PairingRevoked);
        };
        let options = SendOptions {
            source: clip,
            pairing,
            host: Some(IpAddr::from([127, 0, 0, 1])),
            device_name: "Demo clip".into(),
            pace: true,
            bitrate: 2_000_000,
            max_frames: None,
            stream_size: None,
            repeat: true,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, events, wake) = (
            Arc::clone(&stop),
            self.events.clone(),
            Arc::clone(&self.wake),
        );
        let handle = thread::Builder::new()
            .name("demo-sender".into())
            .spawn(move || {
                if let Err(e) = send_stream(&options, flag) {
                    let _ = events.send(LiveEvent::Problem(LiveProblem::Demo(Arc::new(e))));
                }
                let _ = events.send(LiveEvent::DemoRunning(false));
                wake();
            })
            .map_err(|e| LiveProblem::DemoThread(Arc::new(e)))?;
        self.demo = Some((stop, handle));
        self.emit(LiveEvent::DemoRunning(true));
        Ok(())
    }

    fn stop_demo(&mut self) {
        if let Some((stop, handle)) = self.demo.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}
