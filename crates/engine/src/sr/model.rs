//! The model interface every SR model implements (`SrModel`), and the two kinds of file behind
//! one: the project's networks (a card and safetensors weights) and TorchScript modules. The
//! loaders that turn a name or a path into a model are in `load`.

use std::path::Path;

use tch::{nn, Kind, Tensor};

use super::{
    card::{load_weights, ModelCard},
    nets::Network,
    ComputeDevice, SrError,
};

/// A super-resolution network. Input: RGB in 0..1, NCHW, on the model's device and in its
/// precision. Output: RGB, N x 3 x (H*scale) x (W*scale), not yet clamped. A model that fails
/// (a user's TorchScript with the wrong shapes, out of memory) returns an error, never panics.
pub trait SrModel: Send {
    fn name(&self) -> &str;
    fn scale(&self) -> u32;
    /// `rgb` in any float kind; the model casts it to the precision it computes in.
    fn forward(&self, rgb: &Tensor) -> Result<Tensor, SrError>;
    /// Pixels of context on each side a tile needs so that its centre matches an untiled run.
    fn receptive_margin(&self) -> u32;
    /// Scalar parameters, when known (for benchmark tables).
    fn parameters(&self) -> Option<u64> {
        None
    }
    /// Multiply-accumulates per input pixel, when known (FLOPs = 2 x MACs).
    fn macs_per_input_pixel(&self) -> Option<u64> {
        None
    }
    /// Whether independent copies of the model, each given some of the frames, give the same
    /// output as one copy given them all (frame-parallel SR lanes).
    fn copies_are_equivalent(&self) -> bool {
        true
    }
    /// The network behind the model when it can learn (live adaptation); `None` for bicubic
    /// and foreign TorchScript modules.
    fn as_network(&self) -> Option<&NetworkModel> {
        None
    }
}

/// A snapshot of a network's weights by variable name (on the CPU, fp32), with the version the
/// live path knows it by.
#[derive(Debug)]
pub struct Weights {
    pub version: u64,
    pub tensors: Vec<(String, Tensor)>,
}

/// Giga floating-point operations for one input frame of `width` x `height`.
pub fn gflops_per_frame(model: &dyn SrModel, width: u32, height: u32) -> Option<f64> {
    model
        .macs_per_input_pixel()
        .map(|m| 2.0 * m as f64 * f64::from(width) * f64::from(height) / 1e9)
}

/// A tch network with its weights, adapted to the 0..1 interface.
pub struct NetworkModel {
    /// The card it was loaded from (architecture, input range): a learning copy is built from it.
    card: ModelCard,
    name: String,
    scale: u32,
    input_range: f64,
    net: Box<dyn Network>,
    parameters: u64,
    // owns the variables `net` refers to
    /// The weights' number format (the device's precision when loaded).
    kind: Kind,
    /// The weights as the file holds them (CPU, fp32), before any cast to the device's
    /// precision: what an SRVC stream's base hash and changes refer to on every machine.
    file_weights: Weights,
    _vs: nn::VarStore,
}

impl NetworkModel {
    /// Load `weights` as described by `card` onto `device` (in the device's precision).
    pub fn load(
        card: &ModelCard,
        card_path: &Path,
        weights: &Path,
        device: &ComputeDevice,
    ) -> Result<Self, SrError> {
        let arch = card.arch(card_path)?;
        let mut vs = nn::VarStore::new(device.device);
        let net = arch.build(&vs.root());
        load_weights(&vs, weights, arch.name())?;
        let file_weights = Weights::snapshot_of(&vs, 0);
        match device.kind {
            Kind::Half => vs.half(),
            Kind::BFloat16 => vs.bfloat16(),
            _ => {}
        }
        if device.channels_last {
            to_channels_last(&vs, device);
        }
        Ok(Self {
            card: card.clone(),
            name: card.name.clone(),
            scale: card.scale,
            input_range: card.input_range,
            net,
            parameters: super::card::parameter_count(&vs),
            kind: device.kind,
            file_weights,
            _vs: vs,
        })
    }

    pub fn network(&self) -> &dyn Network {
        self.net.as_ref()
    }

    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// The weights as loaded from the model file (CPU, fp32), whatever precision the model
    /// computes in and whatever was swapped in since: a bf16 or fp16 model's own weights are
    /// rounded copies of these.
    pub fn file_weights(&self) -> &Weights {
        &self.file_weights
    }

