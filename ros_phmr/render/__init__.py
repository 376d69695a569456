"""Software rendering (numpy, CPU, no GL): rasteriser, Lambert shading, overlays."""
from .rasterizer import Fragments, rasterize
from .renderer import PALETTE, RenderResult, overlay_meshes, render_meshes
from .shading import lambert_intensity, vertex_normals

__all__ = ["Fragments", "rasterize", "PALETTE", "RenderResult", "overlay_meshes", "render_meshes",
           "lambert_intensity", "vertex_normals"]
