//! Video views on the GPU: a frame's Y, U and V planes are uploaded as three R8 textures (only
//! when a new frame arrives) and a WGSL shader converts them to RGB while drawing, with the
//! frame's own matrix (BT.601/709) and range. A 4K frame costs a 12 MB upload and no CPU
//! conversion. Views sample a sub-rectangle (zoom/pan) with linear or nearest filtering.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use eframe::egui;
use egui_wgpu::wgpu;

use stronglive_engine::frame::{ColorMatrix, ColorRange, YuvFrame};

/// Which texture set a view draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoSlot {
    LiveInput,
    LiveOutput,
    PreviewBicubic,
    PreviewModel,
}

/// What part of the frame a view shows, in normalised frame coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UvRect {
    pub min: egui::Vec2,
    pub max: egui::Vec2,
}

impl UvRect {
    pub const FULL: UvRect = UvRect {
        min: egui::Vec2::ZERO,
        max: egui::Vec2::splat(1.0),
    };
}

const SHADER: &str = r#"
struct Params {
    uv: vec4<f32>,      // u0 v0 u1 v1
    levels: vec4<f32>,  // y offset, y scale, chroma offset, chroma scale
    matrix: vec4<f32>,  // R += rv*Cr; G -= gu*Cb + gv*Cr; B += bu*Cb
    flags: vec4<f32>,   // x: 1 when the target is sRGB (write linear values)
};
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var plane_y: texture_2d<f32>;
@group(0) @binding(2) var plane_u: texture_2d<f32>;
@group(0) @binding(3) var plane_v: texture_2d<f32>;
@group(0) @binding(4) var planes: sampler;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    var corners = array<vec2<f32>, 6>(
        vec2(0.0, 0.0), vec2(1.0, 0.0), vec2(0.0, 1.0),
        vec2(0.0, 1.0), vec2(1.0, 0.0), vec2(1.0, 1.0));
    let c = corners[index];
    var out: VertexOut;
    out.position = vec4(c.x * 2.0 - 1.0, 1.0 - c.y * 2.0, 0.0, 1.0);
    out.uv = mix(params.uv.xy, params.uv.zw, c);
    return out;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    if (any(in.uv < vec2(0.0)) || any(in.uv > vec2(1.0))) {
        discard;
    }
    let y = (textureSample(plane_y, planes, in.uv).r - params.levels.x) * params.levels.y;
    let cb = (textureSample(plane_u, planes, in.uv).r - params.levels.z) * params.levels.w;
    let cr = (textureSample(plane_v, planes, in.uv).r - params.levels.z) * params.levels.w;
    var rgb = clamp(vec3(
        y + params.matrix.x * cr,
        y - params.matrix.y * cb - params.matrix.z * cr,
        y + params.matrix.w * cb), vec3(0.0), vec3(1.0));
    if (params.flags.x > 0.5) {
        rgb = pow(rgb, vec3(2.2));
    }
    return vec4(rgb, 1.0);
}
"#;

#[repr(C)]
#[derive(Clone, Copy)]
struct Params {
    uv: [f32; 4],
    levels: [f32; 4],
    matrix: [f32; 4],
    flags: [f32; 4],
}

impl Params {
    fn bytes(&self) -> Vec<u8> {
        [self.uv, self.levels, self.matrix, self.flags]
            .iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }
}

/// Y'CbCr -> R'G'B' constants for a frame's tags.
fn color_params(frame_color: stronglive_engine::frame::ColorInfo) -> ([f32; 4], [f32; 4]) {
    let levels = match frame_color.range {
        ColorRange::Limited => [16.0 / 255.0, 255.0 / 219.0, 128.0 / 255.0, 255.0 / 224.0],
        ColorRange::Full => [0.0, 1.0, 128.0 / 255.0, 1.0],
    };
    let matrix = match frame_color.matrix {
        ColorMatrix::Bt601 => [1.402, 0.344_136, 0.714_136, 1.772],
        ColorMatrix::Bt709 => [1.5748, 0.187_324, 0.468_124, 1.8556],
        ColorMatrix::Bt2020 => [1.4746, 0.164_553, 0.571_353, 1.8814],
    };
    (levels, matrix)
}

struct SlotTextures {
    size: (u32, u32),
    planes: [wgpu::Texture; 3],
    params: wgpu::Buffer,
    linear: wgpu::BindGroup,
    nearest: wgpu::BindGroup,
    sequence: u64,
    color: stronglive_engine::frame::ColorInfo,
}

/// Pipeline and per-slot textures, kept in egui-wgpu's callback resources.
pub struct VideoRenderer {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    linear: wgpu::Sampler,
    nearest: wgpu::Sampler,
    srgb_target: bool,
    slots: HashMap<VideoSlot, SlotTextures>,
}

/// Register the video pipeline with the window's renderer (once, at start-up).
pub fn install(render_state: &egui_wgpu::RenderState) {
    let device = &render_state.device;
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("yuv_video"),
        source: wgpu::ShaderSource::Wgsl(SHADER.into()),
    });
    let layout = bind_group_layout(device);
    let pipeline = render_pipeline(device, &module, &layout, render_state.target_format);
    let sampler = |filter| {
        device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("yuv_video"),
            mag_filter: filter,
            min_filter: wgpu::FilterMode::Linear,
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            ..Default::default()
        })
    };
    let renderer = VideoRenderer {
        pipeline,
        layout,
        linear: sampler(wgpu::FilterMode::Linear),
        nearest: sampler(wgpu::FilterMode::Nearest),
        srgb_target: render_state.target_format.is_srgb(),
        slots: HashMap::new(),
    };
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(renderer);
}

