//! Which processor runs the model, at what precision and in which memory layout. Hardware first:
//! CUDA when libtorch sees a GPU (fp16 there, since every recent NVIDIA GPU runs half precision
//! at least twice as fast), the CPU otherwise, with the reason for the fallback kept for the user.
//! On the CPU, bf16 where the processor computes it natively (AVX512-BF16 or AMX: about 2x over
//! fp32 for FMEN), fp32 elsewhere (emulated bf16 is 2-4x *slower*, measured on an AVX-512 CPU
//! without BF16). Channels-last (NHWC) everywhere: oneDNN's and cuDNN's fast convolutions want
//! it, 1.4x (fmen-tiny) to 1.6x (fmen-sl) over NCHW on that CPU.

use tch::{Device, Kind, Tensor};

use super::SrError;

/// Which processor the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceTarget {
    /// The first CUDA device if there is one, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

/// The processor and number format asked for (`--device`, `--precision`); `ComputeDevice::select`
/// turns it into what runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DevicePreference {
    pub target: DeviceTarget,
    pub precision: Precision,
}

impl DevicePreference {
    pub const AUTO: Self = Self {
        target: DeviceTarget::Auto,
        precision: Precision::Auto,
    };
    pub const CPU: Self = Self {
        target: DeviceTarget::Cpu,
        precision: Precision::Auto,
    };

    pub fn with_precision(self, precision: Precision) -> Self {
        Self { precision, ..self }
    }
}

impl std::str::FromStr for DevicePreference {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let target = match s {
            "auto" => DeviceTarget::Auto,
            "cpu" => DeviceTarget::Cpu,
            "cuda" => DeviceTarget::Cuda(0),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(DeviceTarget::Cuda)
                .ok_or_else(|| {
                    format!("unknown device {s:?}: expected auto, cpu, cuda or cuda:N")
                })?,
        };
        Ok(Self {
            target,
            precision: Precision::Auto,
        })
    }
}

/// Why libtorch sees no (or too few) CUDA devices. A CUDA 13 build needs a recent driver: with
/// a driver present and no device seen, that is the likely cause, not a missing GPU.
fn no_cuda_reason(cuda_count: usize) -> String {
    if cuda_count > 0 {
        format!("libtorch sees {cuda_count} CUDA device(s)")
    } else if crate::nvidia::driver_present() {
        "an NVIDIA driver is installed but libtorch sees no CUDA device: the driver is probably \
         too old for this libtorch (CUDA 13 wheels need driver 580 or newer)"
            .into()
    } else {
        "no CUDA device visible to libtorch (no NVIDIA GPU or driver)".into()
    }
}

/// The number format a model computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// The device's fastest format that keeps quality (see the module comment).
    #[default]
    Auto,
    Fp32,
    Bf16,
    Fp16,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "fp32" => Ok(Self::Fp32),
            "bf16" => Ok(Self::Bf16),
            "fp16" => Ok(Self::Fp16),
            _ => Err(format!(
                "unknown precision {s:?}: expected auto, fp32, bf16 or fp16"
            )),
        }
    }
}

impl Precision {
    fn kind(self) -> Kind {
        match self {
            Precision::Auto | Precision::Fp32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
            Precision::Fp16 => Kind::Half,
        }
    }
}

/// Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16); without it libtorch
/// emulates bf16 convolutions, slower than fp32.
pub fn cpu_has_native_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // AMX detection is not stable in std yet: Linux lists it in /proc/cpuinfo
        static AMX_BF16: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        std::arch::is_x86_feature_detected!("avx512bf16")
            || *AMX_BF16.get_or_init(|| {
                std::fs::read_to_string("/proc/cpuinfo")
                    .is_ok_and(|info| info.split_whitespace().any(|flag| flag == "amx_bf16"))
            })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The device a model runs on, the precision it runs in, and why it was chosen.