    /// A copy of the weights (CPU, fp32), sharing no storage with the model: later swaps into
    /// the model leave it untouched.
    pub fn weights(&self) -> Weights {
        Weights::snapshot_of(&self._vs, 0)
    }

    /// Replace the weights in place (between frames: the caller owns the only running
    /// forward). Every variable must be present with its shape.
    pub fn set_weights(&self, weights: &Weights) -> Result<(), SrError> {
        weights.copy_into(&self._vs).map_err(|e| match e {
            SrError::Training(reason) => SrError::ModelRun {
                model: self.name.clone(),
                reason,
            },
            other => other,
        })
    }
}

impl Weights {
    /// The variables of `vs` as a snapshot (CPU, fp32) that shares no storage with them.
    pub(crate) fn snapshot_of(vs: &nn::VarStore, version: u64) -> Self {
        let tensors = vs
            .variables()
            .into_iter()
            .map(|(name, t)| (name, own_copy(&t)))
            .collect();
        Self { version, tensors }
    }

    /// An independent copy under another version number.
    pub fn copy_as(&self, version: u64) -> Self {
        Self {
            version,
            tensors: self
                .tensors
                .iter()
                .map(|(n, t)| (n.clone(), t.copy()))
                .collect(),
        }
    }

    /// Copy into the same-named variables of `vs` (its device and precision); every variable
    /// must exist with the same shape (`SrError::Training` names the one that does not).
    pub(crate) fn copy_into(&self, vs: &nn::VarStore) -> Result<(), SrError> {
        let _guard = tch::no_grad_guard();
        let mut vars = vs.variables();
        for (name, value) in &self.tensors {
            let Some(var) = vars.get_mut(name) else {
                return Err(SrError::Training(format!(
                    "new weights name an unknown variable {name:?}"
                )));
            };
            if var.size() != value.size() {
                return Err(SrError::Training(format!(
                    "new weights for {name:?} have shape {:?}, not {:?}",
                    value.size(),
                    var.size()
                )));
            }
            var.f_copy_(&value.f_to_device(var.device())?.f_to_kind(var.kind())?)?;
        }
        Ok(())
    }
}

/// A network's forward pass in the 0..1 interface: scaled to and from its input range.
pub(crate) fn run_network(
    net: &dyn Network,
    rgb: &Tensor,
    input_range: f64,
    train: bool,
) -> Tensor {
    if input_range == 1.0 {
        net.forward_t(rgb, train)
    } else {
        net.forward_t(&(rgb * input_range), train) / input_range
    }
}

/// Every convolution kernel of `vs` in the device's NHWC layout (values unchanged); later weight
/// swaps copy into these tensors and so keep the layout.
fn to_channels_last(vs: &nn::VarStore, device: &ComputeDevice) {
    let _guard = tch::no_grad_guard();
    for (_, mut var) in vs.variables() {
        if var.dim() == 4 {
            let nhwc = device.in_layout(&var);
            var.set_data(&nhwc);
        }
    }
}

/// A detached CPU fp32 copy. `to_device`/`to_kind` return the same storage when nothing
/// changes, so the explicit copy is what makes it a snapshot.
fn own_copy(t: &Tensor) -> Tensor {
    t.detach()
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .copy()
}

impl SrModel for NetworkModel {
    fn name(&self) -> &str {
        &self.name
    }
    fn scale(&self) -> u32 {
        self.scale
    }
    fn forward(&self, rgb: &Tensor) -> Result<Tensor, SrError> {
        // The networks are written with tch's layer API, which panics when libtorch throws
        // (out of memory, a shape libtorch refuses); the model boundary turns that into a value.
        // the input in the weights' precision (a caller may hand fp32 to a bf16/fp16 model);
        // the output comes back in the caller's
        let run = || {
            if rgb.kind() == self.kind {
                return run_network(self.net.as_ref(), rgb, self.input_range, false);
            }
            run_network(
                self.net.as_ref(),
                &rgb.to_kind(self.kind),
                self.input_range,
                false,
            )
            .to_kind(rgb.kind())
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).map_err(|payload| {
            let reason = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "libtorch failed".into());
            SrError::ModelRun {
                model: self.name.clone(),
                reason,
            }
        })
    }
    fn receptive_margin(&self) -> u32 {
        self.net.receptive_margin()
    }
    fn parameters(&self) -> Option<u64> {
        Some(self.parameters)
    }
    fn macs_per_input_pixel(&self) -> Option<u64> {
        Some(self.net.macs_per_input_pixel())
    }
    fn as_network(&self) -> Option<&NetworkModel> {
        Some(self)
    }
}

