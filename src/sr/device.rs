//! Which processor runs the model, and at what precision. Hardware first: CUDA when libtorch
//! sees a GPU (fp16 there, since every recent NVIDIA GPU runs half precision at least twice as
//! fast), the CPU in fp32 otherwise, with the reason for the fallback kept for the user.

use tch::{Device, Kind};

use super::SrError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevicePreference {
    /// The first CUDA device if there is one, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for DevicePreference {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| format!("unknown device {s:?}: expected auto, cpu, cuda or cuda:N")),
        }
    }
}

/// The device a model runs on, the precision it runs in, and why it was chosen.
#[derive(Debug, Clone)]
pub struct ComputeDevice {
    pub device: Device,
    pub kind: Kind,
    /// Why this device and not a faster one (empty when the fastest was available).
    pub fallback_reason: Option<String>,
}

impl ComputeDevice {
    pub fn cpu() -> Self {
        Self {
            device: Device::Cpu,
            kind: Kind::Float,
            fallback_reason: None,
        }
    }

    pub fn select(preference: DevicePreference) -> Result<Self, SrError> {
        let cuda_count = tch::Cuda::device_count() as usize;
        match preference {
            DevicePreference::Cpu => Ok(Self::cpu()),
            DevicePreference::Cuda(index) if index < cuda_count => Ok(Self::cuda(index)),
            DevicePreference::Cuda(index) => Err(SrError::CudaUnavailable {
                index,
                reason: format!("libtorch sees {cuda_count} CUDA device(s)"),
            }),
            DevicePreference::Auto if cuda_count > 0 => Ok(Self::cuda(0)),
            DevicePreference::Auto => Ok(Self {
                fallback_reason: Some(
                    "no CUDA device visible to libtorch (no NVIDIA GPU or driver)".into(),
                ),
                ..Self::cpu()
            }),
        }
    }

    fn cuda(index: usize) -> Self {
        Self {
            device: Device::Cuda(index),
            kind: Kind::Half,
            fallback_reason: None,
        }
    }

    pub fn is_cuda(&self) -> bool {
        self.device.is_cuda()
    }

    /// Short label for tables and logs, e.g. `cuda:0 fp16` or `cpu fp32`.
    pub fn label(&self) -> String {
        let device = match self.device {
            Device::Cuda(i) => format!("cuda:{i}"),
            Device::Mps => "mps".into(),
            Device::Vulkan => "vulkan".into(),
            _ => "cpu".into(),
        };
        let precision = if self.kind == Kind::Half {
            "fp16"
        } else {
            "fp32"
        };
        format!("{device} {precision}")
    }
}