#[derive(Debug, Clone)]
pub struct ComputeDevice {
    pub device: Device,
    pub kind: Kind,
    /// Models' weights and inputs in NHWC order (see the module comment).
    pub channels_last: bool,
    /// Why this device and not a faster one (empty when the fastest was available).
    pub fallback_reason: Option<String>,
}

impl ComputeDevice {
    /// The CPU at its automatic precision (bf16 where native, else fp32), channels-last.
    pub fn cpu() -> Self {
        Self {
            device: Device::Cpu,
            kind: if cpu_has_native_bf16() {
                Kind::BFloat16
            } else {
                Kind::Float
            },
            channels_last: true,
            fallback_reason: None,
        }
    }

    /// The same device computing in `precision` (`Auto` keeps the device's choice). fp16 is
    /// refused on the CPU, where libtorch has no fast half-precision convolutions.
    pub fn with_precision(self, precision: Precision) -> Result<Self, SrError> {
        if precision == Precision::Auto {
            return Ok(self);
        }
        if precision == Precision::Fp16 && !self.is_cuda() {
            return Err(SrError::UnsupportedPrecision {
                precision: "fp16".into(),
                device: self.label(),
            });
        }
        Ok(Self {
            kind: precision.kind(),
            ..self
        })
    }

    pub fn select(preference: DevicePreference) -> Result<Self, SrError> {
        let cuda_count = tch::Cuda::device_count() as usize;
        let device = match preference.target {
            DeviceTarget::Cpu => Self::cpu(),
            DeviceTarget::Cuda(index) if index < cuda_count => Self::cuda(index),
            DeviceTarget::Cuda(index) => {
                return Err(SrError::CudaUnavailable {
                    index,
                    reason: no_cuda_reason(cuda_count),
                })
            }
            DeviceTarget::Auto if cuda_count > 0 => Self::cuda(0),
            DeviceTarget::Auto => {
                let reason = no_cuda_reason(cuda_count);
                if crate::nvidia::driver_present() {
                    // a GPU the user paid for sits idle: say so where it is seen
                    tracing::warn!("{reason}");
                }
                Self {
                    fallback_reason: Some(reason),
                    ..Self::cpu()
                }
            }
        };
        device.with_precision(preference.precision)
    }

    fn cuda(index: usize) -> Self {
        // cuDNN tries its convolution algorithms once per shape and keeps the fastest: live
        // and offline frames keep one size, so the search is paid once (at warm-up)
        tch::Cuda::cudnn_set_benchmark(true);
        Self {
            device: Device::Cuda(index),
            kind: Kind::Half,
            channels_last: true,
            fallback_reason: None,
        }
    }

    /// bf16 keeps 8 significant bits: enough for 8-bit video, not for 10-bit samples.
    pub fn is_bf16(&self) -> bool {
        self.kind == Kind::BFloat16
    }

    pub fn is_cuda(&self) -> bool {
        self.device.is_cuda()
    }

    /// Short label for tables and logs, e.g. `cuda:0 fp16` or `cpu fp32` (`-nchw` appended when
    /// not channels-last).
    pub fn label(&self) -> String {
        let device = match self.device {
            Device::Cuda(i) => format!("cuda:{i}"),
            Device::Mps => "mps".into(),
            Device::Vulkan => "vulkan".into(),
            _ => "cpu".into(),
        };
        let precision = match self.kind {
            Kind::Half => "fp16",
            Kind::BFloat16 => "bf16",
            _ => "fp32",
        };
        let layout = if self.channels_last { "" } else { "-nchw" };
        format!("{device} {precision}{layout}")
    }

    /// `t` in this device's memory layout (a 4-D tensor in NHWC order when channels-last; the
    /// same values and shape either way).
    pub fn in_layout(&self, t: &Tensor) -> Tensor {
        if self.channels_last && t.dim() == 4 {
            t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
        } else {
            t.shallow_clone()
        }
    }
}