/// A user's TorchScript module (`torch.jit.trace`/`script` of a model with one NCHW RGB input).
/// The scale is found by running a small probe; a `NAME.json` beside it may set `input_range`.
pub struct TorchScriptModel {
    name: String,
    scale: u32,
    input_range: f64,
    /// The precision the module runs in (the device's, or fp32 where that failed).
    kind: Kind,
    module: tch::CModule,
}

impl TorchScriptModel {
    /// Load on `device` in its precision; a module that does not run there in reduced precision
    /// (constants traced in fp32 meet fp16/bf16 inputs) is loaded again in fp32, with a warning,
    /// and keeps fp32: `forward` casts its input to the module's precision, not the device's.
    pub fn load(path: &Path, device: &ComputeDevice) -> Result<Self, SrError> {
        match Self::load_in(path, device, device.kind) {
            Err(SrError::ModelFile { reason, .. })
                if device.kind != Kind::Float && reason.contains("does not run") =>
            {
                tracing::warn!(
                    "{}: fails in {:?} ({reason}); running it in fp32",
                    path.display(),
                    device.kind
                );
                Self::load_in(path, device, Kind::Float)
            }
            other => other,
        }
    }

    fn load_in(path: &Path, device: &ComputeDevice, kind: Kind) -> Result<Self, SrError> {
        let bad = |reason: String| SrError::model_file(path, reason);
        let mut module = tch::CModule::load_on_device(path, device.device)
            .map_err(|e| bad(format!("not a TorchScript module ({e})")))?;
        module.set_eval();
        if kind != Kind::Float {
            module.to(device.device, kind, false);
        }
        let sidecar = path.with_extension("json");
        let input_range = if sidecar.exists() {
            ModelCard::read(&sidecar)?.input_range
        } else {
            1.0
        };
        let probe = Tensor::zeros([1, 3, 16, 24], (kind, device.device));
        let out = tch::no_grad(|| module.forward_ts(&[probe]))
            .map_err(|e| bad(format!("does not run on a 1x3x16x24 RGB input ({e})")))?;
        let size = out.size();
        let scale = match size[..] {
            [1, 3, h, w] if h % 16 == 0 && w % 24 == 0 && h / 16 == w / 24 && h >= 16 => h / 16,
            _ => {
                return Err(bad(format!(
                    "output for a 1x3x16x24 input is {size:?}: expected 1x3x(16s)x(24s), one integer scale s"
                )))
            }
        };
        Ok(Self {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            scale: scale as u32,
            input_range,
            kind,
            module,
        })
    }
}

impl SrModel for TorchScriptModel {
    fn name(&self) -> &str {
        &self.name
    }
    /// A user's module may keep state between calls (buffers it updates, recurrent models).
    fn copies_are_equivalent(&self) -> bool {
        false
    }
    fn scale(&self) -> u32 {
        self.scale
    }
    fn forward(&self, rgb: &Tensor) -> Result<Tensor, SrError> {
        // TorchScript errors carry both tracebacks; the last line says what went wrong.
        let run_error = |e: tch::TchError| SrError::ModelRun {
            model: self.name.clone(),
            reason: e
                .to_string()
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("TorchScript module failed")
                .trim()
                .to_string(),
        };
        let x = rgb
            .f_to_kind(self.kind)
            .and_then(|x| x.f_mul_scalar(self.input_range))
            .map_err(run_error)?;
        let out = self.module.forward_ts(&[x]).map_err(run_error)?;
        out.f_div_scalar(self.input_range).map_err(run_error)
    }
    fn receptive_margin(&self) -> u32 {
        // unknown for a foreign module: generous, so tiles rarely show seams
        32
    }
}