/// The shader's bindings: the parameters, the Y, U and V planes, and the sampler.
fn bind_group_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    let texture_entry = |binding| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture {
            multisampled: false,
            sample_type: wgpu::TextureSampleType::Float { filterable: true },
            view_dimension: wgpu::TextureViewDimension::D2,
        },
        count: None,
    };
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("yuv_video"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX | wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: NonZeroU64::new(std::mem::size_of::<Params>() as u64),
                },
                count: None,
            },
            texture_entry(1),
            texture_entry(2),
            texture_entry(3),
            wgpu::BindGroupLayoutEntry {
                binding: 4,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                count: None,
            },
        ],
    })
}

/// The YUV -> RGB pipeline drawing one quad into `target_format`.
fn render_pipeline(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    layout: &wgpu::BindGroupLayout,
    target_format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("yuv_video"),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("yuv_video"),
        layout: Some(&pipeline_layout),
        vertex: wgpu::VertexState {
            module,
            entry_point: Some("vs_main"),
            buffers: &[],
            compilation_options: wgpu::PipelineCompilationOptions::default(),
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module,
            entry_point: Some("fs_main"),
            targets: &[Some(wgpu::ColorTargetState {
                format: target_format,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })],
            compilation_options: wgpu::PipelineCompilationOptions::default(),
        }),
        multiview_mask: None,
        cache: None,
    })
}

impl VideoRenderer {
    fn ensure_slot(&mut self, device: &wgpu::Device, slot: VideoSlot, size: (u32, u32)) {
        if self.slots.get(&slot).is_some_and(|s| s.size == size) {
            return;
        }
        let (cw, ch) = YuvFrame::chroma_size(size.0, size.1);
        let plane = |w: u32, h: u32| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some("yuv_plane"),
                size: wgpu::Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::R8Unorm,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        };
        let planes = [plane(size.0, size.1), plane(cw, ch), plane(cw, ch)];
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("yuv_params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let views: Vec<wgpu::TextureView> = planes
            .iter()
            .map(|t| t.create_view(&wgpu::TextureViewDescriptor::default()))
            .collect();
        let group = |sampler: &wgpu::Sampler| {
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("yuv_video"),
                layout: &self.layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: params.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::TextureView(&views[0]),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: wgpu::BindingResource::TextureView(&views[1]),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: wgpu::BindingResource::TextureView(&views[2]),
                    },
                    wgpu::BindGroupEntry {
                        binding: 4,
                        resource: wgpu::BindingResource::Sampler(sampler),
                    },
                ],
            })
        };
        let (linear, nearest) = (group(&self.linear), group(&self.nearest));
        self.slots.insert(
            slot,
            SlotTextures {
                size,
                planes,
                params,
                linear,
                nearest,
                sequence: u64::MAX,
                color: stronglive_engine::frame::ColorInfo::default_for_height(size.1),
            },
        );
    }
}

/// One view's draw call. `frame` is uploaded when its `sequence` differs from the last upload
/// to this slot; otherwise the textures already there are drawn.
pub struct VideoCallback {
    pub slot: VideoSlot,
    pub frame: Option<(Arc<YuvFrame>, u64)>,
    pub uv: UvRect,
    pub nearest: bool,
}

impl egui_wgpu::CallbackTrait for VideoCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(renderer) = resources.get_mut::<VideoRenderer>() else {
            return Vec::new();
        };
        if let Some((frame, sequence)) = &self.frame {
            renderer.ensure_slot(device, self.slot, (frame.width, frame.height));
            if let Some(slot) = renderer.slots.get_mut(&self.slot) {
                if slot.sequence != *sequence {
                    let (cw, ch) = YuvFrame::chroma_size(frame.width, frame.height);
                    let sizes = [(frame.width, frame.height), (cw, ch), (cw, ch)];
                    for ((texture, data), (w, h)) in slot
                        .planes
                        .iter()
                        .zip([&frame.y, &frame.u, &frame.v])
                        .zip(sizes)
                    {
                        queue.write_texture(
                            wgpu::TexelCopyTextureInfo {
                                texture,
                                mip_level: 0,
                                origin: wgpu::Origin3d::ZERO,
                                aspect: wgpu::TextureAspect::All,
                            },
                            data,
                            wgpu::TexelCopyBufferLayout {
                                offset: 0,
                                bytes_per_row: Some(w),
                                rows_per_image: Some(h),
                            },
                            wgpu::Extent3d {
                                width: w,
                                height: h,
                                depth_or_array_layers: 1,
                            },
                        );
                    }
                    slot.sequence = *sequence;
                    slot.color = frame.color;
                }
            }
        }
        let srgb = renderer.srgb_target;
        if let Some(slot) = renderer.slots.get(&self.slot) {
            let (levels, matrix) = color_params(slot.color);
            let params = Params {
                uv: [self.uv.min.x, self.uv.min.y, self.uv.max.x, self.uv.max.y],
                levels,
                matrix,
                flags: [f32::from(u8::from(srgb)), 0.0, 0.0, 0.0],
            };
            queue.write_buffer(&slot.params, 0, &params.bytes());
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        let Some(renderer) = resources.get::<VideoRenderer>() else {
            return;
        };
        let Some(slot) = renderer.slots.get(&self.slot) else {
            return;
        };
        render_pass.set_pipeline(&renderer.pipeline);
        render_pass.set_bind_group(
            0,
            if self.nearest {
                &slot.nearest
            } else {
                &slot.linear
            },
            &[],
        );
        render_pass.draw(0..6, 0..1);
    }
}

/// Paint `slot` into `rect` (clipped to `clip`), uploading `frame` if it is new.
pub fn paint_video(
    painter: &egui::Painter,
    rect: egui::Rect,
    clip: egui::Rect,
    callback: VideoCallback,
) {
    painter
        .with_clip_rect(clip)
        .add(egui_wgpu::Callback::new_paint_callback(rect, callback));
}
